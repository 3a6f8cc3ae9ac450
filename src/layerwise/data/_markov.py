"""Synthetic token streams from a random order-k Markov chain with a known loss floor."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.data._types import TextCorpus, check_fraction

MAX_TABLE = 2**24  # entries of the transition table (vocab_size ** (order + 1))


@dataclass(frozen=True)
class MarkovCorpus(TextCorpus):
    """A :class:`TextCorpus` of int64 tokens sampled from a known Markov chain.

    ``transition`` is float64 ``(vocab_size ** order, vocab_size)``: row ``c`` is the
    next-token distribution after context ``c = sum_j tok[t - order + j] * V ** (order - 1 - j)``
    (most recent token least significant). ``entropy_rate`` is the conditional entropy in nats
    under the context frequencies of the sample: the lowest achievable next-token loss.
    """

    transition: Tensor
    order: int
    entropy_rate: float

    def decode(self, tokens: Tensor) -> str:
        """Tokens as space-separated integers (they are not bytes)."""
        return " ".join(str(t) for t in tokens.flatten().tolist())


def _sample_chain(cdf: np.ndarray, n_tokens: int, order: int, gen: torch.Generator) -> Tensor:
    vocab, n_ctx = cdf.shape[1], cdf.shape[0]
    tokens = torch.randint(0, vocab, (order,), generator=gen).tolist()
    uniforms = torch.rand(n_tokens, generator=gen, dtype=torch.float64).tolist()
    ctx = 0
    for tok in tokens:
        ctx = ctx * vocab + tok
    rows: dict[int, list[float]] = {}
    for i in range(order, n_tokens):
        row = rows.get(ctx)
        if row is None:
            row = rows[ctx] = cdf[ctx].tolist()
        tok = bisect.bisect_right(row, uniforms[i])
        tokens.append(tok)
        ctx = (ctx * vocab + tok) % n_ctx
    return torch.tensor(tokens, dtype=torch.int64)


def context_ids(tokens: Tensor, *, vocab_size: int, order: int) -> Tensor:
    """int64 ``(len(tokens) - order,)``: the context index preceding each token from ``order`` on."""
    n = len(tokens) - order
    ctx = torch.zeros(n, dtype=torch.int64)
    for j in range(order):
        ctx = ctx * vocab_size + tokens[j : j + n]
    return ctx


def _entropy_rate(tokens: Tensor, transition: Tensor, order: int) -> float:
    ctx = context_ids(tokens, vocab_size=transition.shape[1], order=order)
    freq = torch.bincount(ctx, minlength=transition.shape[0]).double() / len(ctx)
    row_entropy = -torch.special.xlogy(transition, transition).sum(dim=1)
    return float((freq * row_entropy).sum())


def _check(vocab_size: int, n_tokens: int, order: int, concentration: float) -> None:
    if vocab_size < 2 or order < 1 or concentration <= 0:
        raise ValueError(
            f"need vocab_size >= 2, order >= 1, concentration > 0; "
            f"got {vocab_size}, {order}, {concentration}"
        )
    if vocab_size ** (order + 1) > MAX_TABLE:
        raise ValueError(f"vocab_size ** (order + 1) = {vocab_size ** (order + 1)} > {MAX_TABLE}")
    if n_tokens <= order + 1:
        raise ValueError(f"n_tokens must exceed order + 1, got {n_tokens}")


@register("markov_tokens", kind="dataset", paper="-")
def markov_tokens(
    *,
    vocab_size: int = 64,
    n_tokens: int = 200_000,
    order: int = 1,
    concentration: float = 0.5,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> MarkovCorpus:
    """A token stream sampled from a random order-``order`` Markov chain, with its loss floor.

    Each context's next-token row is drawn from Dirichlet(``concentration``) (small values give
    peaked, sparse-ish rows); the first ``order`` tokens are uniform. ``val`` is the last
    ``int(n_tokens * val_fraction)`` tokens. Seeded by a local torch generator (the Dirichlet
    draw uses a numpy generator seeded from it); the global RNGs are untouched.

    Returns:
        ``MarkovCorpus``: ``train``/``val`` int64 1-D in [0, vocab_size), ``transition``,
        ``entropy_rate`` (nats); ``batch`` works as for ``TextCorpus``.
    """
    _check(vocab_size, n_tokens, order, concentration)
    check_fraction(val_fraction, "val_fraction", allow_zero=True)
    gen = torch.Generator().manual_seed(seed)
    numpy_seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    rng = np.random.default_rng(numpy_seed)
    table = rng.dirichlet(np.full(vocab_size, float(concentration)), size=vocab_size**order)
    cdf = np.cumsum(table, axis=1)
    cdf[:, -1] = 1.0
    tokens = _sample_chain(cdf, n_tokens, order, gen)
    transition = torch.from_numpy(table)
    n_train = n_tokens - int(n_tokens * val_fraction)
    return MarkovCorpus(
        train=tokens[:n_train].clone(),
        val=tokens[n_train:].clone(),
        vocab_size=vocab_size,
        name=f"markov(vocab={vocab_size},order={order})",
        transition=transition,
        order=order,
        entropy_rate=_entropy_rate(tokens, transition, order),
    )
