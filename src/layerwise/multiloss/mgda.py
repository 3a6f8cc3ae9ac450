"""MGDA: the minimum-norm point in the convex hull of the task gradients.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
arXiv 1810.04650. The common descent direction is d = sum_i a_i g_i with
a = argmin_{a in simplex} |sum_i a_i g_i|^2 (Désidéri's MGDA). For K = 2 the minimiser is in
closed form (Algorithm 1). For 2 < K <= ``exact_max_k`` an active-set solver on the K x K Gram
matrix returns the exact minimiser (up to float64 rounding; ``layerwise.multiloss.min_norm``); above
that the paper's Frank-Wolfe solver (Algorithm 2) runs for at most ``max_iter`` steps, stops when
its step is below ``tol`` and warns when it did not get there.

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

from torch import Tensor

from layerwise._registry import register
from layerwise.multiloss.base import check_matrix
from layerwise.multiloss.min_norm import gram64, min_norm_weights

__all__ = ["MGDA", "min_norm_weights"]


@register("mgda", kind="aggregator",
          paper="Multi-Task Learning as Multi-Objective Optimization (Sener & Koltun, 2018)",
          arxiv="1810.04650")
class MGDA:
    """Minimum-norm convex combination of the task gradients.

    Args:
        exact_max_k: up to this many gradients the min-norm point is solved exactly (active set).
        max_iter, tol: the Frank-Wolfe iteration used above ``exact_max_k`` gradients.
    """

    def __init__(self, *, max_iter: int = 250, tol: float = 1e-5, exact_max_k: int = 32) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.exact_max_k = exact_max_k
        self.last_weights: Tensor | None = None

    def __call__(self, grads: Tensor) -> Tensor:
        check_matrix(grads)
        weights = min_norm_weights(gram64(grads), max_iter=self.max_iter, tol=self.tol,
                                   exact_max_k=self.exact_max_k)
        self.last_weights = weights
        return weights.to(device=grads.device, dtype=grads.dtype) @ grads

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
