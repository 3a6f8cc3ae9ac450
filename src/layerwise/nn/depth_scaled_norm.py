"""DepthScaledNorm: the LayerNorm Scaling (LNS) wrapper, norm(x) / sqrt(layer_index).

The Curse of Depth in Large Language Models (Sun et al., 2025, arXiv 2502.05795): in a Pre-LN
transformer the residual-stream variance grows with depth, so the deep blocks' Jacobians approach
the identity and those blocks contribute little. LNS multiplies the output of every norm inside
block ``l`` (1-indexed) by ``1/sqrt(l)``, which turns the growth from exponential into polynomial.
It adds no parameters. Do not combine it with scaled initialisation of the output projections
(std/sqrt(2L)): the authors' README warns that this removes the benefit.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn import DepthScaledNorm
    >>> norm = DepthScaledNorm(nn.LayerNorm(8), layer_index=4)
    >>> norm.scale
    0.5
    >>> x = torch.randn(2, 8)
    >>> bool(torch.allclose(norm(x), norm.norm(x) / 2))
    True
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from layerwise._registry import register


@register(
    "depth_scaled_norm",
    kind="module",
    paper="The Curse of Depth in Large Language Models (Sun et al., 2025)",
    arxiv="2502.05795",
)
class DepthScaledNorm(nn.Module):
    """Wraps a norm and multiplies its output by ``1/sqrt(layer_index)`` (no parameters added).

    The wrapped norm stays reachable as ``.norm`` and the factor as the float ``.scale``.
    """

    def __init__(self, norm: nn.Module, layer_index: int) -> None:
        super().__init__()
        if int(layer_index) < 1:
            raise ValueError(f"layer_index is 1-indexed and must be >= 1, got {layer_index}")
        self.norm = norm
        self.layer_index = int(layer_index)
        self.scale = 1.0 / math.sqrt(self.layer_index)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x) * self.scale

    def extra_repr(self) -> str:
        return f"layer_index={self.layer_index}, scale={self.scale:.4g}"
