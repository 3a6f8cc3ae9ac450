"""WeightSnapshot: the monitored weights before ``optimizer.step()``, for exact update ratios.

The update/weight ratio ||W_after - W_before|| / ||W_before|| (NaP paper, Lyle et al., 2024,
arXiv 2407.01800) needs a copy of the weights before the step. The copy lives in one flat buffer
with each layer's parameters side by side, so that the per-layer norms of the weights and of the
update are one foreach norm over the layers' segments, instead of one norm per parameter tensor
and a membership product: on a transformer with a dozen tensors per block, a tenth of the calls.
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerwise.monitor.layout import Layout


class WeightSnapshot:
    """A layer-ordered flat copy of the weights; needs every parameter in exactly one layer and
    one dtype and device for all (``supports``)."""

    def __init__(self, layout: Layout) -> None:
        order = [i for rows in layout.layer_params for i in rows]
        self._weights = [layout.weights[i] for i in order]
        self._sizes = [w.numel() for w in self._weights]
        self._layer_sizes = [sum(layout.weights[i].numel() for i in rows) for rows in layout.layer_params]
        self._flat: Tensor | None = None
        self._param_views: list[Tensor] = []
        self._layer_views: list[Tensor] = []

    @staticmethod
    def supports(layout: Layout) -> bool:
        owned = [i for rows in layout.layer_params for i in rows]
        kinds = {(w.dtype, w.device) for w in layout.weights}
        return (bool(owned) and len(owned) == len(set(owned)) == len(layout.params) and len(kinds) == 1
                and layout.sharded is None)  # a layer's squared norm is summed over ranks per tensor

    def _allocate(self) -> None:
        first = self._weights[0]
        self._flat = torch.empty(sum(self._sizes), dtype=first.dtype, device=first.device)
        pieces = self._flat.split(self._sizes)
        self._param_views = [v.view_as(w) for v, w in zip(pieces, self._weights, strict=True)]
        self._layer_views = list(self._flat.split(self._layer_sizes))

    def take(self) -> Tensor:
        """Copy the weights in; return each layer's squared weight norm ||W||^2 (0 where it has none)."""
        if self._flat is None:
            self._allocate()
        torch._foreach_copy_(self._param_views, self._weights)
        return torch.stack(torch._foreach_norm(self._layer_views)).float().pow(2)

    def update_norms(self) -> Tensor:
        """After the step: each layer's ||W_before - W_after||^2 (the buffer then holds the update)."""
        torch._foreach_sub_(self._param_views, self._weights)
        return torch.stack(torch._foreach_norm(self._layer_views)).float().pow(2)
