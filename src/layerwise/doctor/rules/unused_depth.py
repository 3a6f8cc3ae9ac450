"""Unused depth: blocks that barely change the residual stream.

Source: Csordás, Manning, Potts, "Do Language Models Use Their Depth Efficiently?" (2025, arXiv
2505.13898) measure each block's relative contribution ||x_{l+1} - x_l|| / ||x_l||; Sun et al.,
"The Curse of Depth in Large Language Models" (2025, arXiv 2502.05795) trace deep Pre-LN blocks
that act almost as the identity to the growth of the residual's variance. Reads ``block_contrib``
of :class:`layerwise.analysis.TransformerProbe`. Threshold (ours): below 0.01 (the block moves
the stream by under 1%) on the last 3 probes: a block that stays this small could be removed.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals

FLOOR, RUN = 0.01, 3
SOURCE = "Csordás et al. 2025 (2505.13898); Curse of Depth (2502.05795)"


@rule("unused_depth", symptom="unused depth", needs=("block_contrib",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("block_contrib")
    if m is None or len(m.steps) < RUN:
        return None
    last = np.nan_to_num(m.values[-RUN:], nan=1.0)
    idle = (last < FLOOR).all(axis=0)
    if not idle.any():
        return None
    layers = tuple(layer for layer, off in zip(m.layers, idle, strict=True) if off)
    below = np.nan_to_num(m.values[:, idle], nan=1.0) < FLOOR
    since = next(i for i in range(len(m.steps)) if below[i:].all())
    return Finding("unused depth", layers, int(m.steps[since]),
                   {"block_contrib_last": {layer: round(float(m.values[-1, m.layers.index(layer)]), 5)
                                           for layer in layers}, "threshold": FLOOR},
                   "low", "unused_depth", SOURCE, prescriptions("unused depth"))
