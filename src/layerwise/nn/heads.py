"""Projection heads and the pre/post-projection linear-probe comparison.

Investigating the Benefits of Projection Head for Representation Learning (Xue, Gan, Ni, Joshi &
Mirzasoleiman, ICLR 2024, arXiv 2403.11391): training weights features progressively more
unequally with depth, so the representation *before* the projection head keeps features that
the training objective does not need; it transfers better when the downstream task is
misaligned with the training objective (e.g. fine labels after coarse-label training).

* :class:`ProjectionHead`: the usual 2-layer MLP head, Linear - ReLU - Linear.
* :class:`ReweightHead`: the fixed, non-trainable diagonal head ``z_i = x_i * kappa**(-i)``.
* :func:`pre_post_probe`: linear-probe accuracy of a label from the encoder output (pre) and
  from the head output (post), with :func:`layerwise.analysis.probe_accuracy`.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn.heads import ReweightHead, ProjectionHead
    >>> ReweightHead(3, kappa=2.0)(torch.ones(1, 3))
    tensor([[1.0000, 0.5000, 0.2500]])
    >>> ProjectionHead(8, 4, hidden=16)(torch.randn(2, 8)).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register

PAPER = ("Investigating the Benefits of Projection Head for Representation Learning "
         "(Xue et al., ICLR 2024)", "2403.11391")


@register("projection_head", kind="module", paper=PAPER[0], arxiv=PAPER[1])
class ProjectionHead(nn.Module):
    """Linear(in_dim, hidden) - ReLU - Linear(hidden, out_dim); the paper's code uses hidden 2048."""

    def __init__(self, in_dim: int, out_dim: int, *, hidden: int = 2048) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


@register("reweight_head", kind="module", paper=PAPER[0], arxiv=PAPER[1])
class ReweightHead(nn.Module):
    """Fixed diagonal head ``z = x * w`` with ``w_i = kappa**(-i)``, i = 0..dim-1 (a buffer).

    ``kappa = 1`` is the identity; larger ``kappa`` down-weights later features geometrically.
    Note that a z-scored linear probe cannot see a diagonal rescaling: the head acts on the
    encoder only through training.
    """

    def __init__(self, dim: int, *, kappa: float = 1.2) -> None:
        super().__init__()
        if kappa <= 0:
            raise ValueError(f"kappa must be > 0, got {kappa}")
        self.kappa = float(kappa)
        powers = torch.arange(dim, dtype=torch.float64)
        self.register_buffer("weight", (self.kappa ** -powers).float())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight

    def extra_repr(self) -> str:
        return f"dim={self.weight.numel()}, kappa={self.kappa}"


@torch.no_grad()
def pre_post_features(encoder: Callable[[Tensor], Tensor], head: Callable[[Tensor], Tensor],
                      x: Tensor, *, batch_size: int = 1024) -> dict[str, Tensor]:
    """``{"pre": encoder(x), "post": head(encoder(x))}``, computed in batches without gradients."""
    pre, post = [], []
    for start in range(0, len(x), batch_size):
        h = encoder(x[start:start + batch_size])
        pre.append(h.flatten(1).float().cpu())
        post.append(head(h).flatten(1).float().cpu())
    return {"pre": torch.cat(pre), "post": torch.cat(post)}


@register("pre_post_probe", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def pre_post_probe(encoder: Callable[[Tensor], Tensor], head: Callable[[Tensor], Tensor], x: Tensor,
                   labels: Any, *, folds: int = 5, seed: int = 0, **probe_kwargs: Any) -> dict[str, float]:
    """Held-out linear-probe accuracy of ``labels`` before ("pre") and after ("post") the head.

    Also returns ``"gap" = pre - post`` (the paper expects it positive under task misalignment).
    Modules are put in eval mode for the features and restored afterwards.
    """
    from layerwise.analysis import probe_accuracy

    modes = [(m, m.training) for m in (encoder, head) if isinstance(m, nn.Module)]
    for m, _ in modes:
        m.eval()
    try:
        feats = pre_post_features(encoder, head, x)
    finally:
        for m, mode in modes:
            m.train(mode)
    acc = probe_accuracy(feats, labels, folds=folds, seed=seed, **probe_kwargs)
    return {"pre": acc["pre"][0], "post": acc["post"][0], "gap": acc["pre"][0] - acc["post"][0]}
