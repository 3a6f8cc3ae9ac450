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
    names = [n for n, group in trained.items() if group]
    everything = [p for p in model.parameters() if p.requires_grad]
    grads = per_loss_grads(list(losses.values()), everything)  # (K, P) over the whole model
    columns = _columns(everything)
    cols = {n: torch.cat([columns[id(p)] for p in trained[n]]) for n in names}
    by_layer = {n: grads[:, cols[n]] for n in names}
    rows = conflict_rows(by_layer, task_names=list(losses))
    if aggregator is not None:
        update = aggregator(grads)
        cosines = update_cosines(by_layer, {n: update[cols[n]] for n in names})
        rows += [(n, "cos_update_min", v) for n, v in zip(names, cosines, strict=True)]
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


def _columns(params: list[Tensor]) -> dict[int, Tensor]:
    """Column indices of each parameter in the flattened (K, P) gradient of ``params``."""
    out, start = {}, 0
    for p in params:
        out[id(p)] = torch.arange(start, start + p.numel())
        start += p.numel()
    return out


def total(value: Tensor | Mapping[str, Tensor]) -> Tensor:
    """The training loss: the value itself, or the sum of several named losses."""
    return sum(value.values()) if isinstance(value, Mapping) else value
