"""RevCol: reversible multi-level columns on the shared reversible engine.

Reversible Column Networks (Cai, Zhou, Han, Wang, Li, Zhang, ICLR 2023, arXiv 2212.11696). A column
holds one feature map per level ``l`` (level ``l`` at ``1/2**l`` of the input's resolution). Column
``t`` updates its levels bottom-up::

    c[l]^t = alpha[l]^t * c[l]^(t-1) + Level[l]^t(down(c[l-1]^t) + up(c[l+1]^(t-1)))

with ``c[-1]^t = x`` (the stem's output, fed to every column) and all levels of column 0 equal to
zero. The level function never reads ``c[l]`` itself, so ``c[l]^(t-1) = (c[l]^t - Level(...)) / alpha``
rebuilds the previous column from the current one, top level first. ``alpha`` is learnable per
column, level and channel (init 0.5); its effective value is ``sign(alpha) * max(|alpha|, eps)``
with ``eps = 1e-3`` (as in the official code; ``sign(0) = +1``), since rebuilding divides by it and
its rounding error grows like ``1/|alpha|`` per column. The gradient reaches ``alpha`` straight
through the clamp, so a clamped ``alpha`` can still move away from zero.

Reversible: every column update (each is one ``CouplingStep`` of ``layerwise.nn.reversible``).
Stored for backward: the input ``x`` and the last column (flat in the number of columns).
Not here: the stem, the intermediate heads and decoders of the paper's loss, and drop-path (put it
inside ``block``; the engine replays its RNG).

Example::

    >>> import torch
    >>> from layerwise.nn.revcol import RevColumns
    >>> net = RevColumns((8, 16), n_columns=3)
    >>> levels = net(torch.randn(2, 8, 8, 8, requires_grad=True))
    >>> [tuple(c.shape) for c in levels]
    [(2, 8, 8, 8), (2, 16, 4, 4)]
    >>> sum(c.sum() for c in levels).backward()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.nn.reversible import CouplingStep, apply_steps, invert_steps, reversible_apply

__all__ = ["ClampedScale", "RevColumns"]

_CAI = "Reversible Column Networks (Cai et al., ICLR 2023)"
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class ClampedScale(nn.Module):
    """Learnable per-channel scale with ``|value| >= eps``; ``forward()`` returns shape (1, C, 1, ...)."""

    def __init__(self, channels: int, *, dims: int = 2, init: float = 0.5, eps: float = 1e-3) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), float(init)))
        self.eps, self.shape = eps, (1, channels) + (1,) * dims

    def forward(self) -> Tensor:
        a = self.alpha
        sign = torch.where(a >= 0, 1.0, -1.0).to(a.dtype)
        clamped = sign * a.abs().clamp_min(self.eps)
        return (a + (clamped - a).detach()).view(self.shape)  # value clamped, gradient straight through


def default_block(channels: int, dims: int = 2) -> nn.Module:
    """A small ConvNeXt-like block: depthwise 3^d conv, GroupNorm, 1x1 expand x2, GELU, 1x1 project."""
    conv = _CONV[dims]
    return nn.Sequential(
        conv(channels, channels, 3, padding=1, groups=channels),
        nn.GroupNorm(1, channels),
        conv(channels, 2 * channels, 1),
        nn.GELU(),
        conv(2 * channels, channels, 1),
    )


class _LevelUnit(nn.Module):
    """``Level(down(lower) + up(upper))`` for one level of one column."""

    def __init__(self, block: nn.Module, down: nn.Module, up: nn.Module | None) -> None:
        super().__init__()
        self.block, self.down, self.up = block, down, up

    def forward(self, lower: Tensor, upper: Tensor | None = None) -> Tensor:
        h = self.down(lower)
        return self.block(h if upper is None else h + self.up(upper))


@register("revcol", kind="module", paper=_CAI, arxiv="2212.11696")
class RevColumns(nn.Module):
    """``n_columns`` reversible columns over levels with ``channels[l]`` channels; returns the last column.

    Input: (N, channels[0], *spatial) with every spatial size divisible by ``2**(levels-1)``.
    ``block(c, dims)`` builds each level's function (default ``default_block``).
    """

    def __init__(
        self,
        channels: Sequence[int],
        n_columns: int,
        *,
        dims: int = 2,
        block: Callable[[int, int], nn.Module] = default_block,
        alpha_init: float = 0.5,
        alpha_eps: float = 1e-3,
        reversible: bool = True,
        preserve_rng_state: bool = True,
    ) -> None:
        super().__init__()
        self.channels, self.dims, self.n_columns = tuple(channels), dims, n_columns
        self.reversible, self.preserve_rng_state = reversible, preserve_rng_state
        self.columns = nn.ModuleList(self._column(block, alpha_init, alpha_eps) for _ in range(n_columns))

    def _column(self, block, alpha_init: float, alpha_eps: float) -> nn.ModuleDict:
        conv, ch, top = _CONV[self.dims], self.channels, len(self.channels) - 1
        units, alphas = nn.ModuleList(), nn.ModuleList()
        for lvl, c in enumerate(ch):
            down = (
                nn.Identity()
                if lvl == 0
                else nn.Sequential(conv(ch[lvl - 1], c, 2, stride=2), nn.GroupNorm(1, c))
            )
            up = None
            if lvl < top:
                up = nn.Sequential(conv(ch[lvl + 1], c, 1), nn.GroupNorm(1, c), nn.Upsample(scale_factor=2.0))
            units.append(_LevelUnit(block(c, self.dims), down, up))
            alphas.append(ClampedScale(c, dims=self.dims, init=alpha_init, eps=alpha_eps))
        return nn.ModuleDict({"levels": units, "alpha": alphas})

    def steps(self) -> list[CouplingStep]:
        """All column updates as engine steps on the streams ``(x, c[0], ..., c[L-1])``."""
        top = len(self.channels) - 1
        return [
            CouplingStep(
                col["levels"][lvl], 1 + lvl, (lvl, lvl + 2) if lvl < top else (lvl,), col["alpha"][lvl]
            )
            for col in self.columns
            for lvl in range(top + 1)
        ]

    def initial_streams(self, x: Tensor) -> list[Tensor]:
        """``[x, 0, ..., 0]``: the input and the all-zero column 0."""
        size = 2 ** (len(self.channels) - 1)
        if x.shape[1] != self.channels[0] or any(s % size for s in x.shape[2:]):
            raise ValueError(
                f"expected (N, {self.channels[0]}, ...) with sizes divisible by {size}, got {tuple(x.shape)}"
            )
        zeros = [
            x.new_zeros(x.shape[0], c, *(s // 2**lvl for s in x.shape[2:]))
            for lvl, c in enumerate(self.channels)
        ]
        return [x, *zeros]

    def forward(self, x: Tensor) -> list[Tensor]:
        streams, steps = self.initial_streams(x), self.steps()
        engine = self.reversible and self.training and torch.is_grad_enabled()
        if engine and (x.requires_grad or any(p.requires_grad for p in self.parameters())):
            return reversible_apply(steps, streams, preserve_rng_state=self.preserve_rng_state)[1:]
        return apply_steps(steps, streams)[1:]

    @torch.no_grad()
    def inverse(self, x: Tensor, levels: Sequence[Tensor]) -> list[Tensor]:
        """Column 0 rebuilt from the last column (ideally zeros; the gap measures rounding growth)."""
        return invert_steps(self.steps(), [x, *levels])[1:]
