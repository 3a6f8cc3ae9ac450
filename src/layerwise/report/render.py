"""Turn matplotlib figures into self-contained ``data:`` URIs, and make data safe as plot text.

Figures are built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas: no pyplot
state, nothing left open, the user's backend untouched. PNG keeps the HTML free of any URL (an
SVG carries ``http://www.w3.org`` namespaces) and opens in every browser offline.
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

DPI = 96
STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.titley": 1.0,  # a fixed title position: the automatic one measures every tick label
    "axes.titlepad": 4.0,
    "text.usetex": False,
    "svg.fonttype": "path",
}
MISSING = "#b8b8b8"  # colour of NaN / inf / unlogged cells in heatmaps


@dataclass(frozen=True)
class FigureBlock:
    """A rendered figure as the template needs it."""

    fid: str
    kind: str  # "curve", "heatmap", "profile", "comparison" or "section"
    caption: str
    uri: str
    width: int
    height: int
    metric: str = ""
    run: str = ""


_ids = itertools.count()


@contextmanager
def style():
    """The report's matplotlib style, scoped to a ``with`` block."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure with its own Agg canvas (never registered with pyplot)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def text_width(labels: Iterable[object], size: float = 7.0) -> float:
    """Rough width in inches of the longest label at font ``size`` (points)."""
    return max((len(str(s)) for s in labels), default=0) * size * 0.56 / 72


def add_axes(fig: Figure, left: float, bottom: float, right: float = 0.15, top: float = 0.32):
    """Axes placed by margins in inches (a fixed layout: far cheaper than a layout engine)."""
    width, height = fig.get_size_inches()
    left, right = min(left, width * 0.45), min(right, width * 0.3)
    bottom, top = min(bottom, height * 0.5), min(top, height * 0.25)
    return fig.add_axes((left / width, bottom / height, 1 - (left + right) / width,
                         1 - (bottom + top) / height))


def place(fig: Figure, x: float, y: float, width: float, height: float):
    """Axes at ``(x, y)`` inches from the figure's bottom-left corner, ``width`` x ``height`` inches."""
    fw, fh = fig.get_size_inches()
    return fig.add_axes((x / fw, y / fh, width / fw, height / fh))


def pin_labels(ax, xlabel: str = "", ylabel: str = "", *, y_in: float = 0.03, x_in: float = 0.03,
               right: bool = False) -> None:
    """Axis labels at fixed places: the x label's bottom ``y_in`` inches above the figure's bottom
    edge, the y label's left edge (right edge if ``right``) ``x_in`` inches from the left edge.

    Pinned labels skip matplotlib's automatic placement, which measures every tick label again.
    """
    fig = ax.figure
    if xlabel:
        ax.set_xlabel(xlabel, va="bottom")
        ax.xaxis.set_label_coords(0.5, y_in, transform=blended_transform_factory(ax.transAxes,
                                                                                fig.dpi_scale_trans))
    if ylabel:
        ax.set_ylabel(ylabel, ha="right" if right else "left", va="center", rotation_mode="default")
        ax.yaxis.set_label_coords(x_in, 0.5, transform=blended_transform_factory(fig.dpi_scale_trans,
                                                                                ax.transAxes))


def png_uri(fig: Figure, *, tight: bool = False) -> tuple[str, int, int]:
    """``(data URI, width px, height px)`` of ``fig`` as a PNG."""
    buf = io.BytesIO()
    extra = {"bbox_inches": "tight", "pad_inches": 0.05} if tight else {}
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, **extra)
    data = buf.getvalue()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), width, height


def block(fig: Figure, kind: str, caption: str, *, metric: str = "", run: str = "",
          tight: bool = False) -> FigureBlock:
    """Render ``fig`` into a :class:`FigureBlock` with a fresh id."""
    uri, width, height = png_uri(fig, tight=tight)
    return FigureBlock(fid=f"lw-fig-{next(_ids)}", kind=kind, caption=caption, uri=uri, width=width,
                       height=height, metric=metric, run=run)


def plot_text(text: object, limit: int = 48) -> str:
    """``text`` made inert for matplotlib (no mathtext) and shortened in the middle if long."""
    s = str(text).replace("\n", " ")
    if len(s) > limit:
        keep = (limit - 1) // 2
        s = s[:keep] + "\u2026" + s[-(limit - 1 - keep):]
    return s.replace("$", r"\$")


def fmt(value: object) -> str:
    """A compact, readable number (or the value's text when it is not a number)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)
