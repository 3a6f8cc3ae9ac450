"""2D Poisson systems: the 5-point Dirichlet Laplacian (``scipy.sparse``) and right-hand sides.

The test problems of A Deep Conjugate Direction Method for Iteratively Solving Linear Systems
(Kaneda, Akar, Chen, Kala, Hyde & Teran, ICML 2023, arXiv 2205.10763), in 2D. Unknowns sit on an
``n x n`` grid of interior points, numbered row by row (``k = i * n + j``); the boundary values are
zero. ``A = kron(I, T) + kron(T, I)`` with ``T = tridiag(-1, 2, -1)`` (no ``1/h^2`` factor), or the
variable-coefficient form ``-div(kappa grad u)`` when cell coefficients ``kappa`` are given. Its
eigenvectors are products of sines, so the spectral right-hand sides of the paper's training set
(the repo draws them from Lanczos Ritz vectors) are exact here, without an eigensolver.

Example::

    >>> from layerwise.data import poisson_2d, poisson_rhs
    >>> A = poisson_2d(4)
    >>> A.shape, A.diagonal()[:2].tolist()
    ((16, 16), [4.0, 4.0])
    >>> poisson_rhs(4, 3, kind="spectral").shape
    (3, 4, 4)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor

from layerwise._registry import register

PAPER = "A Deep Conjugate Direction Method for Iteratively Solving Linear Systems (Kaneda et al., 2023)"
ARXIV = "2205.10763"
KINDS = ("random", "smooth", "spectral")


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (grid points per side) must be an int >= 1, got {n!r}")


@register("poisson_2d", kind="dataset", paper=PAPER, arxiv=ARXIV)
def poisson_2d(n: int, *, kappa: np.ndarray | None = None) -> sp.csr_matrix:
    """The ``n^2 x n^2`` symmetric positive-definite 5-point Laplacian with zero Dirichlet values.

    ``kappa`` (optional, ``(n, n)``, > 0): cell coefficients of ``-div(kappa grad u)``; a face
    between two cells has the mean of their coefficients, a boundary face its cell's. With
    ``kappa=None`` (all ones) the diagonal is 4 and the neighbours -1.
    """
    _check_n(n)
    k = np.ones((n, n)) if kappa is None else np.asarray(kappa, dtype=np.float64)
    if k.shape != (n, n) or not np.all(np.isfinite(k)) or not np.all(k > 0):
        raise ValueError(f"kappa must be a finite positive ({n}, {n}) array, got shape {k.shape}")
    idx = np.arange(n * n).reshape(n, n)
    pairs = [(idx[:, :-1], idx[:, 1:], (k[:, :-1] + k[:, 1:]) / 2),   # horizontal faces
             (idx[:-1, :], idx[1:, :], (k[:-1, :] + k[1:, :]) / 2)]   # vertical faces
    diag = np.zeros((n, n))  # boundary faces first: a cell's own coefficient per boundary side
    diag[0, :] += k[0, :]
    diag[-1, :] += k[-1, :]
    diag[:, 0] += k[:, 0]
    diag[:, -1] += k[:, -1]
    rows, cols, vals = [idx.ravel()], [idx.ravel()], []
    for p, q, w in pairs:
        np.add.at(diag, np.unravel_index(p.ravel(), (n, n)), w.ravel())
        np.add.at(diag, np.unravel_index(q.ravel(), (n, n)), w.ravel())
        rows += [p.ravel(), q.ravel()]
        cols += [q.ravel(), p.ravel()]
        vals += [-w.ravel(), -w.ravel()]
    data = np.concatenate([diag.ravel(), *vals])
    return sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n))


def poisson_modes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(S, lam)``: the orthonormal sine basis ``S`` (``n x n``) and the eigenvalues ``lam``
    (``n x n``) of the constant-coefficient ``poisson_2d(n)``: the grid ``S @ C @ S.T`` has
    coordinates ``C[k, l]`` on the eigenvector of ``lam[k, l]``."""
    _check_n(n)
    theta = np.pi * np.arange(1, n + 1) / (n + 1)
    s = np.sqrt(2 / (n + 1)) * np.sin(np.outer(np.arange(1, n + 1), theta))
    one_d = 2 - 2 * np.cos(theta)
    return s, one_d[:, None] + one_d[None, :]


@register("poisson_rhs", kind="dataset", paper=PAPER, arxiv=ARXIV)
def poisson_rhs(n: int, count: int, *, kind: str = "random", seed: int = 0, low_weight: float = 9.0,
                low_fraction: float = 0.5) -> np.ndarray:
    """``count`` unit-norm right-hand sides on the ``n x n`` grid, float64 ``(count, n, n)``.

    ``kind``: ``"random"`` i.i.d. normal grid values; ``"smooth"`` eigen-coordinates
    ``N(0, 1) / (k^2 + l^2)`` (mode numbers ``k, l >= 1``: the same fields on every grid);
    ``"spectral"`` the paper's training distribution, ``N(0, 1)`` coordinates with the lowest
    ``low_fraction`` of the eigenvalues multiplied by ``low_weight`` (9 in the repo).
    """
    _check_n(n)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1, got {count!r}")
    if not 0 <= low_fraction <= 1 or not low_weight > 0:
        raise ValueError(f"need 0 <= low_fraction <= 1 and low_weight > 0, got {low_fraction}, {low_weight}")
    rng = np.random.default_rng(seed)
    if kind == "random":
        b = rng.standard_normal((count, n, n))
    else:
        s, lam = poisson_modes(n)
        c = rng.standard_normal((count, n, n))
        if kind == "smooth":
            m = np.arange(1, n + 1)
            c /= m[:, None] ** 2 + m[None, :] ** 2
        else:
            low = lam <= np.quantile(lam, low_fraction) if low_fraction > 0 else np.zeros_like(lam, bool)
            c[:, low] *= low_weight
        b = s @ c @ s.T
    return b / np.linalg.norm(b.reshape(count, -1), axis=1)[:, None, None]


def poisson_matvec(x: Tensor) -> Tensor:
    """``A @ x`` for the constant-coefficient ``poisson_2d`` on grids ``x`` of shape
    ``(..., n, n)``, as a 5-point convolution with zero padding (differentiable, batched)."""
    if x.dim() < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"x must have shape (..., n, n), got {tuple(x.shape)}")
    stencil = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]],
                           dtype=x.dtype, device=x.device)
    flat = x.reshape(-1, 1, *x.shape[-2:])
    return F.conv2d(flat, stencil[None, None], padding=1).reshape(x.shape)
