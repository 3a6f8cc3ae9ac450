"""MBConv3d: the 3D mobile inverted bottleneck used as F and G of reversible couplings.

Memory Efficient 3D U-Net with Reversible Mobile Inverted Bottlenecks for Brain Tumor Segmentation
(Pendse, Thangarasa, Chiley, Holmdahl, Hestness, DeCoste, 2021, arXiv 2104.09648). The block is a
depthwise-separable inverted bottleneck:

1. 1x1x1 convolution expanding ``channels`` to ``expand * channels``, norm, activation;
2. ``k x k x k`` depthwise convolution, norm, activation (then optional dropout);
3. 1x1x1 linear projection to ``out_channels``.

Norms: ``"group"`` (GroupNorm, the default: it does not depend on the batch, suits batch size 1
volumes and is exact under the reversible engine's recomputation), ``"batch"`` (BatchNorm3d: its
running statistics are updated twice per step inside a reversible stack) or ``"none"``.
``mbconv3d_stack`` builds the paper's reversible stack: each ``RevCoupling`` gets one MBConv3d as F
and one as G, each acting on half of the channels. Down/upsampling and U-Net skips are not here.

Example::

    >>> import torch
    >>> from layerwise.nn.mbconv3d import MBConv3d, mbconv3d_stack
    >>> MBConv3d(4, expand=2)(torch.randn(1, 4, 6, 6, 6)).shape
    torch.Size([1, 4, 6, 6, 6])
    >>> stack = mbconv3d_stack(8, depth=3)   # 3 couplings, F and G on 4 channels each
    >>> x = torch.randn(1, 8, 6, 6, 6, requires_grad=True)
    >>> stack(x).sum().backward()            # inputs of the 3 couplings are not stored
    >>> x.grad.shape
    torch.Size([1, 8, 6, 6, 6])
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from layerwise._registry import register
from layerwise.nn.activations import make_activation
from layerwise.nn.reversible import RevCoupling, ReversibleSequence

__all__ = ["MBCONV_NORMS", "MBConv3d", "mbconv3d_stack"]

_PENDSE = (
    "Memory Efficient 3D U-Net with Reversible Mobile Inverted Bottlenecks for Brain Tumor "
    "Segmentation (Pendse et al., 2021)"
)
MBCONV_NORMS = ("group", "batch", "none")


def _norm3d(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use one of {', '.join(MBCONV_NORMS)}")


@register("mbconv3d", kind="module", paper=_PENDSE, arxiv="2104.09648")
class MBConv3d(nn.Module):
    """3D inverted bottleneck: 1x1x1 expand, depthwise kxkxk, 1x1x1 project, on (N, C, D, H, W)."""

    def __init__(
        self,
        channels: int,
        expand: int = 4,
        *,
        out_channels: int | None = None,
        kernel_size: int = 3,
        norm: str = "group",
        activation: str = "silu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the volume's shape, got {kernel_size}")
        hidden = channels * expand
        self.channels, self.hidden = channels, hidden
        self.out_channels = channels if out_channels is None else out_channels
        self.expand = nn.Sequential(
            nn.Conv3d(channels, hidden, 1, bias=False), _norm3d(norm, hidden), make_activation(activation)
        )
        self.depthwise = nn.Sequential(
            nn.Conv3d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden, bias=False),
            _norm3d(norm, hidden),
            make_activation(activation),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
        )
        self.project = nn.Conv3d(hidden, self.out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.depthwise(self.expand(x)))

    def extra_repr(self) -> str:
        return f"{self.channels} -> {self.hidden} -> {self.out_channels}"


@register("reversible_mbconv3d", kind="module", paper=_PENDSE, arxiv="2104.09648")
def mbconv3d_stack(
    channels: int, depth: int, *, expand: int = 4, reversible: bool = True, **mbconv_kwargs
) -> ReversibleSequence:
    """``depth`` couplings ``RevCoupling(MBConv3d(c/2), MBConv3d(c/2))`` over ``channels`` (even).

    ``reversible=False`` gives the same blocks run with plain autograd (the memory baseline).
    Extra keyword arguments go to every ``MBConv3d``.
    """
    if channels % 2:
        raise ValueError(f"channels must be even to split into two streams, got {channels}")
    half = channels // 2
    blocks = [
        RevCoupling(MBConv3d(half, expand, **mbconv_kwargs), MBConv3d(half, expand, **mbconv_kwargs))
        for _ in range(depth)
    ]
    return ReversibleSequence(blocks, reversible=reversible)
