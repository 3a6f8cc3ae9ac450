"""A 2-D Helmholtz problem with a known solution, the PINN gradient-pathologies benchmark.

Wang, Teng, Perdikaris, 2021, arXiv 2001.04536, Sec. 2.2: on [-1, 1]^2,

    Laplacian(u) + k u = f,   exact u(x, y) = sin(a1 pi x) sin(a2 pi y),
    f = (k - pi^2 (a1^2 + a2^2)) u,   u = exact u on the boundary (zero for integer a1, a2).

The paper uses a1 = 1, a2 = 4, k = 1, batches of 128 collocation points and 128 points per
edge, and the relative L2 error on a 100 x 100 grid. ``residual`` computes
Laplacian(u) + k u - f by autograd, so a PINN's residual loss is ``residual(net, x).pow(2).mean()``.

Example::

    >>> import torch
    >>> from layerwise.multiloss import Helmholtz2D
    >>> prob = Helmholtz2D()
    >>> g = torch.Generator().manual_seed(0)
    >>> x = prob.collocation(128, generator=g)
    >>> xb, ub = prob.boundary(128, generator=g)
    >>> x.shape, xb.shape, float(ub.abs().max()) < 1e-6
    (torch.Size([128, 2]), torch.Size([512, 2]), True)
    >>> float(prob.residual(prob.exact, x).detach().abs().max()) < 1e-3
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise._registry import register


@register("helmholtz2d", kind="dataset",
          paper="Understanding and mitigating gradient pathologies in physics-informed neural networks "
                "(Wang, Teng, Perdikaris, 2021)", arxiv="2001.04536")
@dataclass(frozen=True)
class Helmholtz2D:
    """Laplacian(u) + k u = f on [lo, hi]^2 with exact u = sin(a1 pi x) sin(a2 pi y)."""

    a1: float = 1.0
    a2: float = 4.0
    k: float = 1.0
    lo: float = -1.0
    hi: float = 1.0

    def exact(self, xy: Tensor) -> Tensor:
        """u(x, y) as an (N, 1) column."""
        return (torch.sin(self.a1 * math.pi * xy[:, :1]) * torch.sin(self.a2 * math.pi * xy[:, 1:2]))

    def forcing(self, xy: Tensor) -> Tensor:
        """f(x, y) = (k - pi^2 (a1^2 + a2^2)) u(x, y), (N, 1)."""
        return (self.k - math.pi**2 * (self.a1**2 + self.a2**2)) * self.exact(xy)

    def residual(self, u_fn: Callable[[Tensor], Tensor], xy: Tensor) -> Tensor:
        """Laplacian(u) + k u - f at ``xy`` (N, 1), differentiable in u_fn's parameters."""
        xy = xy.detach().requires_grad_(True)
        u = u_fn(xy)
        (du,) = torch.autograd.grad(u.sum(), xy, create_graph=True)
        lap = 0.0
        for d in range(2):
            (d2,) = torch.autograd.grad(du[:, d].sum(), xy, create_graph=True)
            lap = lap + d2[:, d : d + 1]
        return lap + self.k * u - self.forcing(xy)

    def collocation(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """n uniform interior points, (n, 2)."""
        return self.lo + (self.hi - self.lo) * torch.rand(n, 2, generator=generator)

    def boundary(self, n: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """n uniform points on each of the 4 edges, (4n, 2), and the exact u there, (4n, 1)."""
        t = self.lo + (self.hi - self.lo) * torch.rand(4, n, generator=generator)
        lo, hi = torch.full((n,), self.lo), torch.full((n,), self.hi)
        edges = [torch.stack(pair, dim=1) for pair in
                 ((t[0], lo), (t[1], hi), (lo, t[2]), (hi, t[3]))]
        xy = torch.cat(edges)
        return xy, self.exact(xy)

    def grid(self, n: int = 100) -> tuple[Tensor, Tensor]:
        """An n x n grid over the square, (n^2, 2), and the exact u there, (n^2, 1)."""
        s = torch.linspace(self.lo, self.hi, n)
        xx, yy = torch.meshgrid(s, s, indexing="ij")
        xy = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
        return xy, self.exact(xy)

    @torch.no_grad()
    def relative_l2(self, u_fn: Callable[[Tensor], Tensor], n: int = 100) -> float:
        """|u_pred - u| / |u| on the n x n grid (the paper's error metric)."""
        xy, u = self.grid(n)
        pred = u_fn(xy).reshape(u.shape)
        return float((pred - u).norm() / u.norm())
