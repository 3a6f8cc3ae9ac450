"""Rank collapse: every token of a sequence carries (nearly) the same vector after a block.

Source: Dong, Cordonnier, Loukas, "Attention is Not All You Need: Pure Attention Loses Rank
Doubly Exponentially with Depth" (ICML 2021, arXiv 2103.03404); Noci et al., "Signal Propagation
in Transformers" (NeurIPS 2022, arXiv 2206.03126). Reads ``token_spread`` =
||X - mean_t X|| / ||X|| of :class:`layerwise.analysis.TransformerProbe` (1 for unrelated tokens,
0 at collapse). Threshold (ours): below 0.05 on 2 consecutive probes, i.e. what tells tokens
apart is under 5% of the representation.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, sustained

FLOOR, RUN = 0.05, 2
SOURCE = "Dong et al. 2021 (2103.03404); Noci et al. 2022 (2206.03126)"


@rule("rank_collapse", symptom="rank collapse", needs=("token_spread",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    found = sustained(s, "token_spread", lambda v: np.nan_to_num(v, nan=1.0) < FLOOR, RUN)
    if found is None:
        return None
    m, start, layers = found
    return Finding("rank collapse", layers, int(m.steps[start]),
                   {"token_spread_at_onset": float(np.nanmin(m.values[start])), "threshold": FLOOR},
                   "high", "rank_collapse", SOURCE, prescriptions("rank collapse"))
