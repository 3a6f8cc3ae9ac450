"""Learned proximal network: the gradient of an input-convex potential, an exact proximal operator.

What's in a Prior? Learned Proximal Networks for Inverse Problems (Fang, Buchanan & Sulam, ICLR
2024, arXiv 2310.14344). A scalar potential psi is an input-convex network (ICNN)::

    z_0 = softplus_beta(W_0 x + b_0)
    z_k = softplus_beta(W_k z_{k-1} + H_k x + b_k)        k = 1 .. layers
    psi(x) = w_out . z_L + h_out . x + c + alpha |x|^2

with every ``W_k`` (k >= 1) and ``w_out`` non-negative (Softplus is convex and non-decreasing, so
psi is convex in x); ``W_0`` and the skip weights ``H_k`` are free. The network's output
``f(x) = grad psi(x)`` (autograd; ``create_graph`` whenever grad mode is on) is the gradient of
a convex function, hence exactly the proximal operator of some regulariser R (Gribonval &
Nikolova): ``f = prox_R``. Non-negativity is kept by clamping after every optimizer step
(:meth:`LearnedProximalNetwork.clamp_weights`, usable as a torch ``register_step_post_hook`` hook
or a ``TransformedOptimizer`` post-step hook). The regulariser is evaluable by inversion:

    R(x) = <y, x> - |x|^2 / 2 - psi(y),    y = f^{-1}(x),

found by minimising ``|f(y) - x|^2`` over y with Adam (the paper's code: lr 1e-2, 1000 steps).
Defaults follow the paper's 1-D Laplacian experiment (hidden 50, 4 layers, beta 10); the
non-negative weights start at exp(N(-10, 0.1)) as in its image models (``init_log_mean=None``
keeps PyTorch's default initialisation, clamped, as in the 1-D experiment's code).

Example::

    >>> import torch
    >>> from layerwise.nn import LearnedProximalNetwork
    >>> lpn = LearnedProximalNetwork(1, hidden=8, layers=2)
    >>> opt = torch.optim.Adam(lpn.parameters(), lr=1e-3)
    >>> _ = opt.register_step_post_hook(lpn.clamp_weights)   # keeps psi convex
    >>> y = torch.linspace(-2, 2, 5).unsqueeze(1)
    >>> lpn(y).pow(2).mean().backward(); opt.step()
    >>> bool((torch.diff(lpn(y).detach().squeeze(1)) >= 0).all())   # monotone: f = prox_R
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from layerwise._registry import register

PAPER = "What's in a Prior? Learned Proximal Networks for Inverse Problems (Fang et al., 2024)"
ARXIV = "2310.14344"


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


@register("lpn", kind="module", paper=PAPER, arxiv=ARXIV)
class LearnedProximalNetwork(nn.Module):
    """``f(x) = grad psi(x)`` for an input-convex potential psi on inputs of shape (batch, dim).

    ``hidden`` units per layer, ``layers`` constrained hidden-to-hidden layers, Softplus
    sharpness ``beta`` > 0, strong-convexity weight ``alpha`` >= 0 (``alpha |x|^2`` in psi).
    """

    def __init__(self, dim: int, *, hidden: int = 50, layers: int = 4, beta: float = 10.0,
                 alpha: float = 0.0, init_log_mean: float | None = -10.0,
                 init_log_std: float = 0.1) -> None:
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("layers", layers)):
            _check_count(name, value)
        if not beta > 0:
            raise ValueError(f"beta (Softplus sharpness) must be > 0, got {beta}")
        if not alpha >= 0:
            raise ValueError(f"alpha (strong convexity) must be >= 0, got {alpha}")
        if not init_log_std >= 0:
            raise ValueError(f"init_log_std must be >= 0, got {init_log_std}")
        self.dim, self.beta, self.alpha = dim, float(beta), float(alpha)
        self.first = nn.Linear(dim, hidden)
        self.skips = nn.ModuleList(nn.Linear(dim, hidden) for _ in range(layers))
        self.convex = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(layers))
        self.out = nn.Linear(hidden, 1, bias=False)
        self.out_skip = nn.Linear(dim, 1)
        with torch.no_grad():
            for w in self.nonnegative():
                if init_log_mean is not None:
                    w.normal_(init_log_mean, init_log_std).exp_()
        self.clamp_weights()

    def nonnegative(self) -> list[Tensor]:
        """The weights kept >= 0 (every hidden-to-hidden matrix and the output weights)."""
        return [m.weight for m in self.convex] + [self.out.weight]

    @torch.no_grad()
    def clamp_weights(self, *_: Any, **__: Any) -> None:
        """Project the constrained weights onto >= 0 (call after every optimizer step; extra
        arguments are ignored, so the bound method is a post-step hook as it stands)."""
        for w in self.nonnegative():
            w.clamp_(min=0)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (batch, {self.dim}), got {tuple(x.shape)}")

    def potential(self, x: Tensor) -> Tensor:
        """psi(x), shape (batch,): convex in x while the constrained weights are >= 0."""
        self._check(x)
        z = F.softplus(self.first(x), beta=self.beta)
        for w, h in zip(self.convex, self.skips, strict=True):
            z = F.softplus(w(z) + h(x), beta=self.beta)
        psi = self.out(z) + self.out_skip(x)
        return psi.squeeze(1) + self.alpha * x.pow(2).sum(1)

    def forward(self, x: Tensor) -> Tensor:
        """f(x) = grad psi(x), shape (batch, dim); differentiable in the parameters (and in x
        when x requires grad) whenever grad mode is on."""
        self._check(x)
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            xg = x if x.requires_grad else x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.potential(xg).sum(), xg, create_graph=keep_graph)
        return grad

    prox = forward

    def invert(self, x: Tensor, *, steps: int = 1000, lr: float = 1e-2) -> Tensor:
        """y with f(y) ~ x: Adam on |f(y) - x|^2 from y = x (each row independently)."""
        self._check(x)
        _check_count("steps", steps)
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        target = x.detach()
        y = target.clone().requires_grad_(True)
        opt = torch.optim.Adam([y], lr=lr)
        for _ in range(steps):
            with torch.enable_grad():
                xg = y.requires_grad_(True)
                grad = torch.autograd.grad(self.potential(xg).sum(), xg, create_graph=True)[0]
                loss = (grad - target).pow(2).sum()
                (g,) = torch.autograd.grad(loss, y)
            y.grad = g
            opt.step()
        return y.detach()

    def regularizer(self, x: Tensor, *, steps: int = 1000, lr: float = 1e-2) -> Tensor:
        """R(x) = <y, x> - |x|^2 / 2 - psi(y) with y = f^{-1}(x), shape (batch,): the function
        whose proximal operator this network is (up to an additive constant)."""
        y = self.invert(x, steps=steps, lr=lr)
        with torch.no_grad():
            return (y * x).sum(1) - 0.5 * x.pow(2).sum(1) - self.potential(y)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, beta={self.beta}, alpha={self.alpha}"
