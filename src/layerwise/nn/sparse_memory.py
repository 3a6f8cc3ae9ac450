"""SparseMemoryLayer: a key-value memory read through a top-k sparse softmax.

Is the Reversal Curse a Binding Problem? (Boshi Wang, Huan Sun, 2025, arXiv 2504.01928). The
paper's memory variant of its JEPA replaces the first block by an MLP whose hidden layer has one
unit per concept and keeps only the top-k (k = 1) of ``c_fc(h) / sqrt(d)`` through a softmax
before ``c_proj``: each concept then reads its own slot, a disentangled representation, which
the paper reports improves reversal further. Here ``keys`` plays ``c_fc`` and ``values``
``c_proj``:

    ``scores = x keys^T / sqrt(d)``; ``out = softmax(top_k(scores)) values[top_k indices]``.

:meth:`init_keys` copies embeddings into the first keys (the paper initialises the keys from the
entity embeddings), so slot ``i`` answers concept ``i``; ``value_only=True`` freezes the keys (the
paper's ``memory_block_value_only``). With ``top_k = 1`` the weight is always 1, so the keys only
route and receive no gradient anyway.

Example::

    >>> import torch
    >>> from layerwise.nn import SparseMemoryLayer
    >>> memory = SparseMemoryLayer(4, num_slots=3, top_k=1)
    >>> memory.init_keys(torch.eye(4)[:3] * 10)
    >>> out = memory(torch.eye(4)[:3])            # each row reads its own slot
    >>> torch.allclose(out, memory.values.detach())
    True
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from layerwise._registry import register


@register("sparse_memory", kind="module",
          paper="Is the Reversal Curse a Binding Problem? (Wang, Sun, 2025)", arxiv="2504.01928")
class SparseMemoryLayer(nn.Module):
    """``num_slots`` key-value slots of width ``d_model``; each input reads the ``top_k`` slots
    whose keys match it best, weighted by a softmax over those scores only."""

    def __init__(self, d_model: int, num_slots: int, *, top_k: int = 1, value_only: bool = False,
                 init_std: float = 0.02) -> None:
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"d_model must be an int >= 1, got {d_model!r}")
        if not isinstance(num_slots, int) or num_slots < 1:
            raise ValueError(f"num_slots must be an int >= 1, got {num_slots!r}")
        if not isinstance(top_k, int) or not 1 <= top_k <= num_slots:
            raise ValueError(f"top_k must be an int in [1, num_slots={num_slots}], got {top_k!r}")
        self.top_k = top_k
        self.keys = nn.Parameter(torch.randn(num_slots, d_model) * init_std)
        self.values = nn.Parameter(torch.randn(num_slots, d_model) * init_std)
        self.keys.requires_grad_(not value_only)

    @torch.no_grad()
    def init_keys(self, embeddings: Tensor) -> None:
        """Copy ``embeddings`` (n, d_model), n <= num_slots, into the first n keys."""
        if embeddings.dim() != 2 or embeddings.shape[1] != self.keys.shape[1]:
            raise ValueError(f"embeddings must have shape (n, {self.keys.shape[1]}), got "
                             f"{tuple(embeddings.shape)}")
        if len(embeddings) > len(self.keys):
            raise ValueError(f"{len(embeddings)} embeddings exceed num_slots={len(self.keys)}")
        self.keys[: len(embeddings)] = embeddings.to(self.keys)

    def forward(self, x: Tensor) -> Tensor:
        """(..., d_model) -> (..., d_model)."""
        if x.shape[-1] != self.keys.shape[1]:
            raise ValueError(f"x must end in d_model={self.keys.shape[1]}, got {tuple(x.shape)}")
        scores = x @ self.keys.T / math.sqrt(x.shape[-1])
        top, index = scores.topk(self.top_k, dim=-1)
        weights = top.softmax(dim=-1)
        return (weights.unsqueeze(-1) * self.values[index]).sum(-2)

    def extra_repr(self) -> str:
        slots, d = self.keys.shape
        return f"d_model={d}, num_slots={slots}, top_k={self.top_k}, value_only={not self.keys.requires_grad}"
