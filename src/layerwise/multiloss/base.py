"""The aggregator contract, and ``PerLayer``: any aggregator applied to each layer's columns.

An aggregator is a callable object: a (K, P) matrix of per-loss gradients in, one (P,)
gradient out. Stateful methods (SAM-GS, GCond) keep their state on the object and expose
``state_dict()`` / ``load_state_dict()``; stateless ones (PCGrad's only state is its random
generator, MGDA has none) expose them too, so a trainer can checkpoint any of them alike.

``PerLayer(factory, layout)`` runs one aggregator per layer on that layer's block of columns
(the per-layer variants the GCond and SAM-GS specs call a natural extension). Each layer
gets its own instance, so stateful methods keep per-layer state.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.multiloss import PCGrad, ParamLayout, PerLayer
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    >>> layout = ParamLayout.from_module(model)
    >>> agg = PerLayer(PCGrad, layout)
    >>> agg(torch.randn(2, layout.numel)).shape
    torch.Size([26])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.multiloss.grads import ParamLayout


@runtime_checkable
class Aggregator(Protocol):
    """A (K, P) matrix of per-loss gradients in, a (P,) gradient out."""

    def __call__(self, grads: Tensor, /) -> Tensor: ...


def check_matrix(grads: Tensor) -> None:
    """Raise a clear error unless ``grads`` is a (K, P) matrix with K >= 1."""
    if grads.ndim != 2 or grads.shape[0] < 1:
        raise ValueError(f"expected a (K, P) matrix of per-loss gradients, got shape {tuple(grads.shape)}")


@register("per_layer", kind="aggregator", paper="-")
class PerLayer:
    """Apply an aggregator to each layer's block of columns separately, one instance per layer.

    Args:
        factory: a zero-argument callable making an aggregator (a class such as ``PCGrad``, or
            ``lambda: SAMGS(gamma=0.1)``).
        layout: the column layout (``ParamLayout.from_module(trunk)``); layers are module paths.
    """

    def __init__(self, factory: Callable[[], Callable[[Tensor], Tensor]], layout: ParamLayout) -> None:
        self.layout = layout
        self.slices = layout.layer_slices()
        self.aggregators = {layer: factory() for layer in self.slices}

    def __call__(self, grads: Tensor) -> Tensor:
        check_matrix(grads)
        self.layout._check(grads)
        out = torch.empty(grads.shape[1], dtype=grads.dtype, device=grads.device)
        for layer, sl in self.slices.items():
            out[sl] = self.aggregators[layer](grads[:, sl])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {layer: agg.state_dict() for layer, agg in self.aggregators.items()
                if hasattr(agg, "state_dict")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for layer, sub in state.items():
            self.aggregators[layer].load_state_dict(sub)
