"""Axes-level drawing shared by the figures: heatmap cells, profile lines, ticks and scales.

Everything here draws into a given :class:`matplotlib.axes.Axes`; the figures module lays
axes out. Tick labels avoid mathtext (parsing ``$10^{-3}$`` costs more than the drawing) and
data text goes through :func:`~layerwise.report.render.plot_text` so it is never interpreted.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, Normalize, SymLogNorm
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from layerwise.report.render import MISSING, plot_text
from layerwise.report.scale import Scale

MAX_NAMED_TICKS = 24  # beyond this many layers, only every few layers gets a tick label
TICK_CHARS = 28  # layer names longer than this are shortened in the middle on ticks


def clean(values: np.ndarray, log: bool = False) -> np.ndarray:
    """Float copy with non-finite entries (and non-positive ones on a log axis) set to NaN."""
    out = np.array(values, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    if log:
        out[out <= 0] = np.nan
    return out


def log_label(value: float, _pos: object = None) -> str:
    """Plain-text tick label for a log axis: ``0.01``, ``1e-5``, ``3e6``."""
    if value == 0 or not np.isfinite(value):
        return "0" if value == 0 else ""
    if abs(np.log10(abs(value))) < 3:
        return f"{value:g}"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def log_axis(axis) -> None:
    """Plain-text labels on a log (or symlog) axis, no minor labels."""
    axis.set_major_formatter(FuncFormatter(log_label))
    axis.set_minor_formatter(NullFormatter())


def norm(scale: Scale) -> Normalize:
    """The matplotlib normalisation for ``scale``."""
    if scale.kind == "log":
        return LogNorm(vmin=scale.vmin, vmax=scale.vmax, clip=True)
    if scale.kind == "symlog":
        return SymLogNorm(linthresh=scale.linthresh or 1e-12, vmin=scale.vmin, vmax=scale.vmax, base=10)
    return Normalize(vmin=scale.vmin, vmax=scale.vmax)


def symlog_ticks(scale: Scale, per_side: int = 3) -> list[float]:
    """0 and at most ``per_side`` decades on each side of a symmetric-log colour bar."""
    top = np.floor(np.log10(scale.vmax))
    low = np.ceil(np.log10(scale.linthresh or scale.vmax))
    exps = np.unique(np.linspace(top, min(low, top), per_side).round())
    pos = [float(10.0 ** e) for e in exps]
    return sorted([-p for p in pos] + [0.0] + pos)


def step_ticks(ax, steps: np.ndarray, count: int = 6) -> None:
    """Ticks on heatmap columns at round step numbers (labelled with the logged step)."""
    nice = MaxNLocator(count, integer=True).tick_values(steps[0], steps[-1])
    nice = nice[(nice >= steps[0]) & (nice <= steps[-1])]
    cols = np.unique(np.clip(np.searchsorted(steps, nice), 0, len(steps) - 1))
    ax.set_xticks(cols, [str(int(steps[c])) for c in cols])


def tick_labels(names: Sequence[str]) -> tuple[list[int], list[str]]:
    """Which layers get a tick label (all when few) and the labels, made plot-safe."""
    n = len(names)
    picks = range(n) if n <= MAX_NAMED_TICKS else np.unique(
        np.linspace(0, n - 1, MAX_NAMED_TICKS // 2).round().astype(int))
    return [int(i) for i in picks], [plot_text(names[i], TICK_CHARS) for i in picks]


def draw_heatmap(ax, values: np.ndarray, steps: np.ndarray, layers: Sequence[str], scale: Scale):
    """Layers (rows, input at the top) by step columns; returns the image for a colour bar."""
    data = clean(values)
    if scale.kind == "log":
        data = np.where(data <= 0, scale.vmin, data)  # zeros sit at the floor of the scale
    cmap = matplotlib.colormaps["RdBu_r" if scale.diverging else "viridis"].with_extremes(bad=MISSING)
    image = ax.imshow(np.ma.masked_invalid(data), aspect="auto", interpolation="nearest", cmap=cmap,
                      norm=norm(scale))
    picks, labels = tick_labels(layers)
    ax.set_yticks(picks, labels)
    step_ticks(ax, steps)
    return image


def draw_lines(ax, lines: Sequence[tuple[str, np.ndarray, np.ndarray]], positions: Sequence[float],
               layers: Sequence[str], log: bool, colours: Sequence | None = None, named: bool = True) -> None:
    """Value against layer depth, one ``(label, x, y)`` line each (NaN/inf leave gaps); the
    layers named ``layers`` sit at x = ``positions`` (ticks without names unless ``named``)."""
    if log:
        ax.set_yscale("log")
        log_axis(ax.yaxis)
        ax.minorticks_off()
    ax.grid(True, alpha=0.3, linewidth=0.5)
    for i, (label, x, y) in enumerate(lines):
        ax.plot(x, clean(y, log), marker="o", markersize=2.5, linewidth=1.2, label=label,
                color=None if colours is None else colours[i])
    picks, labels = tick_labels(layers)
    if named:
        ax.set_xticks([positions[i] for i in picks], labels, rotation=45, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks([positions[i] for i in picks], [])
    if lines:
        ax.legend(loc="best", frameon=False)
