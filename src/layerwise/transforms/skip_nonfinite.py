"""``SkipNonfinite``: skip any optimizer step whose gradients hold a NaN or an Inf.

Dynamic loss scaling (Micikevicius et al., "Mixed Precision Training", ICLR 2018, arXiv
1710.03740) skips the weight update of an iteration whose gradients overflowed, so one bad step
cannot write Inf or NaN into the weights; the same guard keeps a corrupted batch (a NaN in the
inputs) from poisoning a run. The wrapped optimizer's ``step()`` is not called at all on such a
step: no parameter, momentum or Adam moment changes. The forward pass of that step may already
have written NaN or Inf into running statistics (BatchNorm's ``running_mean``): given the
``model``, its buffers (statistics and counters) are kept as of the last step taken and restored on a skipped
one. ``skipped`` lists the skipped step indices (counted from 0, one per ``step()`` call).

Example::

    >>> import torch
    >>> from layerwise.transforms import SkipNonfinite
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = SkipNonfinite(torch.optim.SGD(model.parameters(), lr=0.1))
    >>> model(torch.tensor([[float("nan"), 0.0]])).sum().backward()
    >>> before = model.weight.detach().clone()
    >>> opt.step(); opt.zero_grad()
    False
    >>> bool(torch.equal(model.weight, before)), opt.skipped
    (True, [0])
"""

from __future__ import annotations

from typing import Any

import torch

from layerwise._registry import register
from layerwise.transforms._wrapper import WrapsOptimizer

MIXED_PRECISION = ("Mixed Precision Training (Micikevicius et al., 2018)", "1710.03740")


@register("skip_nonfinite", kind="transform", paper=MIXED_PRECISION[0], arxiv=MIXED_PRECISION[1])
class SkipNonfinite(WrapsOptimizer):
    """An optimizer wrapper that skips every step whose gradients hold a NaN or an Inf.

    Wraps a torch optimizer or a ``TransformedOptimizer``; ``step()`` returns True after stepping,
    False after skipping; with ``model``, a skipped step also restores its buffers."""

    skips_nonfinite = True

    def __init__(self, optimizer: Any, model: torch.nn.Module | None = None) -> None:
        if not hasattr(optimizer, "step") or not hasattr(optimizer, "param_groups"):
            raise TypeError(f"SkipNonfinite wraps an optimizer (with step and param_groups), "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.calls = 0
        self.skipped: list[int] = []
        self._buffers = list(model.buffers()) if model is not None else []
        self._kept = [b.detach().clone() for b in self._buffers]

    def finite(self) -> bool:
        """Whether every gradient of the wrapped optimizer's parameters is finite (one host sync)."""
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return True
        return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())

    def step(self) -> bool:
        call, self.calls = self.calls, self.calls + 1
        with torch.no_grad():
            if not self.finite():
                self.skipped.append(call)
                for b, kept in zip(self._buffers, self._kept, strict=True):
                    b.copy_(kept)
                return False
            self.optimizer.step()
            for b, kept in zip(self._buffers, self._kept, strict=True):
                kept.copy_(b)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "calls": self.calls, "skipped": list(self.skipped)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.calls, self.skipped = int(state["calls"]), list(state["skipped"])
