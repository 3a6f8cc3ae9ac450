"""Repeated random sequences: the second half is predictable only by copying (induction)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise._registry import register

IGNORE_INDEX = -100  # the default ignore_index of torch.nn.functional.cross_entropy


@dataclass(frozen=True)
class InductionTask:
    """Sequences ``[p, p]`` made of a random prefix ``p`` of length ``seq_len // 2``, repeated.

    Fields:
        x: int64 ``(n_seq, seq_len)`` tokens in [0, vocab_size).
        y: int64 ``(n_seq, seq_len)`` next-token targets ``y[:, t] = x[:, t + 1]``; the last
            position has no target and holds ``IGNORE_INDEX`` (-100).
        mask: bool ``(n_seq, seq_len)``, True at positions ``t >= seq_len // 2`` with a target:
            there the current token was seen at ``t - seq_len // 2`` and the target is the token
            that followed it, so an induction (copy) mechanism predicts it exactly. Position
            ``seq_len // 2 - 1`` (whose target starts the repeat) is left out: it is
            predictable only by counting positions.
    """

    x: Tensor
    y: Tensor
    mask: Tensor
    vocab_size: int
    name: str

    def copy_accuracy(self, logits: Tensor, *, rows: Tensor | None = None) -> float:
        """Share of masked positions where ``logits.argmax(-1)`` equals the target.

        Args:
            logits: float ``(B, seq_len, V)`` for the sequences ``rows`` (default: all, B = n_seq).
            rows: int64 ``(B,)`` indices of the sequences the logits belong to.
        """
        y, mask = (self.y, self.mask) if rows is None else (self.y[rows], self.mask[rows])
        if logits.dim() != 3 or logits.shape[:2] != y.shape:
            raise ValueError(
                f"logits must be (B, seq_len, V) with (B, seq_len) = {tuple(y.shape)}, "
                f"got {tuple(logits.shape)}"
            )
        correct = logits.argmax(dim=-1) == y
        return float(correct[mask].float().mean())


@register(
    "induction",
    kind="dataset",
    paper="In-context Learning and Induction Heads (Olsson et al., 2022)",
    arxiv="2209.11895",
)
def induction(
    *, n_seq: int = 1024, seq_len: int = 64, vocab_size: int = 32, seed: int = 0
) -> InductionTask:
    """Random prefixes followed by their exact repeat, with copyable-target mask.

    Prefix tokens are i.i.d. uniform over ``vocab_size`` (drawn with a local generator
    seeded by ``seed``), so the first half is unpredictable and the second half is
    predictable only by copying. ``seq_len`` must be even and >= 4.

    Returns:
        ``InductionTask`` with ``x``, ``y`` int64 and ``mask`` bool, all ``(n_seq, seq_len)``.
    """
    if seq_len < 4 or seq_len % 2:
        raise ValueError(f"seq_len must be even and >= 4, got {seq_len}")
    if n_seq < 1 or vocab_size < 2:
        raise ValueError(f"need n_seq >= 1 and vocab_size >= 2, got {n_seq}, {vocab_size}")
    half = seq_len // 2
    gen = torch.Generator().manual_seed(seed)
    prefix = torch.randint(0, vocab_size, (n_seq, half), generator=gen)
    x = torch.cat([prefix, prefix], dim=1)
    y = torch.full_like(x, IGNORE_INDEX)
    y[:, :-1] = x[:, 1:]
    position = torch.arange(seq_len)
    mask = ((position >= half) & (position < seq_len - 1)).expand(n_seq, seq_len).clone()
    return InductionTask(
        x=x, y=y, mask=mask, vocab_size=vocab_size, name=f"induction(T={seq_len},V={vocab_size})"
    )
