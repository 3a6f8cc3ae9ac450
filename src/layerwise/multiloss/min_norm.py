"""The min-norm point of a convex hull: ``argmin_{a in simplex} a^T G a`` for a K x K Gram matrix G.

MGDA's subproblem (Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective
optimization", Comptes Rendus Mathématique 2012; Sener & Koltun, "Multi-Task Learning as
Multi-Objective Optimization", NeurIPS 2018, arXiv 1810.04650). Three solvers, in float64:

* ``K = 2``: the closed form of Sener & Koltun's Algorithm 1 (an exact line search);
* ``K <= exact_max_k``: an active-set method, Wolfe's minimum-norm-point algorithm ("Finding the
  nearest point in a polytope", Math. Programming 1976) run on G alone. It keeps a support S of
  affinely independent gradients, solves the equality-constrained problem on S exactly (the
  bordered KKT system), drops indices whose weight would turn negative, and adds the gradient
  that violates the KKT condition ``(G a)_i >= a^T G a`` most, until none does. It finishes in
  finitely many steps with the exact minimiser, up to float64 rounding;
* larger K: the paper's Frank-Wolfe iteration (Algorithm 2), which warns when ``max_iter`` ends
  it before its step is below ``tol``.

Example::

    >>> import torch
    >>> g = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> min_norm_weights(g @ g.T)
    tensor([0.5000, 0.5000, 0.0000], dtype=torch.float64)
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

__all__ = ["active_set", "frank_wolfe", "gram64", "line_search", "min_norm_weights"]

KKT_TOL = 1e-12  # on the KKT gap of G / max(diag G): float64 rounding of G is ~1e-16 of that scale


def gram64(grads: Tensor, chunk: int = 1 << 20) -> Tensor:
    """``G = J J^T`` accumulated in float64, ``chunk`` columns at a time (bounded extra memory)."""
    gram = torch.zeros(grads.shape[0], grads.shape[0], dtype=torch.float64, device=grads.device)
    for block in grads.detach().split(chunk, dim=1):
        b = block.double()
        gram += b @ b.T
    return gram


def line_search(aa: float, bb: float, ab: float) -> float:
    """gamma in [0, 1] minimising |(1 - gamma) a + gamma b|^2 given a.a, b.b and a.b."""
    if ab >= aa:  # a is already the min-norm point of the segment
        return 0.0
    if ab >= bb:
        return 1.0
    return (aa - ab) / (aa + bb - 2 * ab)


def _affine_min(m: np.ndarray, support: list[int]) -> np.ndarray | None:
    """Weights on ``support`` (summing to 1, any sign) minimising a^T G a on its affine hull."""
    n = len(support)
    kkt = np.ones((n + 1, n + 1))
    kkt[:n, :n] = m[np.ix_(support, support)]
    kkt[n, n] = 0.0
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    try:
        v = np.linalg.solve(kkt, rhs)[:n]
    except np.linalg.LinAlgError:
        return None
    return v if np.isfinite(v).all() else None


def _minor_cycle(m: np.ndarray, w: np.ndarray, support: list[int]) -> list[int]:
    """Move ``w`` (in place) to the affine minimiser on ``support``, shrinking the support while
    that minimiser leaves the simplex; return the final support."""
    while True:
        v = _affine_min(m, support)
        if v is None:  # rounding made the support affinely dependent: drop the newest index
            w[support[-1]] = 0.0
            support = support[:-1]
            w[support] /= w[support].sum()
            return support
        if (v > 0).all():
            w[:] = 0.0
            w[support] = v
            return support
        ws = w[support]
        out = v <= 0
        theta = float(np.min(ws[out] / (ws[out] - v[out])))
        ws = np.clip(ws + theta * (v - ws), 0.0, None)
        ws[np.flatnonzero(out)[np.argmin(ws[out])]] = 0.0  # at least the blocking index leaves
        w[support] = ws
        support = [i for i in support if w[i] > 0]
        w[support] /= w[support].sum()


def active_set(gram: np.ndarray, *, tol: float = KKT_TOL) -> np.ndarray:
    """Exact simplex weights of the min-norm point (Wolfe's algorithm on the Gram matrix)."""
    scale = float(np.max(np.diag(gram)))
    k = gram.shape[0]
    if not scale > 0:  # every gradient is zero: every convex combination is the min-norm point
        return np.full(k, 1.0 / k)
    m = gram / scale
    start = int(np.argmin(np.diag(m)))
    w = np.zeros(k)
    w[start] = 1.0
    support = [start]
    for _ in range(10 * k + 10):  # major cycles: finite in exact arithmetic, about K in practice
        mw = m @ w
        j = int(np.argmin(mw))
        if mw[j] >= w @ mw - tol or j in support:  # KKT holds (j in support: rounding noise)
            return w
        support = _minor_cycle(m, w, [*support, j])
    return w


def frank_wolfe(gram: np.ndarray, *, max_iter: int, tol: float) -> tuple[np.ndarray, float]:
    """Sener & Koltun's Algorithm 2 from uniform weights; returns (weights, last step size)."""
    k = gram.shape[0]
    a = np.full(k, 1.0 / k)
    step = float("inf")
    for _ in range(max_iter):
        ma = gram @ a
        t = int(np.argmin(ma))
        gamma = line_search(float(a @ ma), float(gram[t, t]), float(ma[t]))
        new = (1 - gamma) * a
        new[t] += gamma
        step = float(np.abs(new - a).sum())
        a = new
        if step < tol:
            break
    return a, step


def _warn_unconverged(k: int, step: float, max_iter: int, tol: float, exact_max_k: int) -> None:
    warnings.warn(
        f"MGDA: Frank-Wolfe stopped at max_iter={max_iter} for K={k} gradients with its last step "
        f"{step:.2e} above tol={tol:.1e}; the direction is not the exact min-norm point. Raise "
        f"max_iter, or raise exact_max_k above {k} (now {exact_max_k}) to use the exact active-set "
        "solver.", RuntimeWarning, stacklevel=3)


def min_norm_weights(gram: Tensor, *, max_iter: int = 250, tol: float = 1e-5,
                     exact_max_k: int = 32) -> Tensor:
    """Simplex weights (K,) of the min-norm convex combination, from the Gram matrix G G^T.

    Exact for ``K <= exact_max_k`` (closed form for K = 2, the active-set solver above that); the
    Frank-Wolfe iteration with ``max_iter`` and ``tol`` otherwise, warning when it does not converge.
    """
    m = gram.detach().double().cpu().numpy()
    k = m.shape[0]
    if k == 1:
        w = np.ones(1)
    elif k == 2:
        gamma = line_search(float(m[0, 0]), float(m[1, 1]), float(m[0, 1]))
        w = np.array([1.0 - gamma, gamma])
    elif k <= exact_max_k:
        w = active_set(m)
    else:
        w, step = frank_wolfe(m, max_iter=max_iter, tol=tol)
        if step >= tol:
            _warn_unconverged(k, step, max_iter, tol, exact_max_k)
    return torch.from_numpy(w)
