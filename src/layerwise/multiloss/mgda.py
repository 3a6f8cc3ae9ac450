"""MGDA: the minimum-norm point in the convex hull of the task gradients.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
arXiv 1810.04650. The common descent direction is d = sum_i a_i g_i with
a = argmin_{a in simplex} |sum_i a_i g_i|^2 (Désidéri's MGDA). For K = 2 the minimiser is in
closed form (Algorithm 1); for K > 2 the paper's Frank-Wolfe solver (Algorithm 2) runs on the
K x K Gram matrix: start from uniform weights, move toward the vertex e_t with the smallest
(M a)_t by the exact line search of Algorithm 1, stop when the step is below ``tol``.

The result is the min-norm point itself (not rescaled by K), as in torchjd's ``MGDA``.
The paper's MGDA-UB variant (gradients of the shared representation instead of the shared
parameters) is a choice of what to differentiate, not of the aggregator: pass the
representation's per-loss gradients to get it.

Example::

    >>> import torch
    >>> from layerwise.multiloss import MGDA
    >>> MGDA()(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    tensor([0.4000, 0.8000])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.multiloss.base import check_matrix


def _line_search(aa: float, bb: float, ab: float) -> float:
    """gamma in [0, 1] minimising |(1 - gamma) a + gamma b|^2 given a.a, b.b and a.b."""
    if ab >= aa:  # a is already the min-norm point of the segment
        return 0.0
    if ab >= bb:
        return 1.0
    return (aa - ab) / (aa + bb - 2 * ab)


def min_norm_weights(gram: Tensor, *, max_iter: int = 250, tol: float = 1e-5) -> Tensor:
    """Simplex weights (K,) of the min-norm convex combination, from the Gram matrix G G^T."""
    m = gram.detach().double().cpu()
    k = m.shape[0]
    if k == 1:
        return torch.ones(1, dtype=torch.float64)
    if k == 2:
        gamma = _line_search(float(m[0, 0]), float(m[1, 1]), float(m[0, 1]))
        return torch.tensor([1.0 - gamma, gamma], dtype=torch.float64)
    a = torch.full((k,), 1.0 / k, dtype=torch.float64)
    for _ in range(max_iter):
        ma = m @ a
        t = int(torch.argmin(ma))
        gamma = _line_search(float(a @ ma), float(m[t, t]), float(ma[t]))
        new = (1 - gamma) * a
        new[t] += gamma
        if float((new - a).abs().sum()) < tol:
            return new
        a = new
    return a


@register("mgda", kind="aggregator",
          paper="Multi-Task Learning as Multi-Objective Optimization (Sener & Koltun, 2018)",
          arxiv="1810.04650")
class MGDA:
    """Minimum-norm convex combination of the task gradients (Frank-Wolfe; exact for K = 2)."""

    def __init__(self, *, max_iter: int = 250, tol: float = 1e-5) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.last_weights: Tensor | None = None

    def __call__(self, grads: Tensor) -> Tensor:
        check_matrix(grads)
        weights = min_norm_weights(grads @ grads.T, max_iter=self.max_iter, tol=self.tol)
        self.last_weights = weights
        return weights.to(device=grads.device, dtype=grads.dtype) @ grads

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
