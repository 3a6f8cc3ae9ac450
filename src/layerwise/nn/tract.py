"""TrAct: train the first layer's pre-activations, then fit its weights to them in closed form.

TrAct: Making First-layer Pre-Activations Trainable (Petersen, Borgelt & Ermon, NeurIPS 2024,
arXiv 2410.23970). For a first layer ``z = A W^T + b`` with input rows A (N x n; for a convolution
the unfolded patches, N = batch x output positions) and G = dL/dz (N x m), the weight gradient
``G^T A`` is replaced by the ridge solution

    grad_W = G^T A (A^T A / N + l I_n)^{-1}                                   (N >= n)
           = G^T (I_N - (1/l) (A A^T / N) (A A^T / (N l) + I_N)^{-1}) A / l   (N < n, Woodbury)

so that pixel magnitude no longer sets the first layer's learning speed. The Woodbury form is
computed as ``(M^-1 G)^T A / l`` with ``M = A A^T / (N l) + I``, the same matrix (the bracket above
equals M^-1), which costs one N x N factorisation beyond the standard ``G^T A``. The bias gradient and the
input gradient are unchanged. ``l`` (lambda) is the only hyperparameter; ``l -> inf`` gives back
``grad / l``. Wrap only the first layer; it composes with any optimizer.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn.tract import TrAct
    >>> first = TrAct(nn.Conv2d(1, 8, 3, padding=1), l=0.1)
    >>> first(torch.randn(2, 1, 8, 8)).sum().backward()
    >>> first.layer.weight.grad.shape
    torch.Size([8, 1, 3, 3])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register


def tract_weight_grad(a: Tensor, g: Tensor, l: float, *, branch: str = "auto") -> Tensor:
    """The TrAct weight gradient (m x n) from input rows ``a`` (N x n) and output grads ``g`` (N x m).

    ``branch`` is "auto" (primal when N >= n), "primal" or "woodbury". Solved in at least float32.
    """
    dtype = torch.promote_types(a.dtype, torch.float32)
    a, g = a.to(dtype), g.to(dtype)
    big_n, n = a.shape
    if branch == "auto":
        branch = "primal" if big_n >= n else "woodbury"
    if branch == "primal":
        return _primal(a.T @ a, a.T @ g, big_n, l)
    if branch == "woodbury":
        # With M = A A^T / (N l) + I, the bracket I - (1/l)(A A^T / N) M^-1 equals M^-1 (since
        # (A A^T / N) / l = M - I), so grad_W = (M^-1 G)^T A / l: an N x N solve against G only.
        m = a @ a.T / (big_n * l)
        m.diagonal().add_(1.0)
        return torch.cholesky_solve(g, torch.linalg.cholesky(m)).T @ a / l
    raise ValueError(f"branch must be 'auto', 'primal' or 'woodbury', got {branch!r}")


def _primal(gram: Tensor, atg: Tensor, big_n: int, l: float) -> Tensor:
    """(gram / N + l I)^-1 A^T G, transposed: the N >= n branch from the sufficient statistics."""
    gram = gram / big_n
    gram.diagonal().add_(l)
    return torch.cholesky_solve(atg, torch.linalg.cholesky(gram)).T  # symmetric: (gram^-1 A^T G)^T


class _TrActLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, l: float, branch: str) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.l, ctx.branch, ctx.has_bias = l, branch, bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):
        x, weight = ctx.saved_tensors
        g = grad_out.reshape(-1, grad_out.shape[-1])
        grad_x = grad_out @ weight if ctx.needs_input_grad[0] else None
        grad_w = tract_weight_grad(x.reshape(-1, x.shape[-1]), g, ctx.l, branch=ctx.branch).to(weight.dtype)
        grad_b = g.sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None


class _TrActConv2d(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, conv: nn.Conv2d, l: float, branch: str
    ):
        ctx.save_for_backward(x, weight)
        ctx.conv, ctx.l, ctx.branch, ctx.has_bias = conv, l, branch, bias is not None
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):
        x, weight = ctx.saved_tensors
        conv = ctx.conv
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv2d_input(
                x.shape, weight, grad_out, conv.stride, conv.padding, conv.dilation, conv.groups
            )
        patches = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # (B, n, P)
        go = grad_out.flatten(2)  # (B, m, P)
        big_n, n = patches.shape[0] * patches.shape[2], patches.shape[1]
        if ctx.branch == "woodbury" or (ctx.branch == "auto" and big_n < n):
            a = patches.transpose(1, 2).reshape(-1, n)
            rows = go.transpose(1, 2).reshape(-1, go.shape[1])
            grad_w = tract_weight_grad(a, rows, ctx.l, branch="woodbury")
        else:  # batched products over the patch axis: no transposed copy of the patches
            dtype = torch.promote_types(x.dtype, torch.float32)
            patches, go = patches.to(dtype), go.to(dtype)
            grad_w = _primal((patches @ patches.mT).sum(0), (patches @ go.mT).sum(0), big_n, ctx.l)
        grad_w = grad_w.reshape(weight.shape).to(weight.dtype)
        grad_b = grad_out.sum((0, 2, 3)) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None, None


@register(
    "tract",
    kind="module",
    paper="TrAct: Making First-layer Pre-Activations Trainable (Petersen, Borgelt & Ermon, NeurIPS 2024)",
    arxiv="2410.23970",
)
class TrAct(nn.Module):
    """Wraps a first ``nn.Linear`` or ``nn.Conv2d`` so its weight gradient is TrAct's closed form.

    The forward pass is the wrapped layer's; ``self.layer`` keeps its parameters (and their names
    gain a ``layer.`` prefix). ``branch`` forces "primal" or "woodbury" (for checks).
    """

    def __init__(self, layer: nn.Linear | nn.Conv2d, l: float = 0.1, *, branch: str = "auto") -> None:
        super().__init__()
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            raise TypeError(f"TrAct wraps nn.Linear or nn.Conv2d, got {type(layer).__name__}")
        if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.padding_mode != "zeros"):
            raise ValueError("TrAct supports Conv2d with groups=1 and padding_mode='zeros'")
        if isinstance(layer, nn.Conv2d) and isinstance(layer.padding, str):
            raise ValueError("TrAct needs explicit integer padding (not 'same'/'valid') for unfold")
        if l <= 0:
            raise ValueError(f"l must be > 0, got {l}")
        self.layer, self.l, self.branch = layer, float(l), branch

    def forward(self, x: Tensor) -> Tensor:
        w, b = self.layer.weight, self.layer.bias
        if isinstance(self.layer, nn.Linear):
            return _TrActLinear.apply(x, w, b, self.l, self.branch)
        return _TrActConv2d.apply(x, w, b, self.layer, self.l, self.branch)

    def extra_repr(self) -> str:
        return f"l={self.l}"
