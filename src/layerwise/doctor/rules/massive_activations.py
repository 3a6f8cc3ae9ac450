"""Massive activations: a few entries of a layer's output thousands of times its median.

Source: Sun et al., "Massive Activations in Large Language Models" (2024, arXiv 2402.17762), who
report activations around 10^3-10^4 times the median magnitude; Peri-LN (Kim et al. 2025, arXiv
2502.02732) tracks them per layer. Threshold: max|x| / median|x| >= 1000 on 3 consecutive logged
steps; or (ours) a sudden rise, the ratio at least 100 (a tenth of that) and at least 10 times its
median over the 10 logged rows before, on 3 consecutive rows: one channel or position thrown
out of scale mid-run (a sentinel value in the data, a mis-scaled weight) that a small model's
median does not yet put a thousand-fold below. Healthy runs of the fault benchmark rise at most
2.7-fold at ratios over 100 (a leaky-ReLU MLP whose ratio climbs steadily to 550); its
massive-activation faults 51-5700-fold.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, layers_where

RATIO, RUN = 1000.0, 3
RISE_FLOOR, RISE, LEVEL = 100.0, 10.0, 10  # a sudden rise: ratio >= 100 and >= 10x its last 10 rows
SOURCE = "Sun et al. 2024 (2402.17762); Peri-LN (2502.02732)"


@rule("massive_activations", symptom="massive activations", needs=("act_max_median",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("act_max_median")
    if m is None:
        return None
    ratio = np.nan_to_num(m.values, nan=0.0, posinf=0.0)
    level = _levels(ratio)
    standing = ratio >= RATIO
    hit = standing | ((ratio >= RISE_FLOOR) & (ratio >= RISE * level))
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    evidence = {"max_over_median": float(np.nanmax(m.values[start])), "threshold": RATIO}
    if not standing[start:start + RUN].all(axis=0).any():  # found by the sudden rise alone
        evidence.update(criterion=f"a {RISE:g}x rise over the previous {LEVEL} rows, to >= {RISE_FLOOR:g}",
                        level_before=float(np.max(level[start, hit[start]])))
    return Finding("massive activations", layers_where(hit, m.layers, start, RUN), int(m.steps[start]),
                   evidence, "medium", "massive_activations", SOURCE, prescriptions("massive activations"))


def _levels(ratio: np.ndarray) -> np.ndarray:
    """Rows x layers: the ratio's median over the LEVEL rows before (inf in the first LEVEL rows,
    so no rise is read there)."""
    out = np.full(ratio.shape, np.inf)
    for i in range(LEVEL, len(ratio)):
        out[i] = np.median(ratio[i - LEVEL:i], axis=0)
    return out
