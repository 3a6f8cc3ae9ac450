"""No progress: the loss of the last quarter of the run is not below its first tenth.

Source: AUTOTRAINER (Zhang et al., ICSE 2021), "slow convergence": the loss fails to improve
over a window of training. Here: the median loss of the last 25% of logged steps is at least
95% of the median of the first 10% (at least 20 logged steps; non-finite runs are left to the
non-finite rule).
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals

KEEP, MIN_STEPS = 0.95, 20
SOURCE = "AUTOTRAINER (ICSE 2021) slow convergence"


@rule("stalled", symptom="no progress", needs=("loss",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    if "loss" not in s.scalars:
        return None
    steps, loss = s.scalars["loss"]
    if len(loss) < MIN_STEPS or not np.all(np.isfinite(loss)):
        return None
    start = float(np.median(loss[: max(2, len(loss) // 10)]))
    end = float(np.median(loss[-max(2, len(loss) // 4):]))
    if end < KEEP * start:
        return None
    return Finding("no progress", (), int(steps[0]),
                   {"loss_first_tenth": start, "loss_last_quarter": end, "required_ratio": KEEP},
                   "medium", "stalled", SOURCE, prescriptions("no progress"))
