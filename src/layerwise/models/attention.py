"""Multi-head self-attention with an explicit path whose probabilities hooks can capture.

The default path calls ``F.scaled_dot_product_attention`` and never materialises the attention
matrix. With ``explicit = True`` (set for one call by :func:`capture_attention`, or permanently by
the user) the module computes ``softmax(masked q k^T / sqrt(d_head))`` itself and passes the
scaled, masked logits through the ``nn.Identity`` submodule ``logits`` and the probabilities
through ``probs``: hook points, as in TransformerLens, so a forward hook on
``blocks.N.attn.probs`` sees the (B, n_head, T, T) probabilities. ``q_norm`` and ``k_norm``
(identity unless :func:`layerwise.nn.add_qk_norm` set them) act on each head's queries and keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttention(nn.Module):
    """Multi-head self-attention: fused ``qkv`` projection, output projection ``proj``."""

    def __init__(
        self,
        d_model: int,
        n_head: int,
        *,
        causal: bool = True,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        self.n_head = n_head
        self.causal = causal
        self.dropout = dropout
        self.explicit = False
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.q_norm: nn.Module = nn.Identity()
        self.k_norm: nn.Module = nn.Identity()
        self.logits = nn.Identity()
        self.probs = nn.Identity()
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        shape = (b, t, self.n_head, d // self.n_head)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        return self.q_norm(q), self.k_norm(k), v

    def _explicit(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        t = q.shape[-2]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        probs = self.probs(self.logits(scores).softmax(dim=-1))
        return self.attn_drop(probs) @ v

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self._heads(x)
        if self.explicit:
            y = self._explicit(q, k, v)
        else:
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(x.shape))

    def extra_repr(self) -> str:
        return f"n_head={self.n_head}, causal={self.causal}"


@contextmanager
def capture_attention(modules: Iterable[SelfAttention]) -> Iterator[list[Tensor]]:
    """Switch ``modules`` to the explicit path and collect their probabilities, in call order.

    Hooks and flags are restored on exit, so nothing outlives the ``with`` block except the
    yielded list.
    """
    modules = list(modules)
    saved = [m.explicit for m in modules]
    captured: list[Tensor] = []
    handles = []
    try:
        for m in modules:
            m.explicit = True
            handles.append(m.probs.register_forward_hook(lambda _m, _i, out: captured.append(out)))
        yield captured
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(modules, saved, strict=True):
            m.explicit = flag
