"""Per-layer gradient conflict between the losses of a multi-loss recipe, as RunLog rows.

For a recipe whose ``loss_fn`` returns several named losses, :func:`log_conflict` differentiates
each on its own (outside the Monitor's step, so no activation statistic sees these extra
backward passes) and logs :func:`layerwise.multiloss.conflict_rows` for every monitored layer:
pairwise cosines, magnitude similarities and ``cos_min``, the row the gradient-conflict rule
reads (Yu et al., 2020, arXiv 2001.06782). When an aggregator (PCGrad, SAM-GS) combines the
per-loss gradients, it also logs ``cos_update_min``: per layer, the smallest cosine between a
loss's gradient and the direction the aggregator applies, over all trainable parameters as
training computes it. An aggregator does not make the losses agree; it keeps the update from
going against any of them (PCGrad's guarantee for two losses, Yu et al. Theorem 1), and that is
what this row shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from layerwise.layers import get_module
from layerwise.multiloss import conflict_rows, per_loss_grads


def log_conflict(mon, model: nn.Module, losses: Mapping[str, Tensor], step: int,
                 aggregator: Callable[[Tensor], Tensor] | None = None) -> None:
    """Rows of the losses' per-layer gradient conflict at ``step`` into ``mon``'s log (with
    ``aggregator``, also each layer's ``cos_update_min``)."""
    trained = {n: [p for p in get_module(model, n).parameters() if p.requires_grad] for n in mon.layers}
    layers = {n: group for n, group in trained.items() if group}
    # training aggregates over every trainable parameter: the direction is only its own over them all
    params = ([p for p in model.parameters() if p.requires_grad] if aggregator is not None
              else list(dict.fromkeys(p for group in layers.values() for p in group)))
    grads = per_loss_grads(list(losses.values()), params)  # (K, P)
    by_layer = _by_layer(grads, params, layers)
    rows = conflict_rows(by_layer, task_names=list(losses))
    if aggregator is not None:
        update = _by_layer(aggregator(grads)[None], params, layers)
        cosines = update_cosines(by_layer, {n: u[0] for n, u in update.items()})
        rows += [(n, "cos_update_min", v) for n, v in zip(layers, cosines, strict=True)]
    mon.log_target.log_many(step, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def update_cosines(grads: Mapping[str, Tensor], update: Mapping[str, Tensor]) -> list[float]:
    """Per layer, the smallest cosine between a row of ``grads[layer]`` (K, P_layer) and
    ``update[layer]`` (P_layer,); 1.0 where either is zero (nothing to go against)."""
    out = []
    for layer, g in grads.items():
        u = update[layer]
        norms = g.norm(dim=1) * u.norm()
        safe = norms.clamp_min(torch.finfo(g.dtype).tiny)
        cos = torch.where(norms > 0, (g @ u) / safe, torch.ones_like(norms))
        out.append(float(cos.min()))
    return out


def _by_layer(flat: Tensor, params: list[Tensor], layers: dict[str, list[Tensor]]) -> dict[str, Tensor]:
    """The columns of ``flat`` (K, P over ``params``) that belong to each layer's parameters."""
    per_param = dict(zip(map(id, params), torch.split(flat, [p.numel() for p in params], dim=1), strict=True))
    return {n: torch.cat([per_param[id(p)] for p in group], dim=1) for n, group in layers.items()}


def total(value: Tensor | Mapping[str, Tensor]) -> Tensor:
    """The training loss: the value itself, or the sum of several named losses."""
    return sum(value.values()) if isinstance(value, Mapping) else value
