"""Per-layer gradient conflict between the losses of a multi-loss recipe, as RunLog rows.

For a recipe whose ``loss_fn`` returns several named losses, :func:`log_conflict` differentiates
each on its own (outside the Monitor's step, so no activation statistic sees these extra
backward passes) and logs :func:`layerwise.multiloss.conflict_rows` for every monitored layer:
pairwise cosines, magnitude similarities and ``cos_min``, the row the gradient-conflict rule
reads (Yu et al., 2020, arXiv 2001.06782).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from layerwise.layers import get_module
from layerwise.multiloss import conflict_rows, per_loss_grads


def log_conflict(mon, model: nn.Module, losses: Mapping[str, Tensor], step: int) -> None:
    """Rows of the losses' per-layer gradient conflict at ``step`` into ``mon``'s log."""
    trained = {n: [p for p in get_module(model, n).parameters() if p.requires_grad] for n in mon.layers}
    names = [n for n, group in trained.items() if group]
    params = [trained[n] for n in names]
    flat = [p for group in params for p in group]
    grads = per_loss_grads(list(losses.values()), flat)
    sizes = [sum(p.numel() for p in group) for group in params]
    by_layer = dict(zip(names, torch.split(grads, sizes, dim=1), strict=True))
    rows = conflict_rows(by_layer, task_names=list(losses))
    mon.log_target.log_many(step, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def total(value: Tensor | Mapping[str, Tensor]) -> Tensor:
    """The training loss: the value itself, or the sum of several named losses."""
    return sum(value.values()) if isinstance(value, Mapping) else value
