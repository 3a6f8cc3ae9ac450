"""Per-layer gradient flow: parameter-gradient, weight and update norms, effective learning rate.

A layer's value aggregates every parameter under its module: the norm of the concatenation of
their tensors. The Monitor computes all layers at once with ``torch._foreach_norm`` and one
matrix product (``layer_norms``), with no host sync.
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerwise.metrics.base import metric
from layerwise.metrics.papers import CURSE_OF_DEPTH, NAP, SATURATION


def _norm(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.detach().double().reshape(-1) for t in tensors]).norm()


@metric("grad_norm", tier="economy", stage="params", paper=CURSE_OF_DEPTH[0], arxiv=CURSE_OF_DEPTH[1])
def grad_norm(grads: list[Tensor]) -> Tensor:
    """L2 norm of the layer's parameter gradients, all tensors together."""
    return _norm(grads)


@metric("weight_norm", tier="economy", stage="params", paper=NAP[0], arxiv=NAP[1])
def weight_norm(params: list[Tensor]) -> Tensor:
    """L2 (Frobenius) norm of the layer's parameters, all tensors together."""
    return _norm(params)


@metric("update_ratio", tier="economy", stage="update", paper=NAP[0], arxiv=NAP[1])
def update_ratio(before: list[Tensor], after: list[Tensor]) -> Tensor:
    """||W_after - W_before|| / ||W_before|| across one optimizer step."""
    return _norm([a.double() - b.double() for a, b in zip(after, before, strict=True)]) / _norm(before)


@metric("eff_lr", tier="business", stage="update", paper=NAP[0], arxiv=NAP[1])
def eff_lr(lr: float, matrices: list[Tensor]) -> Tensor:
    """Effective learning rate lr / ||W||^2 of the layer's weight matrices (>= 2-D parameters).

    Meaningful for scale-invariant weights (followed by a normalisation): a step of size lr at
    norm ||W|| moves the function as a step lr / ||W||^2 at unit norm (NaP paper, Sec. 3).
    """
    return lr / _norm(matrices) ** 2


@metric("act_grad_norm", tier="economy", stage="backward", paper=SATURATION[0], arxiv=SATURATION[1])
def act_grad_norm(grad_output: Tensor) -> Tensor:
    """||dL/dh_l||: L2 norm of the loss gradient with respect to the layer's output."""
    return grad_output.detach().double().norm()


def membership(layers: list[list[int]], n_params: int, device: torch.device) -> Tensor:
    """A (layers x params) 0/1 matrix: entry (l, p) is 1 when parameter p belongs to layer l."""
    m = torch.zeros(len(layers), n_params, device=device)
    for row, indices in enumerate(layers):
        m[row, indices] = 1.0
    return m


def squared_norms(tensors: list[Tensor]) -> Tensor:
    """Squared L2 norm of each tensor, as one float32 vector, from a single fused foreach kernel."""
    return torch.stack(torch._foreach_norm(tensors)).float().pow(2)


def layer_norms(tensors: list[Tensor], member: Tensor) -> Tensor:
    """Per-layer L2 norms of parameter tensors: sqrt(member @ per-tensor squared norms)."""
    if not tensors:
        return torch.zeros(member.shape[0], device=member.device)
    return (member @ squared_norms(tensors)).sqrt()
