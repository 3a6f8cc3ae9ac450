"""Vanishing gradients: the shallow layers get almost none of the gradient the deepest one gets.

Source: AUTOTRAINER (Zhang et al., ICSE 2021): the first layer's gradient norm is below 1e-3 of
the last layer's and below 1e-4 in absolute terms. Both thresholds are taken 10x looser here
(1e-2 and 1e-3, ours): a 10-layer tanh MLP at init scale 0.05 or a 6-layer MLP behind a frozen
near-zero layer leave the first layer 1e-3 to 5e-3 of the last and do not learn, while the
healthy configurations of the fault benchmark keep the ratio above 0.25 (a tiny first layer
beside a huge last one could reach 1e-2 healthy: the gradient norm grows with a layer's size).
Read on 3 consecutive logged steps; the layers named are those below 1e-2 of the deepest
monitored layer's norm.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, layers_where

RATIO, FLOOR, RUN = 1e-2, 1e-3, 3
SOURCE = "AUTOTRAINER (ICSE 2021), thresholds 10x looser"


@rule("vanishing", symptom="vanishing gradients", needs=("grad_norm",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("grad_norm")
    if m is None or m.values.shape[1] < 2:
        return None
    first, last = m.values[:, 0], m.values[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = first / last
        relative = m.values / last[:, None]
    start = first_sustained((ratio < RATIO) & (first < FLOOR), RUN)
    if start is None:
        return None
    layers = layers_where(relative < RATIO, m.layers, start, RUN)
    return Finding("vanishing gradients", layers or (m.layers[0],), int(m.steps[start]),
                   {"first_over_last": float(ratio[start]), "first_layer_norm": float(first[start]),
                    "ratio_threshold": RATIO, "norm_threshold": FLOOR},
                   "high", "vanishing", SOURCE, prescriptions("vanishing gradients"))
