"""Sharpness: the top eigenvalue of a loss's Hessian by power iteration on Hessian-vector products.

Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability (Cohen, Kaur, Li,
Kolter, Talwalkar, 2021, arXiv 2103.00065) tracks this number: under full-batch gradient descent at
learning rate ``lr`` it rises ("progressive sharpening") until it hovers at ``2 / lr``. Outliers with
Opposing Signals Have an Outsized Effect on Neural Network Optimization (Rosenfeld & Risteski,
ICLR 2024, arXiv 2311.04163) read it beside the per-example loss changes
(:class:`layerwise.analysis.OpposingSignals`).

The Hessian is never formed: each iteration costs one Hessian-vector product, a second
differentiation of the gradient (Pearlmutter, 1994). Power iteration converges to the eigenvalue of
largest magnitude; when that one is negative, a second iteration on ``H - lambda I`` (whose
spectrum is shifted to be non-negative) finds the largest, so the result is always the top
(algebraically largest) eigenvalue. Convergence is geometric in ``lambda_2 / lambda_1``: pass the
previous call's ``vector`` as ``init`` to track sharpness along training cheaply.

Example::

    >>> import torch
    >>> from layerwise.analysis import top_hessian_eigenvalue
    >>> a = torch.diag(torch.tensor([3.0, 1.0, -0.5], dtype=torch.float64))
    >>> x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    >>> round(top_hessian_eigenvalue(lambda: 0.5 * x @ a @ x, [x], iters=200).value, 6)
    3.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from layerwise._registry import register

PAPER = (
    "Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability "
    "(Cohen et al., 2021)",
    "2103.00065",
)


@dataclass(frozen=True)
class HessianEigen:
    """The top Hessian eigenvalue, its unit eigenvector (one tensor per parameter), the number of
    Hessian-vector products used, and whether the relative change fell below ``tol``."""

    value: float
    vector: tuple[Tensor, ...]
    iterations: int
    converged: bool

    def __float__(self) -> float:
        return self.value


def trainable(params: nn.Module | Iterable[Tensor], name: str = "params") -> list[Tensor]:
    """The tensors of ``params`` (a module or an iterable) that require grad; ValueError naming
    ``name`` when there are none."""
    tensors = list(params.parameters() if isinstance(params, nn.Module) else params)
    if not all(isinstance(p, Tensor) for p in tensors):
        raise TypeError(f"{name} must be an nn.Module or an iterable of tensors")
    tensors = [p for p in tensors if p.requires_grad]
    if not tensors:
        raise ValueError(f"{name} has no parameters that require grad; give a model with parameters")
    return tensors


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    return sum((x * y).sum() for x, y in zip(a, b, strict=True))


def _normalised(v: Sequence[Tensor]) -> list[Tensor]:
    norm = _dot(v, v).sqrt()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("the power iteration's vector is zero or non-finite (a zero init, or a "
                         "non-finite loss)")
    return [x / norm for x in v]


def _power(hvp: Callable[[list[Tensor]], list[Tensor]], v: list[Tensor], shift: float, iters: int,
           tol: float) -> tuple[float, list[Tensor], int, bool]:
    """Power iteration on ``H - shift I``: (eigenvalue of H, vector, iterations, converged)."""
    value = float("nan")
    for i in range(1, iters + 1):
        hv = [h - shift * x for h, x in zip(hvp(v), v, strict=True)]
        new = float(_dot(v, hv)) + shift  # Rayleigh quotient of H at the unit vector v
        if not torch.isfinite(torch.tensor(new)):
            raise ValueError("the Hessian-vector product is not finite (a diverged loss?)")
        converged = abs(new - value) <= tol * max(1.0, abs(new))
        value = new
        if _dot(hv, hv) == 0:  # v is in the null space of H - shift I
            return value, v, i, True
        v = _normalised(hv)
        if converged:
            return value, v, i, True
    return value, v, iters, False


@register("top_hessian_eigenvalue", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def top_hessian_eigenvalue(loss_fn: Callable[[], Tensor], params: nn.Module | Iterable[Tensor], *,
                           iters: int = 100, tol: float = 1e-6, init: Sequence[Tensor] | None = None,
                           seed: int = 0) -> HessianEigen:
    """Top eigenvalue of the Hessian of ``loss_fn()`` with respect to ``params``.

    Args:
        loss_fn: a closure returning the scalar loss (evaluated once; its graph is kept for the
            Hessian-vector products).
        params: a module, or the tensors to differentiate; those without ``requires_grad`` are
            skipped.
        iters: most Hessian-vector products per power iteration (>= 1).
        tol: stop when the eigenvalue estimate changes by less than ``tol`` relative (> 0).
        init: a start vector (one tensor per parameter, e.g. a previous result's ``vector``);
            default: a Gaussian vector drawn from ``seed``.
    """
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    ps = trainable(params)
    loss = loss_fn()
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar tensor")
    grads = torch.autograd.grad(loss.reshape(()), ps, create_graph=True, allow_unused=True)
    index = [j for j, g in enumerate(grads) if g is not None and g.requires_grad]
    if not index:  # the loss is at most linear in params: the Hessian is zero
        return HessianEigen(0.0, tuple(torch.zeros_like(p) for p in ps), 0, True)

    def hvp(v: list[Tensor]) -> list[Tensor]:
        out = torch.autograd.grad([grads[j] for j in index], [ps[j] for j in index],
                                  [v[j] for j in index], retain_graph=True, allow_unused=True)
        full = [torch.zeros_like(p) for p in ps]
        for j, h in zip(index, out, strict=True):
            if h is not None:
                full[j] = h.detach()
        return full

    if init is None:
        gen = torch.Generator().manual_seed(seed)
        v = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in ps]
    else:
        if len(init) != len(ps) or any(a.shape != p.shape for a, p in zip(init, ps, strict=True)):
            raise ValueError("init must hold one tensor per parameter, with the parameters' shapes")
        v = [a.detach().to(p) for a, p in zip(init, ps, strict=True)]
    value, v, n, converged = _power(hvp, _normalised(v), 0.0, iters, tol)
    if value < 0:  # the largest magnitude is negative: shift to find the largest eigenvalue
        gen = torch.Generator().manual_seed(seed + 1)
        w = _normalised([torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in ps])
        top, w, m, converged = _power(hvp, w, value, iters, tol)
        value, v, n = top, w, n + m
    return HessianEigen(value, tuple(v), n, converged)
