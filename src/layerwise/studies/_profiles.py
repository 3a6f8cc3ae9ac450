"""Reducers of a per-layer profile (layer -> value) to the numbers a study reports."""

from __future__ import annotations

import numpy as np

from layerwise.monitor.summary import depth_ratio


def last_over_first(profile: dict[str, float]) -> float:
    """Value at the deepest layer divided by the value at the first; NaN when the first is 0 (a
    layer whose gradient vanished: the ratio is undefined, not an error of the run)."""
    values = list(profile.values())
    if len(values) < 2:
        raise ValueError(f"last_over_first needs two layers, got {values}")
    return float(values[-1] / values[0]) if values[0] != 0 else float("nan")


def mean_abs(profile: dict[str, float]) -> float:
    """Mean of |value| over the layers."""
    return float(np.mean(np.abs(list(profile.values()))))


def per_layer(profile: dict[str, float]) -> list[float]:
    """The profile itself, in depth order (averaged elementwise over seeds in the verdict)."""
    return [float(v) for v in profile.values()]


__all__ = ["depth_ratio", "last_over_first", "mean_abs", "per_layer"]
