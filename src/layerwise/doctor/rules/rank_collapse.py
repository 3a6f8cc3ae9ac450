"""Rank collapse: every token of a sequence carries (nearly) the same vector after a block.

Source: Dong, Cordonnier, Loukas, "Attention is Not All You Need: Pure Attention Loses Rank
Doubly Exponentially with Depth" (ICML 2021, arXiv 2103.03404); Noci et al., "Signal Propagation
in Transformers" (NeurIPS 2022, arXiv 2206.03126). Reads ``token_spread`` =
||X - mean_t X|| / ||X|| of :class:`layerwise.analysis.TransformerProbe` (1 for unrelated tokens,
0 at collapse). Threshold (ours): below 0.05 on 2 consecutive probes, i.e. what tells tokens
apart is under 5% of the representation. Two readings are not rank collapse: a collapse from
the first probe that the run climbed out of (tokens apart again on the last finite probe: a
near-collapsed initialisation that training undid), and one in the final block alone, which
is where a network that finds nothing to learn ends (its output stops depending on the token
and predicts the label marginal), not a loss of rank through depth, which carries to every
block after the first collapsed one. A collapse that sets in mid-run is reported even when the
run later climbs out of it.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, sustained

FLOOR, RUN = 0.05, 2
SOURCE = "Dong et al. 2021 (2103.03404); Noci et al. 2022 (2206.03126)"


def collapsed(spread: np.ndarray) -> np.ndarray:
    return np.nan_to_num(spread, nan=1.0) < FLOOR


@rule("rank_collapse", symptom="rank collapse", needs=("token_spread",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    found = sustained(s, "token_spread", collapsed, RUN)
    if found is None:
        return None
    m, start, layers = found
    last = {n: _last_finite(m.values[:, j]) for j, n in enumerate(m.layers)}
    if start == 0 and not any(collapsed(last[n]) for n in layers):
        return None  # collapsed at initialisation, and training took the tokens apart
    if layers == (m.layers[-1],):
        return None
    return Finding("rank collapse", layers, int(m.steps[start]),
                   {"token_spread_at_onset": float(np.nanmin(m.values[start])),
                    "token_spread_last": {n: round(float(last[n]), 5) for n in layers}, "threshold": FLOOR},
                   "high", "rank_collapse", SOURCE, prescriptions("rank collapse"))


def _last_finite(column: np.ndarray) -> float:
    finite = column[np.isfinite(column)]
    return float(finite[-1]) if finite.size else np.nan
