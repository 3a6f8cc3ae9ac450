"""Massive activations: a few entries of a layer's output thousands of times its median.

Source: Sun et al., "Massive Activations in Large Language Models" (2024, arXiv 2402.17762), who
report activations around 10^3-10^4 times the median magnitude; Peri-LN (Kim et al. 2025, arXiv
2502.02732) tracks them per layer. Threshold: max|x| / median|x| >= 1000 on 3 consecutive logged
steps.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, layers_where

RATIO, RUN = 1000.0, 3
SOURCE = "Sun et al. 2024 (2402.17762); Peri-LN (2502.02732)"


@rule("massive_activations", symptom="massive activations", needs=("act_max_median",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("act_max_median")
    if m is None:
        return None
    hit = np.nan_to_num(m.values, nan=0.0, posinf=0.0) >= RATIO
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    return Finding("massive activations", layers_where(hit, m.layers, start, RUN), int(m.steps[start]),
                   {"max_over_median": float(np.nanmax(m.values[start])), "threshold": RATIO},
                   "medium", "massive_activations", SOURCE, prescriptions("massive activations"))
