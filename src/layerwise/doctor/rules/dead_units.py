"""Dead units: ReLU layers whose units are never positive over a batch.

Source: AUTOTRAINER (Zhang et al., ICSE 2021, dying ReLU: >= 70% of units) and DeepDiagnosis
(Wardat et al., ICSE 2022) / SageMaker Debugger (dead units: >= 70% non-positive). Read on 3
consecutive logged steps. A dead layer feeds
the next one a constant, so the layers right above it die with it: the finding names the first
layer of each run of consecutive dead layers and lists the others as ``downstream``. Units dead
from the first logged step point at the initialisation
(biases or scale), not at training, so re-initialising comes first there.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, layers_where, nan_reduce

DEAD, RUN = 0.7, 3
SOURCE = "AUTOTRAINER (ICSE 2021); DeepDiagnosis (ICSE 2022)"


@rule("dead_units", symptom="dead units", needs=("dead_fraction",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("dead_fraction")
    if m is None:
        return None
    hit = np.nan_to_num(m.values, nan=0.0) >= DEAD
    start = first_sustained(hit, RUN)
    if start is None:
        return None
    dead = layers_where(hit, m.layers, start, RUN)
    layers = tuple(n for n in dead if m.layers.index(n) == 0 or m.layers[m.layers.index(n) - 1] not in dead)
    return Finding("dead units", layers, int(m.steps[start]),
                   {"downstream": [n for n in dead if n not in layers],
                    "dead_fraction_at_onset": float(nan_reduce(np.nanmax, m.values[start])),
                    "final_max": float(nan_reduce(np.nanmax, m.values[-1])), "threshold": DEAD},
                   "high", "dead_units", SOURCE, prescriptions("dead units", from_start=start == 0))

