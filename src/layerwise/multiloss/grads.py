"""Per-loss gradients over shared parameters: the (K, P) matrix every aggregator takes.

``per_loss_grads(losses, params)`` runs one backward pass per loss (the graph is retained
between them) or, with ``batched=True``, one vmapped backward over the K losses
(``torch.autograd.grad(..., is_grads_batched=True)``; not every operator supports it). Row k
is the flattened gradient of loss k; a parameter that a loss does not reach gets zeros.

``ParamLayout`` names the columns: which parameter, which layer (the dotted module path, the
library's one name of a layer). ``layout.split(G)`` gives the per-layer view, ``write_grad``
puts an aggregated (P,) gradient back into ``p.grad``, and ``aggregate_backward`` does the
whole multi-loss step: per-loss gradients of the shared parameters, the aggregator, plain
summed gradients for task-specific parameters (heads), in K backward passes in all.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.multiloss import PCGrad, ParamLayout, aggregate_backward
    >>> trunk, heads = nn.Linear(4, 8), nn.ModuleList([nn.Linear(8, 1), nn.Linear(8, 1)])
    >>> h = trunk(torch.randn(16, 4))
    >>> losses = [heads[0](h).pow(2).mean(), (heads[1](h) - 1).pow(2).mean()]
    >>> out = aggregate_backward(losses, trunk.parameters(), PCGrad(), task_params=heads.parameters())
    >>> out.grads.shape, trunk.weight.grad.shape
    (torch.Size([2, 40]), torch.Size([8, 4]))
    >>> sorted(ParamLayout.from_module(trunk).split(out.grads))
    ['']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from layerwise._registry import register


def _layer_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


@dataclass(frozen=True)
class ParamLayout:
    """Column layout of a flat gradient: parameter names, shapes and offsets into the P axis."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    offsets: tuple[int, ...]  # len(names) + 1 entries; parameter i spans offsets[i]:offsets[i+1]

    @classmethod
    def from_named(cls, named: Iterable[tuple[str, Tensor]]) -> ParamLayout:
        names, shapes, offsets = [], [], [0]
        for name, p in named:
            names.append(name)
            shapes.append(p.shape)
            offsets.append(offsets[-1] + p.numel())
        return cls(tuple(names), tuple(shapes), tuple(offsets))

    @classmethod
    def from_module(cls, module: nn.Module) -> ParamLayout:
        """Layout of ``module``'s trainable parameters, in ``named_parameters()`` order."""
        return cls.from_named((n, p) for n, p in module.named_parameters() if p.requires_grad)

    @property
    def numel(self) -> int:
        return self.offsets[-1]

    def layer_slices(self) -> dict[str, slice]:
        """Column range of each layer (parameters grouped by module path, in order)."""
        out: dict[str, slice] = {}
        for i, name in enumerate(self.names):
            layer = _layer_of(name)
            start, stop = self.offsets[i], self.offsets[i + 1]
            if layer in out:
                if out[layer].stop != start:
                    raise ValueError(
                        f"parameters of layer {layer!r} are not contiguous; pass them grouped by layer "
                        "(model.named_parameters() order)"
                    )
                start = out[layer].start
            out[layer] = slice(start, stop)
        return out

    def split(self, flat: Tensor) -> dict[str, Tensor]:
        """Per-layer views of the last axis of ``flat`` ((P,) or (K, P)): layer -> (..., P_layer)."""
        self._check(flat)
        return {layer: flat[..., sl] for layer, sl in self.layer_slices().items()}

    def unflatten(self, flat: Tensor) -> list[Tensor]:
        """A (P,) vector as one tensor per parameter, with the parameters' shapes (views)."""
        self._check(flat)
        spans = zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)
        return [flat[a:b].view(s) for a, b, s in spans]

    def _check(self, flat: Tensor) -> None:
        if flat.shape[-1] != self.numel:
            raise ValueError(f"last axis has {flat.shape[-1]} entries; this layout has {self.numel}")


def _params(params: Iterable[Tensor] | nn.Module) -> list[Tensor]:
    if isinstance(params, nn.Module):
        return [p for p in params.parameters() if p.requires_grad]
    out = list(params)
    if not out:
        raise ValueError("no parameters given")
    return out


def _flat(grads: Sequence[Tensor | None], params: Sequence[Tensor]) -> Tensor:
    return torch.cat([
        (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)
    ])


@register("per_loss_grads", kind="diagnostic", paper="-")
def per_loss_grads(losses: Sequence[Tensor], params: Iterable[Tensor] | nn.Module, *,
                   batched: bool = False, retain_graph: bool = False) -> Tensor:
    """The (K, P) matrix of per-loss gradients: row k is d losses[k] / d params, flattened.

    ``batched=True`` differentiates all K losses in one vmapped backward pass. The graph is
    freed after the last loss unless ``retain_graph``.
    """
    plist = _params(params)
    if not losses:
        raise ValueError("no losses given")
    if batched:
        out = torch.stack([loss.reshape(()) for loss in losses])
        eye = torch.eye(len(losses), dtype=out.dtype, device=out.device)
        grads = torch.autograd.grad(out, plist, grad_outputs=eye, retain_graph=retain_graph,
                                    is_grads_batched=True, allow_unused=True)
        cols = [(g if g is not None else torch.zeros(len(losses), *p.shape, dtype=p.dtype, device=p.device))
                .reshape(len(losses), -1) for g, p in zip(grads, plist, strict=True)]
        return torch.cat(cols, dim=1)
    rows = []
    for k, loss in enumerate(losses):
        keep = retain_graph or k < len(losses) - 1
        rows.append(_flat(torch.autograd.grad(loss, plist, retain_graph=keep, allow_unused=True), plist))
    return torch.stack(rows)


def write_grad(params: Iterable[Tensor] | nn.Module, flat: Tensor, *, accumulate: bool = False) -> None:
    """Write a flat (P,) gradient into ``p.grad`` (``accumulate=True`` adds to what is there)."""
    plist = _params(params)
    layout = ParamLayout.from_named((str(i), p) for i, p in enumerate(plist))
    with torch.no_grad():
        for p, g in zip(plist, layout.unflatten(flat.detach()), strict=True):
            g = g.to(p.dtype)
            if accumulate and p.grad is not None:
                p.grad.add_(g)
            else:
                p.grad = g.clone()


class MultiLossStep(NamedTuple):
    """What ``aggregate_backward`` computed: per-loss gradients (K, P) and the aggregate (P,)."""

    grads: Tensor
    update: Tensor


def aggregate_backward(losses: Sequence[Tensor], shared_params: Iterable[Tensor] | nn.Module,
                       aggregator: Callable[[Tensor], Tensor], *,
                       task_params: Iterable[Tensor] | nn.Module | None = None) -> MultiLossStep:
    """Fill ``p.grad``: aggregated per-loss gradients on shared parameters, summed ones elsewhere.

    One backward pass per loss covers both the shared and the task-specific parameters, so the
    step costs K backward passes (plain summed-loss training costs one).
    """
    shared = _params(shared_params)
    tasks = _params(task_params) if task_params is not None else []
    n_shared = len(shared)
    rows, task_sum = [], [None] * len(tasks)
    for k, loss in enumerate(losses):
        grads = torch.autograd.grad(loss, shared + tasks, retain_graph=k < len(losses) - 1,
                                    allow_unused=True)
        rows.append(_flat(grads[:n_shared], shared))
        for i, g in enumerate(grads[n_shared:]):
            if g is not None:
                task_sum[i] = g if task_sum[i] is None else task_sum[i] + g
    matrix = torch.stack(rows)
    update = aggregator(matrix)
    write_grad(shared, update)
    for p, g in zip(tasks, task_sum, strict=True):
        p.grad = g if g is not None else torch.zeros_like(p)
    return MultiLossStep(matrix, update)
