"""Reference Krylov solvers: conjugate gradients and Jacobi-preconditioned CG, batched over columns.

Methods of Conjugate Gradients for Solving Linear Systems (Hestenes & Stiefel, J. Res. NBS 1952).
The baselines of A Deep Conjugate Direction Method for Iteratively Solving Linear Systems (Kaneda
et al., ICML 2023, arXiv 2205.10763). Each column of ``b`` is solved independently (its own step
sizes) from ``x0 = 0``; a column stops when its recursive residual is below ``tol * ||b||``, the
criterion of ``scipy.sparse.linalg.cg``, whose iteration counts this matches.

Example::

    >>> from layerwise.analysis import conjugate_gradient
    >>> from layerwise.data import poisson_2d, poisson_rhs
    >>> A, b = poisson_2d(8), poisson_rhs(8, 1)[0].ravel()
    >>> res = conjugate_gradient(A, b, tol=1e-6)
    >>> bool(res.converged), int(res.iterations) < 64
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from layerwise._registry import register

ARXIV = "2205.10763"


@dataclass(frozen=True)
class SolveResult:
    """``x`` (shaped like ``b``); ``iterations``: per column, the first iteration whose relative
    residual is below ``tol`` (``max_iter`` if never, also after a breakdown); ``residuals``:
    relative residual norms, a row per iteration done after row 0 (all 1); ``converged``: per column."""

    x: np.ndarray
    iterations: np.ndarray
    residuals: np.ndarray
    converged: np.ndarray


def check_system(A, b, tol: float, max_iter: int | None) -> tuple[sp.csr_matrix, np.ndarray, int]:
    """``A`` as float64 CSR (square, symmetric), ``b`` as float64 ``(N, columns)``, and the
    iteration cap; raises ValueError naming the bad argument and its valid range."""
    if not (sp.issparse(A) or isinstance(A, np.ndarray)) or A.ndim != 2:
        raise TypeError(f"A must be a 2-D scipy.sparse matrix or numpy array, got {type(A).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square, got shape {A.shape}")
    A = sp.csr_matrix(A, dtype=np.float64)
    scale = abs(A).max() if A.nnz else 0.0
    if A.nnz and abs(A - A.T).max() > 1e-12 * scale:
        raise ValueError("A must be symmetric (|A - A^T| <= 1e-12 max|A|)")
    b = np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(A.data))):
        raise ValueError("A and b must be finite")
    if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise ValueError(f"b must have shape ({A.shape[0]},) or ({A.shape[0]}, columns) to match A, "
                         f"got {b.shape}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    if max_iter is None:
        max_iter = 10 * A.shape[0]
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    return A, (b[:, None] if b.ndim == 1 else b), max_iter


def finish(x: np.ndarray, history: list[np.ndarray], tol: float, max_iter: int,
           squeeze: bool) -> SolveResult:
    """Package a batched solve: iteration counts read off the residual history."""
    res = np.stack(history)
    below = res < tol
    converged = below.any(axis=0)
    its = np.where(converged, below.argmax(axis=0), max_iter)
    if squeeze:
        return SolveResult(x[:, 0], its[0], res[:, 0], converged[0])
    return SolveResult(x, its, res, converged)


@register("conjugate_gradient", kind="diagnostic",
          paper="Methods of Conjugate Gradients for Solving Linear Systems (Hestenes & Stiefel, 1952)")
def conjugate_gradient(A, b, *, tol: float = 1e-6, max_iter: int | None = None,
                       precond: np.ndarray | None = None) -> SolveResult:
    """(Preconditioned) CG on the SPD ``A`` for each column of ``b``; ``precond`` is the diagonal
    of ``M^{-1}`` (positive, length N), ``None`` for plain CG."""
    squeeze = np.ndim(b) == 1
    A, b, max_iter = check_system(A, b, tol, max_iter)
    if precond is not None:
        precond = np.asarray(precond, dtype=np.float64)
        if precond.shape != (A.shape[0],) or not np.all(precond > 0):
            raise ValueError(f"precond must be a positive vector of length {A.shape[0]}")
        precond = precond[:, None]
    bnorm = np.linalg.norm(b, axis=0)
    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    x, r = np.zeros_like(b), b.copy()
    history = [np.linalg.norm(r, axis=0) / bnorm]
    p = rho = None
    for _ in range(max_iter):
        active = ~(history[-1] < tol)  # NaN stays unsolved
        if not active.any():
            break
        z = r if precond is None else precond * r
        rho_new = np.einsum("ij,ij->j", r, z)
        p = z.copy() if p is None else z + (rho_new / np.where(rho != 0, rho, 1.0)) * p
        q = A @ p
        pq = np.einsum("ij,ij->j", p, q)
        alpha = np.where(active & (pq > 0), rho_new / np.where(pq > 0, pq, 1.0), 0.0)
        x += alpha * p
        r -= alpha * q
        rho = rho_new
        history.append(np.linalg.norm(r, axis=0) / bnorm)
    return finish(x, history, tol, max_iter, squeeze)


@register("jacobi_pcg", kind="diagnostic",
          paper="Methods of Conjugate Gradients for Solving Linear Systems (Hestenes & Stiefel, 1952)")
def jacobi_pcg(A, b, *, tol: float = 1e-6, max_iter: int | None = None) -> SolveResult:
    """CG preconditioned by the inverse diagonal of ``A`` (which must be positive)."""
    d = sp.csr_matrix(A).diagonal() if sp.issparse(A) else np.diag(np.asarray(A))
    if not np.all(d > 0):
        raise ValueError("A must have a positive diagonal for Jacobi preconditioning")
    return conjugate_gradient(A, b, tol=tol, max_iter=max_iter, precond=1.0 / d)
