"""Non-finite values: the first step and layer with NaN or Inf in an output, a gradient or the loss.

Source: layerwise's exact detector (``act_max`` propagates NaN/Inf; the Monitor's
``nonfinite_*`` rows and ``meta.json`` ``first_nonfinite``), as AUTOTRAINER (Zhang et al., ICSE
2021) checks for NaN loss and weights. A run that was finite again in every row for at least
``RECOVERED`` logged steps after its last non-finite one (a skipped step, as under dynamic loss
scaling or :class:`layerwise.transforms.SkipNonfinite`) reports *transient non-finite values*, at
low severity: the weights were not poisoned, but some batch or step produced NaN or Inf.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals

WATCHED = ("act_max", "act_grad_norm", "grad_norm", "nonfinite_forward", "nonfinite_backward")
SOURCE = "layerwise exact detector; AUTOTRAINER (ICSE 2021) NaN check"
RECOVERED = 5


@rule("nonfinite", symptom="non-finite values", needs=(*WATCHED, "loss"), source=SOURCE)
def check(s: Signals) -> Finding | None:
    onsets: list[tuple[int, str, str]] = []  # (step, layer, where)
    bad_steps: set[int] = set()
    for name in WATCHED:
        if name in s.metrics:
            m = s.metrics[name]
            bad = m.nonfinite() if not name.startswith("nonfinite") else m.values > 0
            rows = np.nonzero(bad.any(axis=1))[0]
            bad_steps.update(int(m.steps[r]) for r in rows)
            if rows.size:
                row = rows[0]
                onsets.append((int(m.steps[row]), m.layers[int(np.argmax(bad[row]))], name))
    if "loss" in s.scalars:
        steps, loss = s.scalars["loss"]
        rows = np.nonzero(~np.isfinite(loss))[0]
        bad_steps.update(int(steps[r]) for r in rows)
        if rows.size:
            onsets.append((int(steps[rows[0]]), "", "loss"))
    first = s.meta.get("first_nonfinite")
    if first:
        onsets.append((int(first["step"]), first.get("layer", ""), f"{first.get('direction')} "
                       f"({first.get('tensor')})"))
    if not onsets:
        return None
    step, layer, where = min(onsets, key=lambda o: (o[0], o[1] == ""))
    if _recovered(s, bad_steps):
        return Finding("transient non-finite values", (layer,) if layer else (), step,
                       {"first_in": where, "steps": sorted(bad_steps), "recovered_for": RECOVERED},
                       "low", "nonfinite", SOURCE, prescriptions("transient non-finite values"))
    return Finding("non-finite values", (layer,) if layer else (), step,
                   {"first_in": where, "step": step}, "critical", "nonfinite", SOURCE,
                   prescriptions("non-finite values"))


def _recovered(s: Signals, bad_steps: set[int]) -> bool:
    """Every loss and watched row after the last non-finite step is finite, for at least
    RECOVERED logged loss steps."""
    if not bad_steps or "loss" not in s.scalars:
        return False
    steps, _ = s.scalars["loss"]
    return int(np.sum(steps > max(bad_steps))) >= RECOVERED
