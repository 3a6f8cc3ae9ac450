"""Learning-rate annealing of loss weights from back-propagated gradient statistics.

Wang, Teng, Perdikaris, "Understanding and mitigating gradient pathologies in physics-informed
neural networks", SIAM J. Sci. Comput. 2021, arXiv 2001.04536 (Algorithm 1; official code
PredictiveIntelligenceLab/GradientPathologiesPINNs). For a loss L = L_ref + sum_i lambda_i L_i,
every ``every`` (10) steps:

    lambda_hat_i = max_{W} |grad_W L_ref|  /  mean over layers of mean_{W_layer} |grad_W (lambda_i L_i)|
    lambda_i    <- alpha lambda_i + (1 - alpha) lambda_hat_i          (alpha = 0.9, lambda_i(0) = 1)

over the weight matrices only (>= 2-D parameters, no biases). As in the official code the
gradient of term i is taken of the already weighted lambda_i L_i (``weighted=True``);
``weighted=False`` uses the unweighted L_i. Nothing here is PINN-specific: any multi-term loss
works, with the reference term (the PDE residual in the paper) at index ``ref``.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.multiloss import GradStatAnnealer
    >>> net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    >>> ann = GradStatAnnealer(net, n_terms=2)
    >>> x = torch.randn(32, 2)
    >>> loss = ann.combine([net(x).pow(2).mean() * 100, (net(x) - 1).pow(2).mean()])
    >>> loss.backward(); bool(ann.weights[1] > 1)
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register


def lambda_hat(ref_grads: Sequence[Tensor], term_grads: Sequence[Tensor]) -> Tensor:
    """max |ref_grads| over all entries, divided by the mean over tensors of mean |term_grads|."""
    top = torch.stack([g.detach().abs().max() for g in ref_grads]).max()
    mean = torch.stack([g.detach().abs().mean() for g in term_grads]).mean()
    return top / mean


def _weights_of(model: nn.Module | Iterable[Tensor]) -> list[Tensor]:
    params = model.parameters() if isinstance(model, nn.Module) else model
    out = [p for p in params if p.requires_grad and p.ndim >= 2]
    if not out:
        raise ValueError("no trainable weight matrices (>= 2-D parameters) to take statistics over")
    return out


@register("grad_stat_annealing", kind="scheme",
          paper="Understanding and mitigating gradient pathologies in physics-informed neural networks "
                "(Wang, Teng, Perdikaris, 2021)", arxiv="2001.04536")
class GradStatAnnealer:
    """Loss weights annealed toward max|grad L_ref| / mean|grad lambda_i L_i| every ``every`` steps.

    Args:
        model: the network (its >= 2-D parameters are used) or the weight tensors themselves.
        n_terms: number of loss terms, the reference included.
        ref: index of the reference term (weight fixed at 1).
        alpha: EMA factor of the weights (0.9).
        every: update period in calls of ``combine`` (10); the first call updates.
        weighted: differentiate lambda_i L_i (official code) rather than L_i.
    """

    def __init__(self, model: nn.Module | Iterable[Tensor], n_terms: int, *, ref: int = 0, alpha: float = 0.9,
                 every: int = 10, weighted: bool = True) -> None:
        if not 0 <= ref < n_terms:
            raise ValueError(f"ref={ref} is not a term index (n_terms={n_terms})")
        self.params = _weights_of(model)
        self.n_terms, self.ref, self.alpha, self.every, self.weighted = n_terms, ref, alpha, every, weighted
        self.weights = torch.ones(n_terms, dtype=torch.float64)
        self.calls = 0
        self.last_lambda_hat: Tensor | None = None

    def _grads(self, loss: Tensor) -> list[Tensor]:
        grads = torch.autograd.grad(loss, self.params, retain_graph=True, allow_unused=True)
        return [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, self.params, strict=True)]

    def update(self, losses: Sequence[Tensor]) -> Tensor:
        """Recompute lambda_hat from these losses (graph kept) and move the weights toward it."""
        if len(losses) != self.n_terms:
            raise ValueError(f"{len(losses)} losses for n_terms={self.n_terms}")
        ref_grads = self._grads(losses[self.ref])
        hats = torch.ones(self.n_terms, dtype=torch.float64)
        for i, loss in enumerate(losses):
            if i == self.ref:
                continue
            term = loss * float(self.weights[i]) if self.weighted else loss
            hats[i] = float(lambda_hat(ref_grads, self._grads(term)))
        keep = torch.arange(self.n_terms) != self.ref
        self.weights[keep] = self.alpha * self.weights[keep] + (1 - self.alpha) * hats[keep]
        self.last_lambda_hat = hats
        return self.weights

    def combine(self, losses: Sequence[Tensor]) -> Tensor:
        """sum_i lambda_i L_i, updating the weights first on every ``every``-th call."""
        if self.calls % self.every == 0:
            self.update(losses)
        self.calls += 1
        return sum(float(w) * loss for w, loss in zip(self.weights, losses, strict=True))

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.clone(), "calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = state["weights"].clone().double()
        self.calls = int(state["calls"])
