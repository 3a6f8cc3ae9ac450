"""Proximal matching loss: a shrinking-window loss whose minimiser tends to the posterior mode.

What's in a Prior? Learned Proximal Networks for Inverse Problems (Fang, Buchanan & Sulam, ICLR
2024, arXiv 2310.14344). For a denoiser's output ``f(y)`` and the clean signal ``x``::

    L_PM = mean over the batch of 1 - exp(-(|f(y) - x|_2 / gamma)^2)

(the norm over every non-batch dimension). The squared loss gives the posterior mean (MMSE), the
absolute loss the posterior median; as ``gamma -> 0`` the minimiser of L_PM tends to the posterior
mode, i.e. the MAP denoiser, the proximal operator of -log p(x) (up to the noise variance), so a
learned proximal network trained with it recovers the log-prior. ``gamma`` is annealed toward 0
(the paper's 1-D experiment: 0.5, 0.4, 0.3, 0.2, 0.1, after l1 pretraining). Limits: 0 at
``f(y) = x``; -> 1 far outside the window; ``gamma^2 L_PM -> mean |f(y) - x|^2`` as gamma -> inf.

Example::

    >>> import torch
    >>> from layerwise.nn import ProximalMatchingLoss
    >>> loss = ProximalMatchingLoss(gamma=0.5)
    >>> float(loss(torch.zeros(4, 1), torch.zeros(4, 1)))
    0.0
    >>> loss.gamma = 0.1                      # anneal between training stages
    >>> round(float(loss(torch.ones(4, 1), torch.zeros(4, 1))), 6)
    1.0
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.nn.lpn import ARXIV, PAPER


def proximal_matching_loss(pred: Tensor, target: Tensor, gamma: float) -> Tensor:
    """``mean(1 - exp(-(|pred - target| / gamma)^2))`` over the batch (dimension 0)."""
    if not isinstance(gamma, int | float) or isinstance(gamma, bool) or not gamma > 0:
        raise ValueError(f"gamma must be a number > 0 (the window width), got {gamma!r}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    if pred.dim() < 1 or pred.shape[0] < 1:
        raise ValueError(f"pred must have a non-empty batch dimension, got shape {tuple(pred.shape)}")
    sq = (pred - target).pow(2).reshape(pred.shape[0], -1).sum(1)
    return (-torch.expm1(-sq / gamma**2)).mean()  # 1 - exp(-s), accurate for small s


@register("proximal_matching", kind="module", paper=PAPER, arxiv=ARXIV)
class ProximalMatchingLoss(nn.Module):
    """:func:`proximal_matching_loss` with a settable ``gamma`` (anneal it between stages)."""

    def __init__(self, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma

    @property
    def gamma(self) -> float:
        return self._gamma

    @gamma.setter
    def gamma(self, value: float) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"gamma must be a number > 0 (the window width), got {value!r}")
        self._gamma = float(value)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return proximal_matching_loss(pred, target, self._gamma)

    def extra_repr(self) -> str:
        return f"gamma={self._gamma}"
