"""Linear CKA between two layers' activations, in one pass or streamed over mini-batches.

Similarity of Neural Network Representations Revisited (Kornblith, Norouzi, Lee, Hinton, 2019,
arXiv 1905.00414): with centred activations X (n x d1) and Y (n x d2),
``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``; invariant to orthogonal transforms and
isotropic scaling, not to general invertible linear maps. The mini-batch mode follows Do Wide
and Deep Networks Learn the Same Things? (Nguyen, Raghu, Kornblith, 2021, arXiv 2010.15327):
the unbiased HSIC estimator of Song et al. (2012) is averaged over batches, so memory is bounded
by the batch, not by the dataset.

Everything runs in float64 on the feature-space form (cost n*d1*d2, memory d1*d2): no n x n Gram
matrix is ever built unless n is smaller than the feature width, where it is smaller than the input.

Degenerate activations: a layer whose centred activations are zero, or below float64 rounding of
its mean (``||X - mean||_F <= 1e-12 ||X||_F``), or that holds NaN/inf, has no defined CKA. Its
entries are NaN and a :class:`DegenerateActivationWarning` names it. Activations that are merely
tiny (a deep ReLU layer collapsed to ~1e-7) are fine: float64 holds their 4th powers, and a
matrix whose norm leaves [1e-50, 1e50] is rescaled first (CKA is scale invariant).

Example::

    >>> import torch
    >>> from layerwise.analysis import linear_cka, minibatch_cka
    >>> x = torch.randn(500, 32)
    >>> round(linear_cka(x, 3.0 * x), 6)
    1.0
    >>> q, _ = torch.linalg.qr(torch.randn(32, 32))
    >>> round(linear_cka(x, x @ q), 6)
    1.0
    >>> abs(minibatch_cka(x, x[:, :16], batch_size=100) - linear_cka(x, x[:, :16], unbiased=True)) < 0.05
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import blas
from torch import Tensor

from layerwise._registry import register
from layerwise.analysis._arrays import as_matrix, same_samples, warn_degenerate

CKA_PAPER = ("Similarity of Neural Network Representations Revisited (Kornblith et al., 2019)", "1905.00414")
MINIBATCH_PAPER = (
    "Do Wide and Deep Networks Learn the Same Things? Uncovering How Neural Network "
    "Representations Vary with Width and Depth (Nguyen, Raghu, Kornblith, 2021)",
    "2010.15327",
)
RELATIVE_FLOOR = 1e-12  # centred norm below this fraction of the raw norm: only rounding is left


def _cross_sq(x: Tensor, y: Tensor) -> float:
    """``||Y^T X||_F^2 = tr(X X^T Y Y^T)``, by whichever side is cheaper."""
    n, d1, d2 = x.shape[0], x.shape[1], y.shape[1]
    if n * (d1 + d2) < d1 * d2:  # few samples, wide features: the n x n kernels are the small side
        return float(((x @ x.T) * (y @ y.T)).sum())
    return float((y.T @ x).square().sum())


def _self_sq(x: Tensor) -> float:
    """``||X^T X||_F^2`` from one triangle of the smaller Gram matrix (BLAS syrk: half a matmul)."""
    a = x.contiguous().numpy().T  # Fortran-ordered (d, n) view of the same memory
    gram = blas.dsyrk(1.0, a, trans=int(x.shape[0] < x.shape[1]))  # upper triangle is filled
    upper = np.triu(gram)
    return float(2.0 * np.square(upper).sum() - np.square(np.diag(gram)).sum())


@dataclass
class _Layer:
    """One layer's centred activations plus what the unbiased estimator needs from them."""

    x: Tensor  # centred (rescaled when its norm is far from 1, to keep 4th powers in range)
    self_sq: float  # ||X^T X||_F^2
    diag: Tensor | None = None  # unbiased only: ||x_i||^2, the diagonal of K = X X^T
    k1: Tensor | None = None  # unbiased only: K~ 1, row sums of K with its diagonal removed
    total: float = 0.0  # unbiased only: 1^T K~ 1


def _prepare(x: Tensor, *, unbiased: bool, rescale: bool = True) -> _Layer | None:
    """Centre one layer; None when it is constant or non-finite."""
    xc = x - x.mean(dim=0)
    norm = float(torch.linalg.vector_norm(xc))
    if not math.isfinite(norm):  # NaN/inf inside, or an overflow of the norm of huge values
        if not bool(torch.isfinite(x).all()):
            return None
        x = x / x.abs().max()
        xc, norm = x - x.mean(dim=0), 1.0
    if norm == 0.0 or norm <= RELATIVE_FLOOR * float(torch.linalg.vector_norm(x)):
        return None
    if rescale and not 1e-50 < norm < 1e50:  # CKA is scale invariant; 4th powers must not under/overflow
        xc = xc / norm
    layer = _Layer(xc, _self_sq(xc))
    if unbiased:
        layer.diag = xc.square().sum(dim=1)
        layer.k1 = xc @ xc.sum(dim=0) - layer.diag
        layer.total = float(layer.k1.sum())
    return layer


def _hsic(a: _Layer, b: _Layer, cross_sq: float, unbiased: bool) -> float:
    """Biased HSIC (up to the common 1/(n-1)^2) or the unbiased estimator of Song et al. (2012)."""
    if not unbiased:
        return cross_sq
    n = a.x.shape[0]
    trace = cross_sq - float(a.diag @ b.diag)
    rest = a.total * b.total / ((n - 1) * (n - 2)) - 2.0 * float(a.k1 @ b.k1) / (n - 2)
    return (trace + rest) / (n * (n - 3))


def _check_n(n: int, unbiased: bool) -> None:
    if n < (4 if unbiased else 2):
        raise ValueError(f"CKA needs at least {4 if unbiased else 2} samples, got {n}")


def _prepare_all(acts: Sequence[Any], side: str, *, unbiased: bool) -> list[_Layer | None]:
    layers = [_prepare(as_matrix(a, f"{side}[{i}]"), unbiased=unbiased) for i, a in enumerate(acts)]
    for i, layer in enumerate(layers):
        if layer is None:
            warn_degenerate(f"CKA: {side}[{i}] is constant or non-finite; its CKA is NaN")
    return layers


@register("cka_matrix", kind="diagnostic", paper=CKA_PAPER[0], arxiv=CKA_PAPER[1])
def cka_matrix(
    acts_a: Sequence[Any], acts_b: Sequence[Any] | None = None, *, unbiased: bool = False
) -> np.ndarray:
    """Layer x layer linear CKA heatmap, shape (len(acts_a), len(acts_b)), float64.

    Each entry of ``acts_a``/``acts_b`` holds one layer's activations on the same n samples,
    (n, ...) flattened per sample; flatten tokens into samples yourself ((B*T, D)) if wanted.
    ``acts_b=None`` compares ``acts_a`` with itself. ``unbiased=True`` uses the unbiased HSIC
    estimator (needs n >= 4). Degenerate layers give NaN rows/columns (see the module docstring).
    """
    a_layers = _prepare_all(acts_a, "acts_a", unbiased=unbiased)
    b_layers = a_layers if acts_b is None else _prepare_all(acts_b, "acts_b", unbiased=unbiased)
    out = np.full((len(a_layers), len(b_layers)), np.nan)
    for i, a in enumerate(a_layers):
        for j, b in enumerate(b_layers):
            if a is None or b is None or (acts_b is None and j < i):
                continue
            same_samples(a.x, b.x)
            _check_n(a.x.shape[0], unbiased)
            cross = a.self_sq if (acts_b is None and i == j) else _cross_sq(a.x, b.x)
            hxx, hyy = _hsic(a, a, a.self_sq, unbiased), _hsic(b, b, b.self_sq, unbiased)
            if hxx <= 0 or hyy <= 0:  # possible for the unbiased estimator on tiny or noise-only data
                warn_degenerate(f"CKA: HSIC estimate <= 0 for pair ({i}, {j}); its CKA is NaN")
                continue
            out[i, j] = _hsic(a, b, cross, unbiased) / (np.sqrt(hxx) * np.sqrt(hyy))  # no over/underflow
    if acts_b is None:
        upper = np.triu_indices(len(a_layers), 1)
        out[(upper[1], upper[0])] = out[upper]
    return out


@register("linear_cka", kind="diagnostic", paper=CKA_PAPER[0], arxiv=CKA_PAPER[1])
def linear_cka(x: Any, y: Any, *, unbiased: bool = False) -> float:
    """Linear CKA between two activation matrices on the same samples; NaN if either is degenerate."""
    return float(cka_matrix([x], [y], unbiased=unbiased)[0, 0])


@register("minibatch_cka", kind="diagnostic", paper=MINIBATCH_PAPER[0], arxiv=MINIBATCH_PAPER[1])
class MinibatchCKA:
    """Streaming linear CKA: unbiased HSIC averaged over mini-batches (Nguyen et al., 2021).

    State is (La x Lb) + La + Lb floats; each ``update`` costs one batch of activations.
    ``update(x, y)`` takes one layer each or lists of layers (a heatmap); ``compute()``
    returns the (La, Lb) CKA matrix. Batches need at least 4 samples. Batches are not rescaled
    (that would reweight them); float64 covers activation magnitudes from about 1e-70 to 1e70.
    """

    def __init__(self) -> None:
        self._xy: np.ndarray | None = None
        self._xx = self._yy = np.zeros(0)
        self._bad_a = self._bad_b = np.zeros(0, dtype=bool)
        self.n_batches = 0
        self.n_samples = 0
        self.max_batch = 0

    def update(self, acts_a: Any, acts_b: Any) -> None:
        """Add one batch: the same samples seen by every layer of ``acts_a`` and ``acts_b``."""
        a = [acts_a] if isinstance(acts_a, Tensor | np.ndarray) else list(acts_a)
        b = [acts_b] if isinstance(acts_b, Tensor | np.ndarray) else list(acts_b)
        if self._xy is None:
            self._xy = np.zeros((len(a), len(b)))
            self._xx, self._yy = np.zeros(len(a)), np.zeros(len(b))
            self._bad_a, self._bad_b = np.zeros(len(a), dtype=bool), np.zeros(len(b), dtype=bool)
        if self._xy.shape != (len(a), len(b)):
            raise ValueError(f"expected {self._xy.shape} layers per batch, got ({len(a)}, {len(b)})")
        mats_a, mats_b = [as_matrix(t) for t in a], [as_matrix(t) for t in b]
        n = mats_a[0].shape[0]
        for m in mats_a + mats_b:
            same_samples(mats_a[0], m)
        _check_n(n, unbiased=True)
        la = [self._add_self(m, i, self._xx, self._bad_a) for i, m in enumerate(mats_a)]
        lb = [self._add_self(m, j, self._yy, self._bad_b) for j, m in enumerate(mats_b)]
        for i, x in enumerate(la):
            for j, y in enumerate(lb):
                if x is not None and y is not None:
                    self._xy[i, j] += _hsic(x, y, _cross_sq(x.x, y.x), unbiased=True)
        self.n_batches += 1
        self.n_samples += n
        self.max_batch = max(self.max_batch, n)

    @staticmethod
    def _add_self(m: Tensor, i: int, acc: np.ndarray, bad: np.ndarray) -> _Layer | None:
        layer = _prepare(m, unbiased=True, rescale=False)  # rescaling per batch would reweight batches
        if layer is not None:
            acc[i] += _hsic(layer, layer, layer.self_sq, unbiased=True)
        elif not bool(torch.isfinite(m).all()):
            bad[i] = True
        return layer  # None for a constant batch: it adds zero to every sum

    def compute(self) -> np.ndarray:
        """The (La, Lb) CKA matrix so far; NaN where a layer was non-finite or has no variance."""
        if self._xy is None:
            raise RuntimeError("MinibatchCKA.compute() before any update()")
        xx = np.where(self._bad_a | (self._xx <= 0), np.nan, self._xx)
        yy = np.where(self._bad_b | (self._yy <= 0), np.nan, self._yy)
        for side, v in (("acts_a", xx), ("acts_b", yy)):
            for i in np.flatnonzero(np.isnan(v)):
                warn_degenerate(f"minibatch CKA: {side}[{i}] is constant or non-finite; its CKA is NaN")
        return self._xy / np.outer(np.sqrt(xx), np.sqrt(yy))


def minibatch_cka(x: Any, y: Any, *, batch_size: int = 1024) -> float:
    """Unbiased mini-batch CKA of two stored activation matrices, sliced into ``batch_size`` rows.

    A final slice of fewer than 4 rows is dropped. Memory is one batch at a time.
    """
    xm, ym = as_matrix(x, "x"), as_matrix(y, "y")
    same_samples(xm, ym)
    acc = MinibatchCKA()
    for start in range(0, xm.shape[0], batch_size):
        if min(xm.shape[0], start + batch_size) - start >= 4:
            acc.update(xm[start : start + batch_size], ym[start : start + batch_size])
    return float(acc.compute()[0, 0])


def streamed_cka(batches: Iterable[tuple[Any, Any]]) -> np.ndarray:
    """Mini-batch CKA matrix from an iterable of ``(acts_a, acts_b)`` batches (e.g. from hooks)."""
    acc = MinibatchCKA()
    for a, b in batches:
        acc.update(a, b)
    return acc.compute()
