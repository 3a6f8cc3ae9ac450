"""GradNorm: learn loss weights so that the tasks' gradient norms train at balanced rates.

Chen, Badrinarayanan, Lee, Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss
Balancing in Deep Multitask Networks", ICML 2018, arXiv 1711.02257 (Algorithm 1). With
W the weights of the last shared layer and learned task weights w_i (starting at 1):

    G_i = |grad_W w_i L_i|,  G_bar = mean_i G_i,  r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0))
    L_grad = sum_i | G_i - G_bar * r_i^alpha |      (the target G_bar r_i^alpha held constant)

The network gets the gradient of sum_i w_i L_i; the weights take a gradient step on L_grad and
are renormalised so that sum_i w_i = K. alpha (default 1.5, the paper's NYUv2 value) sets how
hard tasks that train slowly are pushed.

GradNorm needs the losses and the last shared layer, not just a gradient matrix, so it is a
trainer-side object rather than an aggregator. Since G_i = w_i |grad_W L_i|, the norms come from
K gradient computations down to W only and L_grad's gradient in w needs no double backward.
The weights take plain gradient steps of size ``lr`` (a hyperparameter the paper leaves to
the user) and are kept positive (>= ``min_weight``) before the renormalisation.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.multiloss import GradNorm
    >>> trunk, heads = nn.Linear(4, 8), nn.ModuleList([nn.Linear(8, 1), nn.Linear(8, 1)])
    >>> gn = GradNorm(trunk, n_tasks=2, alpha=1.5)
    >>> h = trunk(torch.randn(16, 4))
    >>> stats = gn.backward([heads[0](h).pow(2).mean(), 10 * heads[1](h).pow(2).mean()])
    >>> round(float(gn.weights.sum()), 4), trunk.weight.grad is not None
    (2.0, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register


@register("gradnorm", kind="scheme",
          paper="GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask Networks "
                "(Chen et al., 2018)", arxiv="1711.02257")
class GradNorm:
    """Learned loss weights that equalise the tasks' gradient-norm training rates.

    Args:
        shared_layer: the last shared layer (its >= 2-D weights are W) or the tensors W themselves.
        n_tasks: number of losses K.
        alpha: the asymmetry exponent (paper: 1.5 on NYUv2, 0.12 on its synthetic tasks).
        lr: step size of the weights' gradient step on L_grad.
        min_weight: lower bound on each weight before renormalisation.
    """

    def __init__(self, shared_layer: nn.Module | Iterable[Tensor], n_tasks: int, *, alpha: float = 1.5,
                 lr: float = 0.025, min_weight: float = 1e-3) -> None:
        if isinstance(shared_layer, nn.Module):
            params = [p for p in shared_layer.parameters() if p.requires_grad and p.ndim >= 2]
        else:
            params = list(shared_layer)
        if not params:
            raise ValueError("the last shared layer has no trainable weight matrix")
        self.params = params
        self.n_tasks, self.alpha, self.lr, self.min_weight = n_tasks, alpha, lr, min_weight
        self.weights = torch.ones(n_tasks, device=params[0].device)
        self.initial_losses: Tensor | None = None

    def grad_norms(self, losses: Sequence[Tensor]) -> Tensor:
        """|grad_W L_i| for each task (unweighted), keeping the graph."""
        norms = []
        for loss in losses:
            grads = torch.autograd.grad(loss, self.params, retain_graph=True, allow_unused=True)
            norms.append(torch.sqrt(sum((g.detach().pow(2).sum() for g in grads if g is not None),
                                        torch.zeros((), device=loss.device))))
        return torch.stack(norms)

    def update_weights(self, losses: Sequence[Tensor]) -> dict[str, Tensor]:
        """One GradNorm step on the weights from the current losses; returns the quantities used."""
        if len(losses) != self.n_tasks:
            raise ValueError(f"{len(losses)} losses for n_tasks={self.n_tasks}")
        current = torch.stack([loss.detach().reshape(()) for loss in losses]).to(self.weights)
        if self.initial_losses is None:
            self.initial_losses = current.clone()
        norms = self.grad_norms(losses).to(self.weights)
        w = self.weights.clone().requires_grad_(True)
        g = w * norms
        ratio = current / self.initial_losses
        target = (g.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        loss_grad = (g - target).abs().sum()
        (dw,) = torch.autograd.grad(loss_grad, w)
        new = (self.weights - self.lr * dw).clamp_min(self.min_weight)
        self.weights = new * (self.n_tasks / new.sum())
        return {"grad_norms": g.detach(), "target": target, "loss_grad": loss_grad.detach(),
                "weights": self.weights}

    def backward(self, losses: Sequence[Tensor]) -> dict[str, Tensor]:
        """Backpropagate sum_i w_i L_i with the current weights, then update the weights."""
        total = sum(w * loss for w, loss in zip(self.weights.tolist(), losses, strict=True))
        weights_used = self.weights.clone()
        stats = self.update_weights(losses)
        total.backward()
        stats["weights_used"] = weights_used
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.clone(),
                "initial_losses": None if self.initial_losses is None else self.initial_losses.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = state["weights"].clone()
        self.initial_losses = None if state["initial_losses"] is None else state["initial_losses"].clone()
