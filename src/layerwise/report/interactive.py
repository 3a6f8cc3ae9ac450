"""Data of the report's interactive charts: every curve and every layer's series of every run,
binned to at most ``MAX_POINTS`` steps and rounded to 4 significant digits, as one JSON object
the inline script (``charts.js``) draws with hover, zoom and run/layer toggles."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib import resources

import numpy as np

from layerwise.report.data import RunData

MAX_POINTS = 240


def payload(data: Sequence[RunData], metrics: Sequence[str]) -> dict:
    """``{"runs": [...], "scalars": {name: [series]}, "layers": {metric: {"layers": [...],
    "series": [series]}}}``; a series is ``{"run", "layer", "x", "y"}`` (NaN as null)."""
    scalars: dict[str, list] = {}
    for run in data:
        for name, (steps, values) in run.scalars.items():
            scalars.setdefault(name, []).append(_series(run.name, "", steps, values))
    layers: dict[str, dict] = {}
    for metric in metrics:
        order: list[str] = []
        series = []
        for run in data:
            mat = run.matrices.get(metric)
            if mat is None:
                continue
            order += [name for name in mat.layers if name not in order]
            series += [_series(run.name, name, mat.steps, mat.values[i]) for i, name in enumerate(mat.layers)]
        layers[metric] = {"layers": order, "series": series}
    return {"runs": [r.name for r in data], "scalars": scalars, "layers": layers}


def to_script_json(obj: dict) -> str:
    """JSON safe inside ``<script type="application/json">`` (no closing tag can appear)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def script() -> str:
    """The chart code, inlined into the report (written for layerwise; no external library)."""
    return resources.files("layerwise.report").joinpath("charts.js").read_text(encoding="utf-8")


def _series(run: str, layer: str, steps: np.ndarray, values: np.ndarray) -> dict:
    x, y = _bin(np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64))
    return {"run": run, "layer": layer, "x": [int(v) for v in x], "y": [_round(v) for v in y]}


def _bin(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_POINTS points: the mean of the finite values in each bin of consecutive steps
    (a bin with none stays NaN, so a gap stays visible), at the bin's first step."""
    if steps.size <= MAX_POINTS:
        return steps, values
    edges = np.linspace(0, steps.size, MAX_POINTS + 1).astype(int)
    xs, ys = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        chunk = values[lo:hi]
        good = chunk[np.isfinite(chunk)]
        xs.append(steps[lo])
        ys.append(good.mean() if good.size else math.nan)
    return np.array(xs), np.array(ys)


def _round(v: float) -> float | None:
    if not math.isfinite(v):
        return None
    return float(f"{v:.4g}")
