"""GCond: arbitrated, angle-graded conflict resolution on accumulated task gradients.

"GCond: Gradient Conflict Resolution via Accumulation-based Stabilization for Large-Scale
Multi-Task Learning", 2025, arXiv 2509.07252 (official code: AlevLab-dev/GCond,
``grad_conductor.py``). This file is the resolution step, as an aggregator on the (K, P)
matrix of *accumulated* task gradients; ``GCondTrainer`` (gcond_trainer.py) does the
accumulation (stochastic or classical mode, model in eval mode) and calls it.

Each call:

1. Per-task norm EMA (beta 0.95, starting at 1.0); optional per-task norm cap.
2. Up to ``max_iters`` (default 2K) times: take the pair with the lowest cosine below ``weak``
   (stop if none); the arbitrator picks a winner: if one task won all of the last
   ``dominance_window`` (3) conflicts the other wins, else the higher score
   0.8 max(0, cos(g_k, g_k_prev)) + 0.2 (|g_k| / ema_k) / sum_j (|g_j| / ema_j) wins
   (g_k_prev: the task's resolved gradient from the previous call).
3. Smooth resolution (default): the cosine c maps to an angle a (``effective_angle``): pi/2 (1 - t)
   above ``main`` (t = (c - main) / (weak - main)), pi/2 + pi/2 ((c - main) / (crit - main))^2
   between ``crit`` and ``main``, pi below ``crit``. Then, simultaneously,
   g_w -= sin(a) <g_w,g_l> / |g_l|^2 g_l and g_l -= sin(min(a, pi/2)) <g_w,g_l> / |g_w|^2 g_w.
   At a = pi the winner is kept and the loser fully projected; at pi/2 both are projected.
   ``smooth=False`` is the legacy 4-zone rule: below crit the loser is zeroed, below main it is
   projected on the winner (PCGrad), below weak both are projected symmetrically.
4. Sum of the resolved task gradients, then momentum m <- 0.85 m + 0.15 g, bias-corrected
   (``momentum_beta=None`` returns the raw sum). The README pairs this with AdamW betas=(0.0, 0.95).

Differences from the official code: accumulators are kept in the gradients' dtype (not bf16);
a pair within 1e-4 of ``weak`` counts as resolved (float noise, see ``_COS_TOL``); the optional
Lion/trust-ratio update is left out (use a Lion optimizer instead).

Example::

    >>> import torch
    >>> from layerwise.multiloss import GCond
    >>> agg = GCond(momentum_beta=None)
    >>> agg(torch.tensor([[2.0, 0.0], [-1.0, 0.01]]))  # c ~ -1: the loser is projected away
    tensor([2.0000, 0.0100])
    >>> agg.last_stats["winners"]
    [0]
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.multiloss.base import check_matrix

# Pairs whose cosine is within this of ``weak`` count as resolved: the float32 rounding left by a
# projection (cos ~ -1e-6 instead of 0) would otherwise re-trigger the arbitrator and fill its
# dominance history with no-op wins (the resolution itself would move g by sin(3e-4) at most).
_COS_TOL = 1e-4

GCOND_PAPER = ("GCond: Gradient Conflict Resolution via Accumulation-based Stabilization "
               "for Large-Scale Multi-Task Learning (2025)")


def effective_angle(cos: float, thresholds: tuple[float, float, float] = (-0.8, -0.5, 0.0),
                    power: float = 2.0, eps: float = 1e-8) -> float:
    """GCond's smooth map from a cosine to an effective conflict angle in [0, pi]."""
    crit, main, weak = thresholds
    c = min(max(cos, -1.0), 1.0)
    if c >= main:
        t = min(max((c - main) / (weak - main + eps), 0.0), 1.0)
        return math.pi / 2 * (1.0 - t)
    if c > crit:
        t = (c - main) / (crit - main + eps)
        return math.pi / 2 + math.pi / 2 * t**power
    return math.pi


def resolve_pair(g_w: Tensor, g_l: Tensor, cos: float, *,
                 thresholds: tuple[float, float, float] = (-0.8, -0.5, 0.0),
                 power: float = 2.0, smooth: bool = True, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Resolve one conflict between winner ``g_w`` and loser ``g_l`` (new tensors; inputs untouched)."""
    crit, main, weak = thresholds
    dot = float(g_w @ g_l)
    nw, nl = float(g_w @ g_w), float(g_l @ g_l)
    if smooth:
        a = effective_angle(cos, thresholds, power, eps)
        s_w, s_l = math.sin(a), math.sin(min(a, math.pi / 2))
        return g_w - s_w * dot / (nl + eps) * g_l, g_l - s_l * dot / (nw + eps) * g_w
    if cos < crit:
        return g_w.clone(), torch.zeros_like(g_l)
    if cos < main:
        return g_w.clone(), g_l - dot / (nw + eps) * g_w
    if cos < weak:
        return g_w - dot / (nl + eps) * g_l, g_l - dot / (nw + eps) * g_w
    return g_w.clone(), g_l.clone()


@register("gcond", kind="aggregator", paper=GCOND_PAPER, arxiv="2509.07252")
class GCond:
    """Gradient Conductor: arbitrated, angle-graded projection of conflicting task gradients."""

    def __init__(self, *, thresholds: tuple[float, float, float] = (-0.8, -0.5, 0.0),
                 remap_power: float = 2.0, smooth: bool = True, dominance_window: int = 3,
                 tie_breaking: tuple[float, float] = (0.8, 0.2),
                 norm_ema_beta: float = 0.95, norm_cap: float | None = None, max_iters: int | None = None,
                 momentum_beta: float | None = 0.85, eps: float = 1e-8) -> None:
        if not thresholds[0] <= thresholds[1] <= thresholds[2]:
            raise ValueError(f"thresholds must be (crit <= main <= weak), got {thresholds}")
        if momentum_beta is not None and not 0.0 <= momentum_beta < 1.0:
            raise ValueError("momentum_beta must be in [0, 1) or None")
        self.thresholds, self.remap_power, self.smooth = tuple(thresholds), remap_power, smooth
        self.dominance_window, self.tie_breaking = dominance_window, tie_breaking
        self.norm_ema_beta, self.norm_cap, self.max_iters = norm_ema_beta, norm_cap, max_iters
        self.momentum_beta, self.eps = momentum_beta, eps
        self.history: deque[int] = deque(maxlen=dominance_window)
        self.norm_ema: list[float] | None = None
        self.prev: Tensor | None = None
        self.m: Tensor | None = None
        self.step = 0
        self.last_stats: dict[str, Any] = {}

    def arbitrate(self, i: int, j: int, g: Tensor) -> tuple[int, int]:
        """(winner, loser) of the conflict between tasks i and j (rows of the current matrix g)."""
        w = self.dominance_window
        if w > 0 and len(self.history) == w:
            if all(h == i for h in self.history):
                return j, i
            if all(h == j for h in self.history):
                return i, j
        norms = torch.stack([g[i].norm(), g[j].norm()])
        if self.prev is None:
            stab = torch.zeros(2, dtype=g.dtype, device=g.device)
        else:
            dots = torch.stack([g[i] @ self.prev[i], g[j] @ self.prev[j]])
            prev_norms = torch.stack([self.prev[i].norm(), self.prev[j].norm()])
            stab = dots / (norms * prev_norms + self.eps)
        ema = torch.tensor([self.norm_ema[i], self.norm_ema[j]], dtype=g.dtype, device=g.device)
        scaled = norms / (ema + self.eps)
        strength = scaled / (scaled.sum() + self.eps)
        score = (self.tie_breaking[0] * stab.clamp_min(0) + self.tie_breaking[1] * strength).tolist()
        return (j, i) if score[1] > score[0] else (i, j)

    def _worst_pair(self, g: Tensor) -> tuple[int, int, float] | None:
        gram = (g @ g.T).double().cpu()
        sq = gram.diagonal()
        worst = None
        lowest = self.thresholds[2] - _COS_TOL
        for i in range(g.shape[0]):
            for j in range(i + 1, g.shape[0]):
                if sq[i] < self.eps or sq[j] < self.eps:
                    continue
                cos = float(gram[i, j] / ((sq[i] * sq[j]).sqrt() + self.eps))
                if cos < lowest:
                    lowest, worst = cos, (i, j, cos)
        return worst

    def resolve(self, grads: Tensor) -> Tensor:
        """The (K, P) matrix of resolved task gradients; updates the arbitrator's state."""
        check_matrix(grads)
        g = grads.detach().clone()
        k = g.shape[0]
        raw = g.norm(dim=1).tolist()
        if self.norm_ema is None:
            self.norm_ema = [1.0] * k
        b = self.norm_ema_beta
        self.norm_ema = [max(b * e + (1 - b) * r, self.eps) for e, r in zip(self.norm_ema, raw, strict=True)]
        if self.norm_cap is not None:
            norms = torch.tensor(raw, dtype=g.dtype, device=g.device)
            g *= (self.norm_cap / (norms + self.eps)).clamp(max=1.0)[:, None]
        stats: dict[str, Any] = {"min_cos": 1.0, "proj_iters": 0, "winners": [], "raw_norms": raw}
        for it in range(self.max_iters or 2 * k):
            pair = self._worst_pair(g)
            if pair is None:
                break
            i, j, cos = pair
            if it == 0:
                stats["min_cos"] = cos
            stats["proj_iters"] = it + 1
            if self.smooth or cos < self.thresholds[1]:
                win, lose = self.arbitrate(i, j, g)
                self.history.append(win)
                stats["winners"].append(win)
            else:  # legacy weak zone: symmetric, no winner
                win, lose = i, j
            g[win], g[lose] = resolve_pair(g[win], g[lose], cos, thresholds=self.thresholds,
                                           power=self.remap_power, smooth=self.smooth, eps=self.eps)
        self.prev = g.clone()
        self.last_stats = stats
        return g

    def __call__(self, grads: Tensor) -> Tensor:
        total = self.resolve(grads).sum(0)
        self.step += 1
        beta = self.momentum_beta
        if not beta:
            return total
        if self.m is None:
            self.m = torch.zeros_like(total)
        self.m.mul_(beta).add_(total, alpha=1 - beta)
        return self.m / (1 - beta**self.step)

    def state_dict(self) -> dict[str, Any]:
        def clone(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.clone()

        return {"history": list(self.history), "norm_ema": self.norm_ema, "prev": clone(self.prev),
                "m": clone(self.m), "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque(state["history"], maxlen=self.dominance_window)
        self.norm_ema = None if state["norm_ema"] is None else list(state["norm_ema"])
        self.prev = None if state["prev"] is None else state["prev"].clone()
        self.m = None if state["m"] is None else state["m"].clone()
        self.step = int(state["step"])
