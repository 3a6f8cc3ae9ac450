"""Numeric decisions behind the figures: colour scale, axis scale, step binning, profile steps.

Pure functions of arrays (numbers in, numbers out), so they are tested without drawing anything.
Non-finite values (NaN, inf) never take part in a decision; the figures draw them as gaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_DECADES = 2.0  # a colour or axis scale turns logarithmic beyond this many decades
MAX_COLUMNS = 400  # heatmaps with more step columns are binned


@dataclass(frozen=True)
class Scale:
    """How values map to colours.

    ``kind`` is ``"linear"``, ``"log"`` (positive values spanning more than :data:`MAX_DECADES`),
    ``"diverging"`` (values of both signs: symmetric about 0) or ``"symlog"`` (both signs over
    many decades; linear within ``linthresh`` of 0).
    """

    kind: str
    vmin: float
    vmax: float
    linthresh: float | None = None

    @property
    def diverging(self) -> bool:
        return self.kind in ("diverging", "symlog")


def finite(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """The finite entries of ``values``, flattened, as float64."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def decades(values: np.ndarray | Sequence[float]) -> float:
    """log10(max / min) of the finite positive values (0 when fewer than two)."""
    pos = finite(values)
    pos = pos[pos > 0]
    if pos.size < 2:
        return 0.0
    return float(np.log10(pos.max() / pos.min()))


def use_log(values: np.ndarray | Sequence[float], max_decades: float = MAX_DECADES) -> bool:
    """True when the values are non-negative and their positive part spans > ``max_decades``."""
    v = finite(values)
    return bool(v.size and v.min() >= 0 and decades(v) > max_decades)


def choose_scale(values: np.ndarray | Sequence[float], max_decades: float = MAX_DECADES) -> Scale:
    """The colour scale for a heatmap of ``values`` (see :class:`Scale`)."""
    v = finite(values)
    if v.size == 0:
        return Scale("linear", 0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if lo < 0 < hi:
        bound = max(-lo, hi)
        nonzero = np.abs(v[v != 0])
        if np.log10(bound / nonzero.min()) > max_decades:
            return Scale("symlog", -bound, bound, linthresh=float(max(nonzero.min(), bound * 1e-6)))
        return Scale("diverging", -bound, bound)
    if lo >= 0 and decades(v) > max_decades:
        pos = v[v > 0]
        return Scale("log", float(pos.min()), float(pos.max()))
    if lo == hi:
        pad = abs(lo) * 0.5 or 0.5
        return Scale("linear", lo - pad, hi + pad)
    return Scale("linear", lo, hi)


def downsample(steps: np.ndarray, values: np.ndarray,
               max_columns: int = MAX_COLUMNS) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin the step columns of ``values`` (layers x steps) to at most ``max_columns``.

    Each bin holds ``factor`` consecutive columns and keeps the mean of its finite values (NaN
    when it has none) and its first step. Returns ``(steps, values, factor)``; ``factor`` is 1
    when nothing was binned.
    """
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    n = steps.size
    if n <= max_columns:
        return steps, values, 1
    factor = math.ceil(n / max_columns)
    bins = math.ceil(n / factor)
    padded = np.full((values.shape[0], bins * factor), np.nan)
    padded[:, :n] = values
    cells = padded.reshape(values.shape[0], bins, factor)
    ok = np.isfinite(cells)
    count = ok.sum(axis=2)
    total = np.where(ok, cells, 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return steps[::factor], means, factor


def profile_columns(steps: np.ndarray, wanted: Sequence[int] | None = None) -> list[int]:
    """Column indices of the steps to draw as profiles.

    Default: the first, middle and last logged step. With ``wanted``, the logged step nearest to
    each wanted step (duplicates dropped, order kept).
    """
    steps = np.asarray(steps)
    n = steps.size
    if n == 0:
        return []
    if wanted is None:
        picks = [0, (n - 1) // 2, n - 1]
    else:
        picks = [int(np.argmin(np.abs(steps - int(w)))) for w in wanted]
    return list(dict.fromkeys(picks))
