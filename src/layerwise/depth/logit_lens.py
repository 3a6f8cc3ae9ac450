"""Logit lens: the next-token distribution each layer's residual stream would predict.

Decoding ``softmax(unembed(final_norm(x_l)))`` at every depth (nostalgebraist, "interpreting GPT:
the logit lens", 2020) is how Do Language Models Use Their Depth Efficiently? (Csordás, Manning
and Potts, 2025, arXiv 2505.13898) shows that second-half layers mostly refine the current
prediction, and it is the distribution SPINAL (Das et al., 2026, arXiv 2601.06238) measures its
transport score on. ``kl[l] = KL(p_final || p_l)`` averaged over tokens, for ``x_0`` (the
embeddings) to ``x_L`` (the last block's output, whose KL is 0 up to rounding).

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> model = GPT(n_layer=3, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> lens = logit_lens(model, torch.randint(0, 20, (2, 8)))
    >>> lens.kl.shape, tuple(lens.probs.shape)
    ((4,), (4, 2, 8, 20))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.depth._trace import trace
from layerwise.depth.adapters import Adapter, adapt

PAPER = "Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)"
__all__ = ["LogitLens", "kl_divergence", "logit_lens"]


def kl_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(p || q)`` along the last dimension, from log-probabilities, in float64."""
    log_p, log_q = log_p.double(), log_q.double()
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


@dataclass(frozen=True)
class LogitLens:
    """``names[l]`` labels residual ``x_l`` ("embed", then each block's output name)."""

    names: tuple[str, ...]
    kl: np.ndarray  # (L + 1,) mean KL(final || layer) in nats
    top1_agree: np.ndarray  # (L + 1,) fraction of tokens whose argmax equals the final argmax
    probs: Tensor  # (L + 1, B, T, V) float32 distributions

    def rows(self) -> Iterator[tuple[str, str, float]]:
        for name, kl, agree in zip(self.names, self.kl, self.top1_agree, strict=True):
            yield name, "lens_kl", float(kl)
            yield name, "lens_top1", float(agree)


@register("logit_lens", kind="diagnostic", paper=PAPER, arxiv="2505.13898")
def logit_lens(model: nn.Module | Adapter, inputs: Tensor | Mapping, *,
               adapter: Adapter | None = None, keep_probs: bool = True) -> LogitLens:
    """Per-layer logit-lens distributions and their KL to the final layer's."""
    ad = adapter or adapt(model)
    tr = trace(ad, inputs, model=model if isinstance(model, nn.Module) else None)
    with torch.no_grad():
        logps = [torch.log_softmax(ad.lens(x).double(), dim=-1) for x in tr.stream]
    final = logps[-1]
    kl = np.array([float(kl_divergence(final, lp).mean()) for lp in logps])
    top = final.argmax(-1)
    agree = np.array([float((lp.argmax(-1) == top).double().mean()) for lp in logps])
    probs = torch.stack([lp.exp().float() for lp in logps]) if keep_probs else torch.empty(0)
    return LogitLens(("embed", *ad.names), kl, agree, probs)
