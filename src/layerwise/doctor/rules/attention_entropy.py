"""Attention-entropy collapse: a layer's attention becomes (nearly) one-hot everywhere.

Source: Zhai et al., "Stabilizing Transformer Training by Preventing Attention Entropy Collapse"
(ICML 2023, arXiv 2303.06296): pathologically low attention entropy accompanies unstable
training and divergence. Reads the ``attn_entropy`` rows (nats, mean over heads and queries) of
:class:`layerwise.analysis.TransformerProbe`. Threshold (ours): below 0.1 nats (on average about
98% of each query's attention on one key) on 2 consecutive probes, having fallen below a tenth
of the first probe's value or been there from the first probe (a collapsed initialisation): a
mean over all heads this low is not one sharp head doing its job.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, sustained

FLOOR, DROP, RUN = 0.1, 0.1, 2
SOURCE = "Zhai et al. 2023 (2303.06296)"


@rule("attention_entropy", symptom="attention-entropy collapse", needs=("attn_entropy",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    def hit(v: np.ndarray) -> np.ndarray:
        v = np.nan_to_num(v, nan=np.inf)
        return (v < FLOOR) & ((v < DROP * v[:1]) | (v[:1] < FLOOR))

    found = sustained(s, "attn_entropy", hit, RUN)
    if found is None:
        return None
    m, start, layers = found
    return Finding("attention-entropy collapse", layers, int(m.steps[start]),
                   {"entropy_at_onset": float(np.nanmin(m.values[start])),
                    "first_probe_entropy": float(np.nanmin(m.values[0])), "threshold": FLOOR},
                   "high", "attention_entropy", SOURCE, prescriptions("attention-entropy collapse"))
