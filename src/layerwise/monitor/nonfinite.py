"""Localisation of the first NaN or Inf in a step, in forward and in backward order."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NonFiniteEvent:
    """Where non-finite values first appeared: step, pass direction, layer and tensor."""

    step: int
    direction: str  # "forward" or "backward"
    layer: str
    tensor: str
    value: float

    def message(self) -> str:
        order = "forward" if self.direction == "forward" else "backward"
        return (
            f"non-finite values (NaN/Inf) first appear at step {self.step} in the {order} pass, "
            f"in {self.tensor} of layer {self.layer!r} (statistic = {self.value}). Check the "
            "inputs and the learning rate, or clip gradients; pass on_nonfinite='record' to "
            "log the event and keep training."
        )


class NonFiniteError(FloatingPointError):
    """Raised by the Monitor when a monitored tensor holds NaN or Inf."""

    def __init__(self, event: NonFiniteEvent) -> None:
        super().__init__(event.message())
        self.event = event


def first_nonfinite(step: int, direction: str, tensor: str,
                    ordered: list[tuple[str, float]]) -> NonFiniteEvent | None:
    """The first (layer, value) pair in ``ordered`` whose value is NaN or Inf, as an event."""
    for layer, value in ordered:
        if not math.isfinite(value):
            return NonFiniteEvent(step, direction, layer, tensor, value)
    return None
