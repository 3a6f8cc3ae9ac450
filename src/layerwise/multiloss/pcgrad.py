"""PCGrad: project each task gradient off the normal plane of the gradients it conflicts with.

Yu, Kumar, Gupta, Levine, Hausman, Finn, "Gradient Surgery for Multi-Task Learning",
NeurIPS 2020, arXiv 2001.06782, Algorithm 1::

    for each task i:   g_i^PC = g_i
        for each j != i in random order:
            if g_i^PC . g_j < 0:  g_i^PC -= (g_i^PC . g_j) / |g_j|^2 * g_j
    return sum_i g_i^PC

Projections are against the original g_j. Every g_i^PC is a combination of the rows, so the
whole algorithm runs on the K x K Gram matrix (float64, on the CPU: K is small) and the result
is one (K,) weight vector applied to G: one matrix product over P, one host sync.
The projection order comes from a seeded ``torch.Generator`` kept on the object
(``state_dict`` saves it). For K = 2 the order does not matter.

Example::

    >>> import torch
    >>> from layerwise.multiloss import PCGrad
    >>> PCGrad()(torch.tensor([[1.0, 1.0], [-1.0, 0.0]]))
    tensor([-0.5000,  1.5000])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.multiloss.base import check_matrix


def pcgrad_weights(gram: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Weights w (K,) with PCGrad(G) = w @ G, from the Gram matrix G G^T."""
    gram = gram.detach().double().cpu()
    k = gram.shape[0]
    total = torch.zeros(k, dtype=torch.float64)
    for i in range(k):
        coef = torch.zeros(k, dtype=torch.float64)
        coef[i] = 1.0
        for j in torch.randperm(k, generator=generator).tolist():
            if j == i:
                continue
            dot = float(coef @ gram[j])  # g_i^PC . g_j
            if dot < 0.0 and gram[j, j] > 0:
                coef[j] -= dot / float(gram[j, j])
        total += coef
    return total


@register("pcgrad", kind="aggregator", paper="Gradient Surgery for Multi-Task Learning (Yu et al., 2020)",
          arxiv="2001.06782")
class PCGrad:
    """Projecting conflicting gradients (sum of the projected task gradients).

    Args:
        seed: seed of the generator that draws the projection order.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.last_weights: Tensor | None = None

    def __call__(self, grads: Tensor) -> Tensor:
        check_matrix(grads)
        weights = pcgrad_weights(grads @ grads.T, self.generator)
        self.last_weights = weights
        return weights.to(device=grads.device, dtype=grads.dtype) @ grads

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
