"""Update size out of range: a layer's step is a tiny or a huge fraction of its weights.

Source: SageMaker Debugger's rules (effective update size outside [1e-5, 1e-1] of the weight
norm); the NaP paper (Lyle et al. 2024, arXiv 2407.01800) reads the same ratio as the effective
learning rate. Too small: each layer's median ``update_ratio`` over the second half of the run
(at least 5 logged steps), so a warm-up does not decide alone. Too large: the median over any 10
consecutive logged steps, so a phase of huge steps counts even when a decay or a collapse of
the gradients shrinks them later. The learning-rate change prescribed first is sized to bring the
measured ratio a decade inside the bound it crossed (to 1e-2 or 1e-4).
"""

from __future__ import annotations

import math

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import learning_rate_first, prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, nan_reduce

LOW, HIGH, MIN_STEPS, WINDOW = 1e-5, 1e-1, 5, 10
SOURCE = "SageMaker Debugger update-size rule; NaP (2407.01800)"


@rule("update_size", symptom="update too large / too small", needs=("update_ratio",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("update_ratio")
    if m is None or len(m.steps) < 2 * MIN_STEPS:
        return None
    large = _too_large(m.values)
    if large is not None:
        start, median = large
        onset = start + int(np.nonzero((m.values[start:, median > HIGH] > HIGH).any(axis=1))[0][0])
        return _finding("update too large", m, median > HIGH, median, onset)
    median = nan_reduce(np.nanmedian, m.values[len(m.steps) // 2:], axis=0)
    if (median < LOW).any():
        onset = int(np.nonzero((m.values < LOW).any(axis=1))[0][0])
        return _finding("update too small", m, median < LOW, median, onset)
    return None


def _too_large(values: np.ndarray) -> tuple[int, np.ndarray] | None:
    """The first window of WINDOW logged steps whose per-layer median exceeds HIGH somewhere."""
    for start in range(0, max(1, len(values) - WINDOW + 1)):
        median = nan_reduce(np.nanmedian, values[start:start + WINDOW], axis=0)
        if (median > HIGH).any():
            return start, median
    return None


def _finding(symptom: str, m, bad: np.ndarray, median: np.ndarray, onset: int) -> Finding:
    layers = tuple(n for n, b in zip(m.layers, bad, strict=True) if b)
    ratio = float(np.median(median[bad]))  # the flagged layers' typical step
    target = HIGH / 10 if symptom == "update too large" else LOW * 10  # a decade inside the bound
    why = f"the flagged layers' median update ratio is {ratio:.2g}; to bring it to {target:g}"
    factor = target / ratio if ratio > 0 else math.inf
    return Finding(symptom, layers, int(m.steps[onset]),
                   {"median_update_ratio": {n: float(v) for n, v, b in zip(m.layers, median, bad, strict=True)
                                            if b}, "range": [LOW, HIGH]},
                   "medium", "update_size", SOURCE, learning_rate_first(prescriptions(symptom), factor, why))
