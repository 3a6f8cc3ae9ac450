"""``ScaledLR``: every step taken at ``factor`` times the learning rate its schedule set.

A learning-rate change applied once to ``param_groups`` is undone by the next write of a schedule
(a warm-up, a decay, a range test, a ``LambdaLR``), so a prescribed cut or rise must act at the
step itself: the wrapper multiplies every group's rate by ``factor`` for the wrapped optimizer's
``step()`` only and restores it after. Schedulers and the Monitor that read ``param_groups`` see
the schedule's own rate; the weights move as under ``factor`` times it.

Example::

    >>> import torch
    >>> from layerwise.transforms import ScaledLR
    >>> w = torch.nn.Parameter(torch.ones(1))
    >>> opt = ScaledLR(torch.optim.SGD([w], lr=1.0), factor=0.1)
    >>> opt.param_groups[0]["lr"] = 2.0  # a schedule's write
    >>> w.grad = torch.ones(1)
    >>> opt.step()
    >>> round(w.item(), 6), opt.param_groups[0]["lr"]
    (0.8, 2.0)
"""

from __future__ import annotations

import math
from typing import Any

from layerwise.transforms._wrapper import WrapsOptimizer


class ScaledLR(WrapsOptimizer):
    """Wrap ``optimizer`` (a torch optimizer or a layerwise wrapper) so that each ``step()`` runs at
    ``factor`` (finite, >= 0) times every group's current learning rate."""

    def __init__(self, optimizer: Any, factor: float) -> None:
        if not hasattr(optimizer, "step") or not hasattr(optimizer, "param_groups"):
            raise TypeError(f"ScaledLR wraps an optimizer (with step and param_groups), got "
                            f"{type(optimizer).__name__}")
        if not (isinstance(factor, int | float) and math.isfinite(factor) and factor >= 0):
            raise ValueError(f"factor must be a finite number >= 0, got {factor!r}")
        self.optimizer, self.factor = optimizer, float(factor)

    @property
    def skips_nonfinite(self) -> bool:
        """Whether the wrapped optimizer skips steps with NaN or Inf gradients."""
        return bool(getattr(self.optimizer, "skips_nonfinite", False))

    def step(self) -> Any:
        groups = self.param_groups
        rates = [g["lr"] for g in groups]
        for g, lr in zip(groups, rates, strict=True):
            g["lr"] = lr * self.factor
        try:
            return self.optimizer.step()
        finally:
            for g, lr in zip(groups, rates, strict=True):
                g["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "factor": self.factor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.factor = float(state["factor"])
