"""Update size out of range: a layer's step is a tiny or a huge fraction of its weights.

Source: SageMaker Debugger's rules (effective update size outside [1e-5, 1e-1] of the weight
norm); the NaP paper (Lyle et al. 2024, arXiv 2407.01800) reads the same ratio as the effective
learning rate. Judged on each layer's median ``update_ratio`` over the second half of the run
(at least 5 logged steps), so a warm-up or a decayed tail does not decide alone.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, nan_reduce

LOW, HIGH, MIN_STEPS = 1e-5, 1e-1, 5
SOURCE = "SageMaker Debugger update-size rule; NaP (2407.01800)"


@rule("update_size", symptom="update too large / too small", needs=("update_ratio",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("update_ratio")
    if m is None or len(m.steps) < 2 * MIN_STEPS:
        return None
    half = len(m.steps) // 2
    median = nan_reduce(np.nanmedian, m.values[half:], axis=0)
    for symptom, bad in (("update too large", median > HIGH), ("update too small", median < LOW)):
        if bad.any():
            layers = tuple(n for n, b in zip(m.layers, bad, strict=True) if b)
            onset = int(np.nonzero((m.values > HIGH if symptom.endswith("large") else m.values < LOW)
                                   .any(axis=1))[0][0])
            return Finding(symptom, layers, int(m.steps[onset]),
                           {"median_update_ratio": {n: float(v) for n, v, b in
                                                    zip(m.layers, median, bad, strict=True) if b},
                            "range": [LOW, HIGH]},
                           "medium", "update_size", SOURCE, prescriptions(symptom))
    return None
