"""Exploding gradients: per-layer gradient norms that grow 100-fold over their early level.

Source: AUTOTRAINER (Zhang et al., ICSE 2021) flags explosion from the ratio of gradient norms
across layers (> 70); on a run's own history, growth against the layer's early median is the
signal that does not depend on the architecture's usual spread, so that is the rule here (the
ratio is reported as evidence). Thresholds: growth >= 100x on 2 consecutive logged steps.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, layers_where, nan_reduce

GROWTH, RUN = 100.0, 2
SOURCE = "AUTOTRAINER (ICSE 2021), growth form"


def growth(values: np.ndarray) -> np.ndarray:
    """Each row over the median of the first tenth of the rows (at least 3), per layer; non-finite
    entries count as infinite growth."""
    early = nan_reduce(np.nanmedian, values[: max(3, len(values) // 10)], axis=0)
    early = np.where(early > 0, early, np.nan)  # a layer without gradient early on: no growth to read
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / early
    return np.where(np.isfinite(values), ratio, np.inf)


@rule("exploding", symptom="exploding gradients", needs=("grad_norm", "act_grad_norm"), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("grad_norm") or s.metrics.get("act_grad_norm")
    if m is None or len(m.steps) < 4:
        return None
    ratio = growth(m.values)
    hit = ratio >= GROWTH
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    layers = layers_where(hit, m.layers, start, RUN)
    finite = np.isfinite(ratio)
    peak = float(np.max(ratio[finite])) if finite.any() else np.inf
    row = m.values[start]
    spread = float(row.max() / row.min()) if np.all(np.isfinite(row)) and row.min() > 0 else np.inf
    return Finding("exploding gradients", layers, int(m.steps[start]),
                   {"metric": "grad_norm" if "grad_norm" in s.metrics else "act_grad_norm",
                    "growth_at_onset": float(np.nanmax(ratio[start])), "peak_growth": peak,
                    "threshold": GROWTH, "layer_ratio_at_onset": spread},
                   "critical", "exploding", SOURCE, prescriptions("exploding gradients"))
