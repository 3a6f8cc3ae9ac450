"""Gradient conflict: the losses of a multi-loss run pull a layer in opposite directions.

Source: Gradient Surgery for Multi-Task Learning (Yu et al., NeurIPS 2020, arXiv 2001.06782):
two task gradients conflict when their cosine is negative. Reads the per-layer ``cos_min`` rows
that :func:`layerwise.multiloss.conflict_rows` writes (the most negative pairwise cosine); a
layer is in conflict when its cosine stays below 0 on 5 consecutive logged steps and its median,
read from where the conflict began to the end of the run, is below -0.05; the conflict begins at
the first stretch of 5 steps with some layer below 0 from which some layer's median is below
-0.05. A layer whose losses merely disagree now and then is not flagged, and one whose losses
agreed until a loss weight or target changed mid-run is.
A run that combined its losses with an aggregator (PCGrad, SAM-GS) logged ``cos_update_min``
too, the cosine between each loss's gradient and the update the aggregator applied: there the
conflict that matters is the one left in the update (the losses still disagree; the question is
whether the step still goes against one of them), so the same thresholds are read on that row.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, nan_reduce

RUN, MEDIAN = 5, -0.05
SOURCE = "PCGrad (Yu et al. 2020, arXiv 2001.06782)"


@rule("gradient_conflict", symptom="gradient conflict", needs=("cos_min",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    metric = "cos_update_min" if "cos_update_min" in s.metrics else "cos_min"
    m = s.metrics.get(metric)
    if m is None or len(m.steps) < RUN:
        return None
    below = np.nan_to_num(m.values, nan=1.0) < 0.0
    found = _negative_since(below, m.values)
    if found is None:
        return None
    since, median = found
    hit = below & (median < MEDIAN)
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    layers = tuple(layer for j, layer in enumerate(m.layers) if first_sustained(hit[:, j], RUN) is not None)
    medians = {layer: round(float(median[m.layers.index(layer)]), 4) for layer in layers}
    return Finding("gradient conflict", layers, int(m.steps[start]),
                   {"metric": metric, "median_cos": medians, "median_from_step": int(m.steps[since]),
                    "threshold": MEDIAN},
                   "medium", "gradient_conflict", SOURCE, prescriptions("gradient conflict"))


def _negative_since(below: np.ndarray, values: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(row, per-layer median from it) for the first row that starts RUN consecutive rows with some
    layer below 0 and from which some layer's median stays below MEDIAN; None when none does."""
    sustained = np.convolve(below.any(axis=1).astype(int), np.ones(RUN, dtype=int), "valid") == RUN
    for row in np.flatnonzero(sustained):
        median = nan_reduce(np.nanmedian, values[row:], axis=0)
        if (median < MEDIAN).any():
            return int(row), median
    return None
