"""Saturation: a bounded activation (tanh, sigmoid, hardtanh) pinned near its ends.

Source: DeepDiagnosis (Wardat et al., ICSE 2022) and the SageMaker Debugger rules flag
tanh/sigmoid layers whose inputs sit beyond +-5 (more than half the units), where the
activation's slope is below 1e-4 and gradients stop. The Monitor records each layer's output,
not its pre-activation, so the rule reads the output: a layer whose outputs are bounded by 1
(``act_max`` <= 1) and whose RMS is at least 0.9 on 3 consecutive logged steps. With |h| <= 1
and RMS >= 0.9, at least 47% of the entries have |h| >= 0.8 (Chebyshev-style bound:
P(h^2 >= 0.64) >= (0.81 - 0.64) / (1 - 0.64)). Not seen: a sigmoid pinned at 0 (its small RMS
looks like a quiet layer). Saturated from the first logged step points at the initial scale:
Glorot init (Glorot & Bengio, 2010) comes first there.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, layers_where

RMS, BOUND, RUN = 0.9, 1.0 + 1e-6, 3
SOURCE = "DeepDiagnosis (ICSE 2022); SageMaker Debugger saturated-activation rule"


@rule("saturation", symptom="saturation", needs=("act_rms",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    rms, peak = s.metrics.get("act_rms"), s.metrics.get("act_max")
    if rms is None or peak is None or rms.layers != peak.layers or len(rms.steps) != len(peak.steps):
        return None
    hit = (np.nan_to_num(peak.values, nan=np.inf) <= BOUND) & (np.nan_to_num(rms.values, nan=0.0) >= RMS)
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    return Finding("saturation", layers_where(hit, rms.layers, start, RUN), int(rms.steps[start]),
                   {"rms_at_onset": float(np.nanmax(np.where(hit[start], rms.values[start], np.nan))),
                    "max_abs_bound": 1.0, "threshold": RMS},
                   "high", "saturation", SOURCE, prescriptions("saturation", from_start=start == 0))

