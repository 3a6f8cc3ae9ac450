"""What every optimizer wrapper of layerwise.transforms passes through to the optimizer it wraps."""

from __future__ import annotations

from typing import Any


class WrapsOptimizer:
    """``param_groups``, ``state`` and ``zero_grad`` of ``self.optimizer`` (learning-rate
    schedulers and the Monitor read them through the wrapper)."""

    optimizer: Any

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def state(self) -> Any:
        return self.optimizer.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)
