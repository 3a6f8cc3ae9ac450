"""Attention-logit growth: a layer's largest attention logit grows far past its start.

Source: Dehghani et al., "Scaling Vision Transformers to 22 Billion Parameters" (2023, arXiv
2302.05442) and Wortsman et al., "Small-scale proxies for large-scale Transformer training
instabilities" (2023, arXiv 2309.14322): uncontrolled growth of q.k / sqrt(d) saturates the
softmax, collapses the attention entropy and precedes divergence; QK-norm prevents it. Reads the
``attn_logit_max`` rows of :class:`layerwise.analysis.TransformerProbe`. Threshold (ours): at
least 20 (a key that trails the top one by that much gets a weight below e^-20 = 2e-9 of it: the
softmax is one-hot and passes no gradient to it) and at least 10x the first probe's value, on 2
consecutive probes.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, sustained

LIMIT, GROWTH, RUN = 20.0, 10.0, 2
SOURCE = "Dehghani et al. 2023 (2302.05442); Wortsman et al. 2023 (2309.14322)"


@rule("attention_logits", symptom="attention-logit growth", needs=("attn_logit_max",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    def hit(v: np.ndarray) -> np.ndarray:
        v = np.nan_to_num(v, nan=0.0)
        return (v >= LIMIT) & (v >= GROWTH * np.abs(v[:1]))

    found = sustained(s, "attn_logit_max", hit, RUN)
    if found is None:
        return None
    m, start, layers = found
    return Finding("attention-logit growth", layers, int(m.steps[start]),
                   {"logit_max_at_onset": float(np.nanmax(m.values[start])),
                    "first_probe_max": float(np.nanmax(m.values[0])), "threshold": LIMIT,
                    "growth_threshold": GROWTH},
                   "high", "attention_logits", SOURCE, prescriptions("attention-logit growth"))
