"""The report's static figures: per-layer metric panels and run comparisons (curves are interactive).

Each function returns a :class:`matplotlib.figure.Figure` (see :mod:`layerwise.report.render`
for turning it into an image). Axes are placed by fixed margins in inches sized from the tick
labels: a layout engine would cost several times the drawing itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from layerwise.report.axes import draw_heatmap, draw_lines, log_axis, symlog_ticks, tick_labels
from layerwise.report.render import add_axes, new_figure, pin_labels, place, plot_text, text_width
from layerwise.report.scale import Scale, use_log

HEAT_W, PROF_W = 4.6, 3.3  # plot widths (inches)
TOP = 0.3  # room for a title
HEAT_BOTTOM = 0.42  # step tick labels and the "step" label
CBAR_GAP, CBAR_W, CBAR_ROOM = 0.12, 0.12, 0.5  # colour bar: gap, width, room for its tick labels
PROF_LEFT, RIGHT = 0.78, 0.15


@dataclass(frozen=True)
class PanelRow:
    """One run's row of a metric panel: heatmap data (possibly binned) and raw profile data."""

    run: str
    layers: list[str]
    depth: np.ndarray
    heat_steps: np.ndarray
    heat_values: np.ndarray
    steps: np.ndarray
    values: np.ndarray
    columns: list[int]


def _plot_height(n_layers: int) -> float:
    return float(np.clip(0.9 + 0.16 * n_layers, 1.4, 6.5))


def _profile_bottom(layers: Sequence[str]) -> float:
    return 0.42 + 0.72 * text_width(tick_labels(layers)[1])  # rotated tick labels, then the label


def layer_panels(rows: Sequence[PanelRow], scale: Scale, *, metric: str) -> Figure:
    """One row per run: the layer x step heatmap on ``scale`` (one colour bar for all rows) and,
    beside it, the value against layer depth at the row's chosen step columns."""
    left = 0.2 + text_width([lab for r in rows for lab in tick_labels(r.layers)[1]])
    heights = [_plot_height(len(r.layers)) for r in rows]
    shared = all(r.layers == rows[0].layers for r in rows)  # then only the last row names layers
    named = [not shared or i == len(rows) - 1 for i in range(len(rows))]
    bottoms = [max(HEAT_BOTTOM, _profile_bottom(r.layers)) if n else HEAT_BOTTOM
               for r, n in zip(rows, named, strict=True)]
    prof_x = left + HEAT_W + CBAR_GAP + CBAR_W + CBAR_ROOM + PROF_LEFT
    fig = new_figure(prof_x + PROF_W + RIGHT, sum(TOP + h + b for h, b in zip(heights, bottoms, strict=True)))
    log = use_log(np.concatenate([r.values[:, r.columns].ravel() for r in rows]))
    y, top_edge, image = fig.get_size_inches()[1], None, None
    for row, h, b, name_layers in zip(rows, heights, bottoms, named, strict=True):
        y -= TOP + h
        top_edge = y + h if top_edge is None else top_edge
        hx = place(fig, left, y, HEAT_W, h)
        image = draw_heatmap(hx, row.heat_values, row.heat_steps, row.layers, scale)
        hx.set_title(plot_text(f"{metric} \u2014 {row.run}", 70))
        pin_labels(hx, "step", y_in=y - HEAT_BOTTOM + 0.02)
        px = place(fig, prof_x, y, PROF_W, h)
        colours = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.85, max(len(row.columns), 1)))
        lines = [(f"step {int(row.steps[c])}", row.depth, row.values[:, c]) for c in row.columns]
        draw_lines(px, lines, list(row.depth), row.layers, log, colours, named=name_layers)
        px.set_title(plot_text(f"by layer \u2014 {row.run}", 60))
        pin_labels(px, "layer (depth)" if name_layers else "", plot_text(metric, 40), y_in=y - b + 0.02,
                   x_in=prof_x - PROF_LEFT + 0.05)
        y -= b
    cax = place(fig, left + HEAT_W + CBAR_GAP, y + bottoms[-1], CBAR_W, top_edge - y - bottoms[-1])
    bar = fig.colorbar(image, cax=cax)
    if scale.kind in ("log", "symlog"):
        if scale.kind == "symlog":
            bar.set_ticks(symlog_ticks(scale))
        log_axis(cax.yaxis)
        cax.minorticks_off()
    return fig


def comparison(lines: Sequence[tuple[str, np.ndarray, np.ndarray]], layers: Sequence[str], *,
               title: str, label: str) -> Figure:
    """Per-layer profiles of several runs: ``lines`` holds ``(legend label, depth, values)``."""
    log = use_log(np.concatenate([v for _, _, v in lines])) if lines else False
    fig = new_figure(5.2, TOP + _plot_height(len(layers)) + _profile_bottom(layers))
    ax = add_axes(fig, left=PROF_LEFT, bottom=_profile_bottom(layers), top=TOP)
    draw_lines(ax, [(plot_text(n, 40), d, v) for n, d, v in lines], list(range(len(layers))), layers, log)
    pin_labels(ax, "layer (depth)", plot_text(label, 40))
    ax.set_title(plot_text(title, 70))
    return fig
