"""One logged step's statistics on their way from the device to the run log.

``Gathered`` holds a single device tensor. ``start_copy`` queues its transfer to pinned host
memory (CUDA) without waiting; ``rows`` waits for it and names every value. With ``sync="step"``
the Monitor reads a step at its end (one host sync per logged step); with ``sync="deferred"`` it
reads it at the next logged step, so the CPU never stalls the GPU's queue (DESIGN.md: the sync
per step is the largest monitoring cost on a GPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from layerwise.monitor.nonfinite import NonFiniteEvent, first_nonfinite


@dataclass
class Gathered:
    """A step's keys ``(layer, metric)``, values (one tensor) and layer orders for NaN/Inf search."""

    step: int
    keys: list[tuple[str, str]]
    values: Tensor
    forward_order: list[str]
    backward_order: list[str]
    deepest_first: list[str]
    _event: Any = field(default=None, repr=False)

    def start_copy(self) -> None:
        """Queue the device-to-host copy (pinned, non-blocking) and mark its completion."""
        if self.values.is_cuda:
            host = torch.empty(self.values.shape, dtype=self.values.dtype, pin_memory=True)
            host.copy_(self.values, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
            self.values = host

    def rows(self) -> tuple[list[tuple[str, str, float]], list[NonFiniteEvent]]:
        """(layer, metric, value) rows and the non-finite events, waiting for the copy if needed."""
        if self._event is not None:
            self._event.synchronize()
        numbers = dict(zip(self.keys, self.values.tolist(), strict=True))
        rows = [(layer, metric, v) for (layer, metric), v in numbers.items()]
        events = self._nonfinite(numbers)
        rows += [(e.layer, f"nonfinite_{e.direction}", 1.0) for e in events]
        return rows, events

    def _nonfinite(self, got: dict[tuple[str, str], float]) -> list[NonFiniteEvent]:
        """First non-finite layer in forward order (outputs) and in backward order (gradients)."""
        fwd = [(n, got[(n, "act_max")]) for n in self.forward_order if (n, "act_max") in got]
        bwd = [(n, got[(n, "act_grad_norm")]) for n in self.backward_order]
        grad_tensor = "the gradient of the output"
        if not bwd:  # no activation gradients: fall back on parameter gradients, deepest first
            bwd = [(n, got[(n, "grad_norm")]) for n in self.deepest_first if (n, "grad_norm") in got]
            grad_tensor = "the parameter gradients"
        events = []
        for direction, tensor, ordered in (("forward", "the output", fwd), ("backward", grad_tensor, bwd)):
            event = first_nonfinite(self.step, direction, tensor, ordered)
            if event is not None:
                events.append(event)
        return events
