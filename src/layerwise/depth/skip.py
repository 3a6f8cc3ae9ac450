"""Skip experiments: what later layers and the output lose when one layer is skipped.

Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025, arXiv
2505.13898), "skip effects": replace block ``s``'s output by its input on the positions before
``t`` and, on the future positions ``>= t``, measure

* for every later block ``l > s`` the relative change of its contribution,
  ``||delta'_l - delta_l|| / ||delta_l||`` with ``delta_l = x_{l+1} - x_l``;
* the L2 change of the output distribution ``||softmax' - softmax||``.

Both are maxima over the future positions, averaged over sequences. ``matrix[s, l]`` is NaN for
``l <= s`` (a skip cannot change what ran before it); in a model without attention (tokens never
mix) every entry is 0. Single-layer removal (The Curse of Depth in Large Language Models, Sun et
al., 2025, arXiv 2502.05795: the loss increase when block ``s`` is the identity everywhere) is
:func:`removal_delta_loss`.

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> model = GPT(n_layer=3, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> sk = skip_matrix(model, torch.randint(0, 20, (2, 8)))
    >>> sk.matrix.shape, bool(torch.isnan(torch.tensor(sk.matrix[2, 0])))
    ((3, 3), True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.depth._trace import trace
from layerwise.depth.adapters import Adapter, adapt

PAPER = "Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)"
__all__ = ["SkipEffects", "removal_delta_loss", "skip_matrix"]


@dataclass(frozen=True)
class SkipEffects:
    names: tuple[str, ...]
    matrix: np.ndarray  # (L, L): skipped block s (row) -> relative change of block l (column)
    output: np.ndarray  # (L,): L2 change of the output distribution on future positions
    split: int  # t: skipped positions are < t, measured positions >= t


def _skip_before(t: int):
    def edit(x: Tensor, y: Tensor) -> Tensor:
        y = y.clone()
        y[:, :t] = x[:, :t]
        return y

    return edit


def _future_max(values: Tensor, t: int) -> float:
    """Max over positions >= t of (B, T) values, averaged over the batch."""
    return float(values[:, t:].amax(dim=1).mean())


@register("skip_matrix", kind="diagnostic", paper=PAPER, arxiv="2505.13898")
def skip_matrix(model: nn.Module | Adapter, inputs: Tensor | Mapping, *, split: int | None = None,
                adapter: Adapter | None = None) -> SkipEffects:
    """The skip matrix and the output effect of skipping each block before position ``split``."""
    ad = adapter or adapt(model)
    net = model if isinstance(model, nn.Module) else None
    base = trace(ad, inputs, model=net)
    t = split if split is not None else base.inputs[0].shape[1] // 2
    n = ad.n_layers
    deltas = [(y - x).double() for x, y in zip(base.inputs, base.outputs, strict=True)]
    probs = base.logits.double().softmax(-1) if base.logits is not None else None
    matrix, output = np.full((n, n), np.nan), np.full(n, np.nan)
    for s in range(n):
        tr = trace(ad, inputs, model=net, edits={s: _skip_before(t)})
        for l in range(s + 1, n):
            change = ((tr.outputs[l] - tr.inputs[l]).double() - deltas[l]).norm(dim=-1)
            matrix[s, l] = _future_max(change / deltas[l].norm(dim=-1).clamp_min(1e-12), t)
        if probs is not None:
            output[s] = _future_max((tr.logits.double().softmax(-1) - probs).norm(dim=-1), t)
    return SkipEffects(tuple(ad.names), matrix, output, t)


def _tokens(inputs: Tensor | Mapping) -> Tensor:
    return inputs["input_ids"] if isinstance(inputs, Mapping) else inputs


def _lm_loss(logits: Tensor, tokens: Tensor) -> float:
    return float(F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).double(),
                                 tokens[:, 1:].reshape(-1)))


def removal_delta_loss(model: nn.Module | Adapter, inputs: Tensor | Mapping, *,
                       adapter: Adapter | None = None) -> np.ndarray:
    """Next-token loss with block ``s`` replaced by the identity, minus the intact loss, per ``s``."""
    ad = adapter or adapt(model)
    net = model if isinstance(model, nn.Module) else None
    base = trace(ad, inputs, model=net)
    if base.logits is None:
        raise ValueError(f"{ad.kind} model returns no logits: removal delta-loss needs a language model")
    tokens = _tokens(inputs)
    ref = _lm_loss(base.logits, tokens)
    out = np.empty(ad.n_layers)
    with torch.no_grad():
        for s in range(ad.n_layers):
            logits = trace(ad, inputs, model=net, edits={s: lambda x, y: x}).logits
            out[s] = _lm_loss(logits, tokens) - ref
    return out
