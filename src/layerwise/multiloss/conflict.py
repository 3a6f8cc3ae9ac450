"""Gradient-conflict diagnostics between losses, per layer, as RunLog rows.

* ``pairwise_cosine(G)``: the (K, K) cosine matrix of the rows of a (K, P) gradient matrix.
* ``magnitude_similarity(G)``: the (K, K) gradient-magnitude similarity
  GMS_ij = 2 |g_i| |g_j| / (|g_i|^2 + |g_j|^2), 1 for equal norms, -> 0 as they diverge
  (Yu et al., "Gradient Surgery for Multi-Task Learning", 2020, arXiv 2001.06782, Def. 2).
* ``conflict_rows(grads_by_layer)``: (layer, metric, value) rows for ``RunLog.log_many``:
  ``cos/a-b`` and ``gms/a-b`` for every pair of tasks, ``cos_min`` and ``gms_mean``; all layers
  are reduced on the device and read back with one host sync.
* ``ConflictCounter``: how often (fraction of updates) each layer has a pair with cos < threshold.

A zero gradient has cosine 0 with anything and GMS 0 with a non-zero one (1 with another zero).

Example::

    >>> import torch
    >>> from layerwise.multiloss import conflict_rows
    >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    >>> [(l, m, round(v, 3)) for l, m, v in conflict_rows({"fc": g})][:2]
    [('fc', 'cos/0-1', -0.707), ('fc', 'gms/0-1', 0.943)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from layerwise._registry import register

_PCGRAD = "Gradient Surgery for Multi-Task Learning (Yu et al., 2020)"
_TINY = 1e-30


def pairwise_cosine(grads: Tensor) -> Tensor:
    """(K, K) cosine similarity between the rows of ``grads`` (computed in float64)."""
    g = grads.detach().double()
    gram = g @ g.T
    norms = gram.diagonal().clamp_min(0).sqrt()
    return gram / (norms[:, None] * norms[None, :]).clamp_min(_TINY)


def magnitude_similarity(grads: Tensor) -> Tensor:
    """(K, K) gradient-magnitude similarity 2|g_i||g_j| / (|g_i|^2 + |g_j|^2) (float64 from the norms)."""
    n = grads.detach().norm(dim=1).double()
    num = 2 * n[:, None] * n[None, :]
    den = n[:, None] ** 2 + n[None, :] ** 2
    return torch.where(den > 0, num / den.clamp_min(_TINY), torch.ones_like(den))


def _pair_stats(grads: Tensor) -> Tensor:
    """cos for each pair, gms for each pair, cos_min, gms_mean: one float64 vector."""
    k = grads.shape[0]
    if k < 2:
        return torch.tensor([1.0, 1.0], dtype=torch.float64, device=grads.device)
    i, j = torch.triu_indices(k, k, offset=1, device=grads.device)
    cos = pairwise_cosine(grads)[i, j]
    gms = magnitude_similarity(grads)[i, j]
    return torch.cat([cos, gms, cos.min()[None], gms.mean()[None]])


def _metric_names(k: int, task_names: Sequence[str] | None) -> list[str]:
    names = [str(t) for t in task_names] if task_names is not None else [str(t) for t in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} task names for {k} losses")
    pairs = [(names[a], names[b]) for a in range(k) for b in range(a + 1, k)]
    return [f"cos/{a}-{b}" for a, b in pairs] + [f"gms/{a}-{b}" for a, b in pairs] + ["cos_min", "gms_mean"]


@register("conflict_rows", kind="diagnostic", paper=_PCGRAD, arxiv="2001.06782")
def conflict_rows(grads_by_layer: Mapping[str, Tensor], *,
                  task_names: Sequence[str] | None = None) -> list[tuple[str, str, float]]:
    """(layer, metric, value) rows of pairwise cosine and magnitude similarity for every layer.

    ``grads_by_layer`` maps a layer name to its (K, P_layer) per-loss gradients (for example
    ``layout.split(per_loss_grads(losses, params))``; use layer ``""`` for the whole model).
    """
    if not grads_by_layer:
        return []
    layers = list(grads_by_layer)
    stats = [_pair_stats(grads_by_layer[layer]) for layer in layers]
    k = next(iter(grads_by_layer.values())).shape[0]
    names = _metric_names(k, task_names) if k > 1 else ["cos_min", "gms_mean"]
    values = torch.stack(stats).cpu().tolist()  # the one host sync
    return [(layer, m, v) for layer, row in zip(layers, values, strict=True)
            for m, v in zip(names, row, strict=True)]


@register("conflict_frequency", kind="diagnostic", paper=_PCGRAD, arxiv="2001.06782")
class ConflictCounter:
    """Fraction of updates on which each layer had a pair of loss gradients with cos < threshold.

    Counts stay on the device; ``frequency()`` and ``rows()`` sync once.

    Example::

        >>> import torch
        >>> from layerwise.multiloss import ConflictCounter
        >>> c = ConflictCounter()
        >>> c.update({"fc": torch.tensor([[1.0, 0.0], [-1.0, 0.1]])})
        >>> c.update({"fc": torch.tensor([[1.0, 0.0], [1.0, 0.1]])})
        >>> c.frequency()
        {'fc': 0.5}
    """

    def __init__(self, *, threshold: float = 0.0) -> None:
        self.threshold = threshold
        self.layers: list[str] = []
        self.counts: Tensor | None = None
        self.steps = 0

    def update(self, grads_by_layer: Mapping[str, Tensor]) -> None:
        layers = list(grads_by_layer)
        if self.counts is None:
            self.layers = layers
            first = grads_by_layer[layers[0]]
            self.counts = torch.zeros(len(layers), dtype=torch.int64, device=first.device)
        elif layers != self.layers:
            raise ValueError("the layers changed between updates; use one counter per set of layers")
        hits = []
        for layer in layers:
            cos = pairwise_cosine(grads_by_layer[layer])
            k = cos.shape[0]
            off = cos.masked_fill(torch.eye(k, dtype=torch.bool, device=cos.device), float("inf"))
            hits.append((off < self.threshold).any())
        self.counts += torch.stack(hits).to(self.counts.dtype)
        self.steps += 1

    def frequency(self) -> dict[str, float]:
        if self.counts is None or self.steps == 0:
            return {}
        return dict(zip(self.layers, (self.counts.double() / self.steps).cpu().tolist(), strict=True))

    def rows(self) -> list[tuple[str, str, float]]:
        """(layer, "conflict_freq", value) rows for ``RunLog.log_many``."""
        return [(layer, "conflict_freq", v) for layer, v in self.frequency().items()]

    def state_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "counts": None if self.counts is None else self.counts.clone(),
                "steps": self.steps, "threshold": self.threshold}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.layers = list(state["layers"])
        self.counts = None if state["counts"] is None else state["counts"].clone()
        self.steps = int(state["steps"])
        self.threshold = float(state["threshold"])
