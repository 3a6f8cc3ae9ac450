"""Unused depth: blocks that barely change the residual stream, or whose output never reaches the loss.

Source: Csordás, Manning, Potts, "Do Language Models Use Their Depth Efficiently?" (2025, arXiv
2505.13898) measure each block's relative contribution ||x_{l+1} - x_l|| / ||x_l||; Sun et al.,
"The Curse of Depth in Large Language Models" (2025, arXiv 2502.05795) trace deep Pre-LN blocks
that act almost as the identity to the growth of the residual's variance. Two criteria (ours):

- ``block_contrib`` of :class:`layerwise.analysis.TransformerProbe` below 0.01 (the block moves
  the stream by under 1%) on the last 3 probes: a block that stays this small could be removed;
- unreached: a layer with trainable weights (``weight_norm`` rows) whose parameters get no
  gradient on any logged step (no ``grad_norm`` row; the Monitor logs none rather than a false
  0), deeper than a layer that gets one. A gradient reaches a shallow layer only through the
  deeper layers on the loss's path, so a deeper layer without one is off that path: a head that
  reads an earlier block, a block bypassed or always dropped. A frozen prefix is not flagged (its
  layers have no trainable weights, and they are shallower than every layer with a gradient).
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals

FLOOR, RUN = 0.01, 3
SOURCE = "Csordás et al. 2025 (2505.13898); Curse of Depth (2502.05795)"


@rule("unused_depth", symptom="unused depth", needs=("block_contrib", "grad_norm"), source=SOURCE)
def check(s: Signals) -> Finding | None:
    idle, unreached = _idle(s), _unreached(s)
    if idle is None and not unreached:
        return None
    evidence, onsets = {}, []
    if idle is not None:
        last, since = idle
        evidence.update(block_contrib_last=last, threshold=FLOOR)
        onsets.append(since)
    if unreached:
        w = s.metrics["weight_norm"]
        evidence.update(no_gradient=list(unreached), steps_without=len(w.steps))
        onsets.append(int(w.steps[0]))
    flagged = set(unreached) | set(idle[0] if idle else ())
    return Finding("unused depth", tuple(n for n in s.layers if n in flagged), min(onsets), evidence,
                   "low", "unused_depth", SOURCE, prescriptions("unused depth"))


def _idle(s: Signals) -> tuple[dict[str, float], int] | None:
    """({block: its last contribution}, the step since which all stay under FLOOR) for the blocks
    under FLOOR on the last RUN probes; None when there are none."""
    m = s.metrics.get("block_contrib")
    if m is None or len(m.steps) < RUN:
        return None
    idle = (np.nan_to_num(m.values[-RUN:], nan=1.0) < FLOOR).all(axis=0)
    if not idle.any():
        return None
    below = np.nan_to_num(m.values[:, idle], nan=1.0) < FLOOR
    since = next(i for i in range(len(m.steps)) if below[i:].all())
    last = {n: round(float(m.values[-1, j]), 5) for j, n in enumerate(m.layers) if idle[j]}
    return last, int(m.steps[since])


def _unreached(s: Signals) -> tuple[str, ...]:
    """Layers with trainable weights and no gradient row on any step, deeper than a layer with one."""
    w, g = s.metrics.get("weight_norm"), s.metrics.get("grad_norm")
    if w is None or g is None:
        return ()
    got = {n for j, n in enumerate(g.layers) if g.present is None or g.present[:, j].any()}
    if not got:
        return ()  # no layer has a gradient: a stalled run, not an unused block
    shallowest = min(s.layers.index(n) for n in got)
    return tuple(n for n in w.layers if n not in got and s.layers.index(n) > shallowest)
