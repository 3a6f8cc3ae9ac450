"""Non-finite values: the first step and layer with NaN or Inf in an output, a gradient or the loss.

Source: layerwise's exact detector (``act_max`` propagates NaN/Inf; the Monitor's
``nonfinite_*`` rows and ``meta.json`` ``first_nonfinite``), as AUTOTRAINER (Zhang et al., ICSE
2021) checks for NaN loss and weights.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals

WATCHED = ("act_max", "act_grad_norm", "grad_norm", "nonfinite_forward", "nonfinite_backward")
SOURCE = "layerwise exact detector; AUTOTRAINER (ICSE 2021) NaN check"


@rule("nonfinite", symptom="non-finite values", needs=(*WATCHED, "loss"), source=SOURCE)
def check(s: Signals) -> Finding | None:
    onsets: list[tuple[int, str, str]] = []  # (step, layer, where)
    for name in WATCHED:
        if name in s.metrics:
            m = s.metrics[name]
            bad = ~np.isfinite(m.values) if not name.startswith("nonfinite") else m.values > 0
            rows = np.nonzero(bad.any(axis=1))[0]
            if rows.size:
                row = rows[0]
                onsets.append((int(m.steps[row]), m.layers[int(np.argmax(bad[row]))], name))
    if "loss" in s.scalars:
        steps, loss = s.scalars["loss"]
        rows = np.nonzero(~np.isfinite(loss))[0]
        if rows.size:
            onsets.append((int(steps[rows[0]]), "", "loss"))
    first = s.meta.get("first_nonfinite")
    if first:
        onsets.append((int(first["step"]), first.get("layer", ""), f"{first.get('direction')} "
                       f"({first.get('tensor')})"))
    if not onsets:
        return None
    step, layer, where = min(onsets, key=lambda o: (o[0], o[1] == ""))
    return Finding("non-finite values", (layer,) if layer else (), step,
                   {"first_in": where, "step": step}, "critical", "nonfinite", SOURCE,
                   prescriptions("non-finite values"))
