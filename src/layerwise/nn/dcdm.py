"""DCDM: a CNN proposes search directions, A-orthogonalised against the last few, for SPD solves.

A Deep Conjugate Direction Method for Iteratively Solving Linear Systems (Kaneda, Akar, Chen,
Kala, Hyde & Teran, ICML 2023, arXiv 2205.10763). A network ``f`` maps a normalised residual to a
direction that approximates ``A^{-1} r`` up to scale. Unsupervised, scale-invariant loss on a
unit-norm ``b``: with ``d = f(b)`` and ``alpha = d.b / d.Ad``, ``L = ||b - alpha A d||^2``
(:func:`dcdm_loss`). Solver (:func:`dcdm_solve`): ``q = f(r / ||r||)``, A-orthogonalised against
the last ``n_orth`` directions (2 in the paper), step ``alpha = q.r / q.Aq``, ``x += alpha q``,
``r = b - A x`` recomputed; stop at ``||r|| < tol ||b||``. :class:`DCDMNet` is a 2D version of the
paper's network: a linear 3x3 conv to ``channels``, residual ReLU conv blocks, ``levels`` 2x
average pools, nearest upsampling with skip additions, a 1x1 conv to one channel. It is fully
convolutional, so a net trained on one grid runs on another (zero padding = Dirichlet boundary).

Example::

    >>> import torch
    >>> from layerwise.data import poisson_2d, poisson_matvec, poisson_rhs
    >>> from layerwise.nn import DCDMNet, dcdm_loss, dcdm_solve
    >>> net = DCDMNet(channels=4)
    >>> b = torch.tensor(poisson_rhs(8, 2, kind="spectral"), dtype=torch.float32)
    >>> dcdm_loss(poisson_matvec, b, net(b)).shape
    torch.Size([])
    >>> res = dcdm_solve(net, poisson_2d(8), b[0].double().ravel().numpy(), max_iter=5)
    >>> res.residuals.shape  # relative residual norms, before and after each of 5 steps
    (6,)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.analysis.krylov import SolveResult, check_system, finish


class _Residual(nn.Module):
    """``x + relu(conv3x3(x))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + F.relu(self.conv(x))


@register("dcdm", kind="module",
          paper="A Deep Conjugate Direction Method for Iteratively Solving Linear Systems "
                "(Kaneda et al., 2023)", arxiv="2205.10763")
class DCDMNet(nn.Module):
    """Direction network for grids ``(B, H, W)`` or ``(B, 1, H, W)`` (output shaped like the input);
    ``H`` and ``W`` must be divisible by ``2**levels``. Convs: 1 + levels + ``bottom`` + levels + 1."""

    def __init__(self, *, channels: int = 16, levels: int = 1, bottom: int = 2) -> None:
        super().__init__()
        for name, value, low in (("channels", channels, 1), ("levels", levels, 0), ("bottom", bottom, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.levels = levels
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.down = nn.ModuleList(_Residual(channels) for _ in range(levels))
        self.bottom = nn.Sequential(*(_Residual(channels) for _ in range(bottom)))
        self.up = nn.ModuleList(_Residual(channels) for _ in range(levels))
        self.out = nn.Conv2d(channels, 1, 1)

    def forward(self, r: Tensor) -> Tensor:
        shape = r.shape
        if r.dim() == 3:
            r = r[:, None]
        if r.dim() != 4 or r.shape[1] != 1:
            raise ValueError(f"r must have shape (B, H, W) or (B, 1, H, W), got {tuple(shape)}")
        if any(s % 2**self.levels for s in r.shape[-2:]):
            raise ValueError(f"grid sides must be divisible by 2**levels = {2**self.levels}, got "
                             f"{tuple(r.shape[-2:])}")
        h, skips = self.inp(r), []
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.bottom(h)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            h = block(F.interpolate(h, scale_factor=2.0, mode="nearest") + skip)
        return self.out(h).reshape(shape)


def dcdm_loss(matvec: Callable[[Tensor], Tensor], b: Tensor, d: Tensor) -> Tensor:
    """Mean over the batch of ``||b - alpha A d||^2`` with ``alpha = d.b / d.Ad`` per sample;
    ``b`` and ``d`` share a shape ``(B, ...)``. Invariant to rescaling each ``d``."""
    if b.shape != d.shape or b.dim() < 2:
        raise ValueError(f"b and d must share a shape (B, ...), got {tuple(b.shape)} and {tuple(d.shape)}")
    ad = matvec(d)
    alpha = (d * b).flatten(1).sum(1) / (d * ad).flatten(1).sum(1)
    res = b - alpha.reshape(-1, *[1] * (b.dim() - 1)) * ad
    return res.flatten(1).pow(2).sum(1).mean()


def _directions(net: nn.Module, r: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """``f(r / ||r||)`` for each column of ``r`` (float64 in and out, the net's dtype inside)."""
    param = next(net.parameters(), None)
    dtype = torch.float64 if param is None else param.dtype
    unit = r / np.maximum(np.linalg.norm(r, axis=0), 1e-300)
    batch = torch.from_numpy(np.ascontiguousarray(unit.T)).to(dtype).reshape(-1, *grid)
    with torch.no_grad():
        q = net(batch)
    return q.reshape(r.shape[1], -1).double().numpy().T


def dcdm_solve(net: nn.Module, A, b, *, tol: float = 1e-6, max_iter: int | None = None,
               n_orth: int = 2, grid: tuple[int, int] | None = None,
               callback: Callable[[int, np.ndarray], None] | None = None) -> SolveResult:
    """Solve ``A x = b`` (each column of ``b``) from ``x0 = 0`` with the network's directions.

    ``grid`` (default: square) reshapes a length-N vector for the net; ``callback(it, q)`` sees
    each step's A-orthogonalised directions (N, columns) before the update."""
    squeeze = np.ndim(b) == 1
    A, b, max_iter = check_system(A, b, tol, max_iter)
    if isinstance(n_orth, bool) or not isinstance(n_orth, int) or n_orth < 1:
        raise ValueError(f"n_orth must be an int >= 1, got {n_orth!r}")
    side = int(round(A.shape[0] ** 0.5))
    grid = grid or (side, side)
    if len(grid) != 2 or grid[0] * grid[1] != A.shape[0]:
        raise ValueError(f"grid must be (H, W) with H * W = {A.shape[0]}, got {grid}")
    bnorm = np.linalg.norm(b, axis=0)
    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    x, r = np.zeros_like(b), b.copy()
    history, kept = [np.linalg.norm(r, axis=0) / bnorm], []
    for it in range(1, max_iter + 1):
        active = ~(history[-1] < tol)
        if not active.any():
            break
        q = np.nan_to_num(_directions(net, r, grid), nan=0.0, posinf=0.0, neginf=0.0)
        for _ in range(2):  # modified Gram-Schmidt in the A-inner product, twice is enough
            for p, ap, pap in kept:
                q -= p * (np.einsum("ij,ij->j", q, ap) / pap)
        aq = A @ q
        qaq = np.einsum("ij,ij->j", q, aq)
        ok = active & (qaq > 0)
        if not ok.any():  # breakdown: no usable direction for any unsolved column
            break
        if callback is not None:
            callback(it, q)
        x += np.where(ok, np.einsum("ij,ij->j", q, r) / np.where(ok, qaq, 1.0), 0.0) * q
        r = b - A @ x
        kept = [*kept, (q, aq, np.where(qaq > 0, qaq, 1.0))][-n_orth:]
        history.append(np.linalg.norm(r, axis=0) / bnorm)
    return finish(x, history, tol, max_iter, squeeze)


def fit_dcdm(net: nn.Module, rhs: Tensor, matvec: Callable[[Tensor], Tensor], *, steps: int,
             lr: float = 1e-4, batch_size: int = 10, seed: int = 0,
             on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Adam on :func:`dcdm_loss` over minibatches of the training right-hand sides ``rhs``
    (``(M, H, W)``, unit norm); returns the loss per step."""
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1, batch_size >= 1 and lr > 0, got {steps}, {batch_size}, {lr}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        b = rhs[torch.randint(0, rhs.shape[0], (batch_size,), generator=gen)]
        loss = dcdm_loss(matvec, b, net(b))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses
