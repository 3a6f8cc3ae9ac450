"""SAM-GS: similarity-aware momentum gradient surgery (magnitude conflicts, not angles).

"Similarity-Aware Momentum Gradient Surgery" (SAM-GS), 2025, arXiv 2506.06130
(official code: ThomBors/samgs, ``methods/weight_methods.py::SAMGS``). Each step:

1. s = mean over pairs i < j of GMS_ij = 2|g_i||g_j| / (|g_i|^2 + |g_j|^2).
2. Per-task momentum m_i <- b1 m_i + (1 - b1) g_i (a full vector per task) and a scalar
   second moment v <- b2 v + (1 - b2)(1 - s)^2 + 1e-8; both bias-corrected.
3. If s < gamma (equalisation): g = sum_i g_i / |g_i| * mean_k |g_k|.
   Else (momentum modulation): g = sum_i g_i * |m_hat_i| / sqrt(v_hat), elementwise.
4. The result is K * g, as the official code writes it ("to match the sum loss").

Defaults: b1 = 0.9, b2 = 0.99, gamma = 0.7 (the paper's NYUv2, Cityscapes and CelebA setting;
its 2-D toys use gamma = 0.1). ``trigger="any"`` is the RL variant: equalise when any pair,
not the mean, is below gamma. The momentum branch is not scale-free: when s -> 1,
sqrt(v_hat) -> ~1e-3 and the gradient grows ~1000x. The official experiments use Adam (scale
invariant) and clip the shared gradient to norm 1 in their training loop; pair SAM-GS with
Adam, and clip separately if you need to (``torch.nn.utils.clip_grad_norm_``).

Example::

    >>> import torch
    >>> from layerwise.multiloss import SAMGS
    >>> agg = SAMGS()
    >>> g = agg(torch.tensor([[10.0, 0.0], [0.0, 0.1]]))  # GMS = 0.02 < 0.7: equalise
    >>> agg.last_branch, g
    ('equalise', tensor([10.1000, 10.1000]))
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.multiloss.base import check_matrix
from layerwise.multiloss.conflict import magnitude_similarity

_TINY = 1e-30


@register("samgs", kind="aggregator", paper="Similarity-Aware Momentum Gradient Surgery (SAM-GS, 2025)",
          arxiv="2506.06130")
class SAMGS:
    """Equalise gradient magnitudes when they differ (GMS < gamma), else modulate by momentum."""

    def __init__(self, *, gamma: float = 0.7, beta1: float = 0.9, beta2: float = 0.99,
                 trigger: Literal["mean", "any"] = "mean", scale_by_tasks: bool = True) -> None:
        if trigger not in ("mean", "any"):
            raise ValueError(f"trigger must be 'mean' or 'any', got {trigger!r}")
        self.gamma, self.beta1, self.beta2 = gamma, beta1, beta2
        self.trigger = trigger
        self.scale_by_tasks = scale_by_tasks
        self.m: Tensor | None = None  # (K, P) per-task momentum
        self.v: Tensor | None = None  # scalar second moment of (1 - s)
        self.t = 0
        self.last_branch: str | None = None
        self.last_similarity: Tensor | None = None

    @staticmethod
    def pair_similarities(grads: Tensor) -> Tensor:
        """GMS of every pair i < j, in the gradients' dtype."""
        k = grads.shape[0]
        if k < 2:
            return torch.ones(1, dtype=grads.dtype, device=grads.device)
        i, j = torch.triu_indices(k, k, offset=1, device=grads.device)
        return magnitude_similarity(grads)[i, j].to(grads.dtype)

    def __call__(self, grads: Tensor) -> Tensor:
        check_matrix(grads)
        g = grads.detach()
        k = g.shape[0]
        if self.m is None:
            self.m = torch.zeros_like(g)
            self.v = torch.zeros((), dtype=g.dtype, device=g.device)
        self.t += 1
        pairs = self.pair_similarities(g)
        s_mean = pairs.mean()
        self.m.lerp_(g, 1 - self.beta1)  # m <- b1 m + (1 - b1) g
        self.v = self.beta2 * self.v + (1 - self.beta2) * (1 - s_mean) ** 2 + 1e-8
        v_hat = self.v / (1 - self.beta2**self.t)
        s = s_mean if self.trigger == "mean" else pairs.min()
        self.last_similarity = s
        scale = float(k) if self.scale_by_tasks else 1.0
        if bool(s < self.gamma):  # one host sync per step: the branch
            self.last_branch = "equalise"
            norms = g.norm(dim=1)
            coef = norms.mean() * scale / norms.clamp_min(_TINY)  # (K,): g_i / |g_i| * mean |g|
            return coef.to(g.dtype) @ g
        self.last_branch = "momentum"
        # sum_i g_i * |m_i / (1 - b1^t)| / sqrt(v_hat), the scalars folded into one factor
        factor = scale / ((1 - self.beta1**self.t) * v_hat.sqrt())
        return self.m.abs().mul_(g).sum(0).mul_(factor)

    def state_dict(self) -> dict[str, Any]:
        return {"m": None if self.m is None else self.m.clone(),
                "v": None if self.v is None else self.v.clone(), "t": self.t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.m = None if state["m"] is None else state["m"].clone()
        self.v = None if state["v"] is None else state["v"].clone()
        self.t = int(state["t"])
