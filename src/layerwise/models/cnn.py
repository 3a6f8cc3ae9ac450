"""CNN: a small convolutional classifier for 1-D signals (mnist1d) and small images.

Each block is Conv(k=3, padding 1, no bias) -> BatchNorm -> ReLU -> MaxPool(2)
(``blocks.i.conv``, ``.bn``, ``.act``, ``.pool``); a block pools only while the spatial size
stays >= 2 after pooling, so 8x8 digits never shrink below 2x2. Global average pooling and a
linear ``head`` follow. Batch normalisation: Ioffe & Szegedy, 2015, arXiv 1502.03167.

``dim=1`` takes (N, L) or (N, C, L); ``dim=2`` takes (N, H, W) or (N, C, H, W). When
``image_size`` (the input length or side) is given, pooling is fixed at construction (a block
that may not pool gets ``nn.Identity``); otherwise each block decides from its input.

Example::

    >>> import torch
    >>> from layerwise.models import CNN
    >>> CNN(dim=1)(torch.randn(3, 40)).shape
    torch.Size([3, 10])
    >>> CNN(image_size=8)(torch.randn(3, 1, 8, 8)).shape
    torch.Size([3, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from layerwise._registry import register

_LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
}


class ConvBlock(nn.Module):
    """Conv -> BatchNorm -> ReLU -> MaxPool(2); ``pool=None`` pools when the input allows."""

    def __init__(self, in_ch: int, out_ch: int, *, dim: int, pool: bool | None) -> None:
        super().__init__()
        conv, bn, maxpool = _LAYERS[dim]
        self.conv = conv(in_ch, out_ch, kernel_size=3, padding=1, bias=False)
        self.bn = bn(out_ch)
        self.act = nn.ReLU()
        self.pool = maxpool(2) if pool is not False else nn.Identity()
        self.auto_pool = pool is None

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn(self.conv(x)))
        if self.auto_pool and min(x.shape[2:]) < 4:
            return x
        return self.pool(x)


@register("cnn", kind="model", paper="-")
class CNN(nn.Module):
    """Convolutional classifier returning logits (N, num_classes)."""

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: Sequence[int] = (16, 32),
        dim: int = 2,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if dim not in _LAYERS:
            raise ValueError(f"dim must be 1 (signals) or 2 (images), got {dim}")
        if not channels:
            raise ValueError("channels must name at least one block width")
        self.in_channels = in_channels
        self.dim = dim
        pools = self._plan(len(channels), image_size)
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            ConvBlock(a, b, dim=dim, pool=p) for a, b, p in zip(widths[:-1], widths[1:], pools, strict=True)
        )
        self.head = nn.Linear(widths[-1], num_classes)

    @staticmethod
    def _plan(n: int, size: int | None) -> list[bool | None]:
        if size is None:
            return [None] * n
        plan: list[bool | None] = []
        for _ in range(n):
            plan.append(size >= 4)
            size = size // 2 if size >= 4 else size
        return plan

    def _check(self, x: Tensor) -> Tensor:
        if x.dim() == self.dim + 1 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.dim() != self.dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"CNN(dim={self.dim}, in_channels={self.in_channels}) got input of shape {tuple(x.shape)}"
            )
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self._check(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(dim=tuple(range(2, x.dim()))))
