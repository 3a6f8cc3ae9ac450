"""Saturation: a bounded activation (tanh, sigmoid, hardtanh) pinned near its ends.

Source: DeepDiagnosis (Wardat et al., ICSE 2022) and the SageMaker Debugger rules flag
tanh/sigmoid layers whose inputs sit beyond +-5 (more than half the units), where the
activation's slope is below 1e-4 and gradients stop. The Monitor records each layer's output,
not its pre-activation, so the rule reads the output, mapped from its range [lo, hi] (the Monitor
writes it to ``meta.json`` for layers ending in a bounded activation) onto [-1, 1]: a layer whose
mapped output has an RMS of at least 0.9 on 3 consecutive logged steps. With |h| <= 1 and
RMS >= 0.9, at least 47% of the entries lie in the outer tenth of the range at either end
(Chebyshev-style bound: P(h^2 >= 0.64) >= (0.81 - 0.64) / (1 - 0.64)); the mapped mean square
comes from the raw mean and RMS, E[h'^2] = (4 E[h^2] - 4 (lo + hi) E[h] + (lo + hi)^2) / (hi - lo)^2,
so a sigmoid pinned at 0 and 1 is seen as a tanh at -1 and +1 is. Without recorded ranges (an
older run), the layers bounded by 1 (``act_max`` <= 1) are read as tanh-like. A norm before the
activation is prescribed first; saturated from the first logged step points at the initial scale
too, so Glorot init (Glorot & Bengio, 2010) comes second there (``_prescribe.FROM_START``).
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
    rms = s.metrics.get("act_rms")
    mapped = mapped_rms(s) if rms is not None else None
    if mapped is None:
        return None
    hit = np.nan_to_num(mapped, nan=0.0) >= RMS
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    return Finding("saturation", layers_where(hit, rms.layers, start, RUN), int(rms.steps[start]),
                   {"rms_at_onset": float(np.nanmax(np.where(hit[start], mapped[start], np.nan))),
                    "range": "each layer's output range mapped to [-1, 1]", "threshold": RMS},
                   "high", "saturation", SOURCE, prescriptions("saturation", from_start=start == 0))


def mapped_rms(s: Signals) -> np.ndarray | None:
    """The RMS of each layer's output mapped onto [-1, 1] (steps x layers of ``act_rms``): from the
    recorded range and ``act_mean`` where the Monitor wrote one, else the plain RMS of a layer
    bounded by 1, else NaN; None when neither can be read."""
    rms, mean, peak = (s.metrics.get(n) for n in ("act_rms", "act_mean", "act_max"))
    out = np.full_like(rms.values, np.nan)
    if _aligned(peak, rms):
        out = np.where(np.nan_to_num(peak.values, nan=np.inf) <= BOUND, rms.values, np.nan)
    ranges = s.meta.get("monitor", {}).get("output_range") or {}
    known = [j for j, n in enumerate(rms.layers) if _is_range(ranges.get(n))]
    if known and _aligned(mean, rms):
        lo, hi = (np.array([ranges[rms.layers[j]][k] for j in known], dtype=float) for k in (0, 1))
        square = (4 * rms.values[:, known] ** 2 - 4 * (lo + hi) * mean.values[:, known] + (lo + hi) ** 2)
        out[:, known] = np.sqrt(np.clip(square / (hi - lo) ** 2, 0.0, None))
    return None if np.isnan(out).all() else out


def _is_range(bounds) -> bool:
    """A (low, high) pair of finite numbers with low < high (a hand-edited meta.json may hold less)."""
    return (isinstance(bounds, list | tuple) and len(bounds) == 2
            and all(isinstance(b, int | float) and np.isfinite(b) for b in bounds) and bounds[0] < bounds[1])


def _aligned(m, rms) -> bool:
    return m is not None and m.layers == rms.layers and len(m.steps) == len(rms.steps)
