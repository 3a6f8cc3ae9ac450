"""RMSNorm: LayerNorm without centring, written here because ``nn.RMSNorm`` needs torch >= 2.4.

Root Mean Square Layer Normalization (Zhang & Sennrich, 2019, arXiv 1910.07467)::

    y = x / sqrt(mean(x**2, dim=-1) + eps) * weight

Example::

    >>> import torch
    >>> from layerwise.nn import RMSNorm
    >>> y = RMSNorm(8)(torch.randn(2, 8))
    >>> bool(torch.allclose(y.pow(2).mean(-1), torch.ones(2), atol=1e-4))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from layerwise._registry import register


@register(
    "rms_norm",
    kind="module",
    paper="Root Mean Square Layer Normalization (Zhang & Sennrich, 2019)",
    arxiv="1910.07467",
)
class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension, with a learned gain."""

    def __init__(self, dim: int, *, eps: float = 1e-6, elementwise_affine: bool = True) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if elementwise_affine else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set the gain to one (the identity map on unit-RMS inputs)."""
        if self.weight is not None:
            nn.init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        # Normalise in float32 so that bf16/fp16 inputs do not lose the mean of squares.
        xf = x.float()
        y = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)
        return y * self.weight if self.weight is not None else y

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}, elementwise_affine={self.weight is not None}"
