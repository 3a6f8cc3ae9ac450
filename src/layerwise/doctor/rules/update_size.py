"""Update size out of range: a layer's step is a tiny or a huge fraction of its weights.

Source: SageMaker Debugger's rules (effective update size outside [1e-5, 1e-1] of the weight
norm); the NaP paper (Lyle et al. 2024, arXiv 2407.01800) reads the same ratio as the effective
learning rate. Too small: each layer's median ``update_ratio`` over the second half of the run
(at least 5 logged steps), so a warm-up does not decide alone. Too large: above the bound on 3
consecutive logged steps in a layer, so a phase of huge steps counts even when a decay or a
collapse of the gradients shrinks them later (Adam's first steps at a learning rate far too
large: ratios 0.25, 0.18, 0.14, 0.11 kill half the ReLU units of an MLP before they settle);
the healthy configurations of the fault benchmark stay under 0.025 on any 3 consecutive steps.
Its onset is where that phase began: the rows before the first one over the bound that already
stand 10x above the ratio's recent median (``excursion_start``). Too large as well (ours): a
layer's median over the second half of the run at or above STEADY = 0.04, steps that never cross
the bound but replace the weights within some 25 steps, for good (the fault benchmark's 159
healthy runs of its first ten splits reach 0.014 at most); its onset is the first row at that
level. The learning-rate change prescribed first is sized to bring the measured ratio a decade
inside the bound it crossed (to 1e-2 or 1e-4).
"""

from __future__ import annotations

import math

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import learning_rate_first, prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, nan_reduce

LOW, HIGH, MIN_STEPS, RUN = 1e-5, 1e-1, 5, 3
STEADY = 0.04  # a second-half median this high: steps too large for good, under the bound
JUMP, RECENT = 10.0, 10  # an excursion begins where the ratio left its recent median 10-fold
SOURCE = "SageMaker Debugger update-size rule; NaP (2407.01800)"


@rule("update_size", symptom="update too large / too small", needs=("update_ratio",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("update_ratio")
    if m is None or len(m.steps) < 2 * MIN_STEPS:
        return None
    above = np.nan_to_num(m.values, nan=0.0, posinf=np.inf) > HIGH
    start = first_sustained(above, RUN)
    if start is not None:
        bad = np.array([first_sustained(above[start:, j], RUN) is not None for j in range(above.shape[1])])
        median = nan_reduce(np.nanmedian, m.values[start:start + RUN], axis=0)
        return _finding("update too large", m, bad, median, excursion_start(m.values, start))
    median = nan_reduce(np.nanmedian, m.values[len(m.steps) // 2:], axis=0)
    if (median >= STEADY).any():
        onset = int(np.nonzero((m.values[:, median >= STEADY] >= STEADY).any(axis=1))[0][0])
        return _finding("update too large", m, median >= STEADY, median, onset)
    if (median < LOW).any():
        onset = int(np.nonzero((m.values < LOW).any(axis=1))[0][0])
        return _finding("update too small", m, median < LOW, median, onset)
    return None


def excursion_start(values: np.ndarray, first: int) -> int:
    """The row where the phase of large steps that crosses the bound at row ``first`` began: walking
    back, the rows whose ratio is already JUMP times its median over the RECENT rows before them
    in some layer (a learning rate raised 20-fold shows first as a step just under the bound)."""
    row = first
    while row > 1:
        before = nan_reduce(np.nanmedian, values[max(0, row - 1 - RECENT):row - 1], axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            jump = values[row - 1] / np.where(before > 0, before, np.nan)
        if np.max(np.nan_to_num(jump, nan=0.0)) < JUMP:
            break
        row -= 1
    return row


def _finding(symptom: str, m, bad: np.ndarray, median: np.ndarray, onset: int) -> Finding:
    layers = tuple(n for n, b in zip(m.layers, bad, strict=True) if b)
    ratio = float(np.median(median[bad]))  # the flagged layers' typical step
    target = HIGH / 10 if symptom == "update too large" else LOW * 10  # a decade inside the bound
    why = f"the flagged layers' median update ratio is {ratio:.2g}; to bring it to {target:g}"
    factor = target / ratio if ratio > 0 else math.inf
    medians = {n: float(f"{v:.4g}") for n, v, b in zip(m.layers, median, bad, strict=True) if b}
    evidence = {"median_update_ratio": medians, "range": [LOW, HIGH], "steady_bound": STEADY}
    ranked = learning_rate_first(prescriptions(symptom), factor, why)
    return Finding(symptom, layers, int(m.steps[onset]), evidence, "medium", "update_size", SOURCE, ranked)
