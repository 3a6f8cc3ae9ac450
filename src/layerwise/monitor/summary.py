"""Numbers from a run's table: per-layer profiles and depth ratios (used by studies and the CLI)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def layer_profile(table: pa.Table, metric: str, *, last_fraction: float = 0.2,
                  layers: list[str] | None = None) -> dict[str, float]:
    """Mean of ``metric`` per layer over the last ``last_fraction`` of its logged steps.

    Layers come in ``layers`` order when given (the Monitor's depth order), else first appearance.
    Non-finite values are ignored; a layer with none finite maps to NaN.
    """
    rows = table.filter(pc.and_(pc.equal(table["metric"], metric), pc.not_equal(table["layer"], "")))
    if rows.num_rows == 0:
        raise KeyError(f"metric {metric!r} has no per-layer rows in this run")
    steps = np.unique(rows["step"].to_numpy())
    cutoff = steps[int(math.floor((1.0 - last_fraction) * (len(steps) - 1)))]
    recent = rows.filter(pc.greater_equal(rows["step"], cutoff))
    names = recent["layer"].to_pylist()
    values = recent["value"].to_numpy(zero_copy_only=False)
    order = layers or list(dict.fromkeys(rows["layer"].to_pylist()))
    out = {}
    for layer in order:
        chosen = values[[n == layer for n in names]]
        chosen = chosen[np.isfinite(chosen)]
        out[layer] = float(chosen.mean()) if chosen.size else float("nan")
    return out


def depth_ratio(profile: dict[str, float], *, part: float = 1 / 3) -> float:
    """Mean over the deepest ``part`` of the layers divided by the mean over the shallowest part."""
    values = list(profile.values())
    k = max(1, int(round(len(values) * part)))
    if len(values) < 2 * k:
        raise ValueError(f"need at least {2 * k} layers to compare the first and last {k}, got {len(values)}")
    return float(np.mean(values[-k:]) / np.mean(values[:k]))


def scalar_series(table: pa.Table, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a model-level scalar such as ``loss``."""
    rows = table.filter(pc.and_(pc.equal(table["metric"], metric), pc.equal(table["layer"], "")))
    return rows["step"].to_numpy(), rows["value"].to_numpy(zero_copy_only=False)
