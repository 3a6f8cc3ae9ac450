"""Smooth random sequence-to-sequence maps: fixed, seeded targets for approximation studies.

The target of the tiny reproduction in Universal Approximation Theorem for a Single-Layer
Transformer (Gumaan, 2025, arXiv 2507.10581; shared/papers/SPECS-A.md section 11): on ``seq_len``
tokens ``x_i`` in [-1, 1]^in_dim, output token i is the sum of three smooth random-feature terms,

* per-token:  ``U1 tanh(W1 x_i + c1)``,
* global mean: ``U2 tanh(W2 mean_j x_j + c2)``,
* position:   ``U3 tanh(W3 x_i + P_i + c3)``, with a fixed random offset ``P_i`` per position,

each scaled by its amplitude (``token``, ``mean``, ``position``). The first two terms are
permutation-equivariant; the third is not, so with ``position > 0`` no permutation-equivariant
model (a transformer without positional encodings) can fit the map exactly.

Example::

    >>> import torch
    >>> from layerwise.data import smooth_seq_map
    >>> f = smooth_seq_map(seq_len=4, in_dim=2, out_dim=2, seed=0)
    >>> f(torch.rand(8, 4, 2) * 2 - 1).shape
    torch.Size([8, 4, 2])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from layerwise._registry import register


class SmoothSeqMap:
    """A frozen random map (N, seq_len, in_dim) -> (N, seq_len, out_dim); see the module doc."""

    def __init__(self, *, seq_len: int, in_dim: int, out_dim: int, hidden: int, scale: float,
                 amplitudes: tuple[float, float, float], generator: torch.Generator) -> None:
        self.seq_len, self.in_dim, self.out_dim = seq_len, in_dim, out_dim
        self.amplitudes = amplitudes

        def features() -> tuple[Tensor, Tensor, Tensor]:
            w = torch.randn(in_dim, hidden, generator=generator, dtype=torch.float64) * scale
            c = torch.randn(hidden, generator=generator, dtype=torch.float64)
            u = torch.randn(hidden, out_dim, generator=generator, dtype=torch.float64) / math.sqrt(hidden)
            return w, c, u

        self.token, self.mean, self.position = features(), features(), features()
        self.offsets = torch.randn(seq_len, hidden, generator=generator, dtype=torch.float64)

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.seq_len, self.in_dim):
            raise ValueError(f"x must have shape (N, {self.seq_len}, {self.in_dim}), got {tuple(x.shape)}")
        z = x.to(torch.float64)
        a_tok, a_mean, a_pos = self.amplitudes
        (w1, c1, u1), (w2, c2, u2), (w3, c3, u3) = self.token, self.mean, self.position
        y = a_tok * torch.tanh(z @ w1 + c1) @ u1
        y = y + a_mean * torch.tanh(z.mean(dim=1, keepdim=True) @ w2 + c2) @ u2
        y = y + a_pos * torch.tanh(z @ w3 + self.offsets + c3) @ u3
        return y.to(x.dtype)


@register("smooth_seq_map", kind="dataset",
          paper="Universal Approximation Theorem for a Single-Layer Transformer (Gumaan, 2025)",
          arxiv="2507.10581")
def smooth_seq_map(*, seq_len: int = 4, in_dim: int = 2, out_dim: int = 2, hidden: int = 16,
                   scale: float = 1.5, token: float = 1.0, mean: float = 1.0, position: float = 1.0,
                   seed: int = 0) -> SmoothSeqMap:
    """A smooth random seq-to-seq map, fixed by ``seed``: ``hidden`` tanh features per term,
    input weights of std ``scale`` (higher: wigglier), term amplitudes ``token``/``mean``/``position``
    (``position=0`` gives a permutation-equivariant map). Computed in float64, returned in the
    input's dtype."""
    for name, value in (("seq_len", seq_len), ("in_dim", in_dim), ("out_dim", out_dim), ("hidden", hidden)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    amplitudes = (float(token), float(mean), float(position))
    if not all(math.isfinite(a) for a in amplitudes):
        raise ValueError(f"token, mean and position must be finite, got {amplitudes}")
    return SmoothSeqMap(seq_len=seq_len, in_dim=in_dim, out_dim=out_dim, hidden=hidden, scale=scale,
                        amplitudes=amplitudes, generator=torch.Generator().manual_seed(seed))
