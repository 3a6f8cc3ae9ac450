"""HookSet: the one owner of every hook a Monitor registers.

Handles are kept in a list that a ``weakref.finalize`` also holds, so hooks are removed on
``remove()``, on garbage collection of the owner, and at interpreter exit, whichever comes first.
Hooks call the owner's methods through weak references: a model never keeps its Monitor alive.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn


def _remove_all(handles: list[Any]) -> None:
    while handles:
        handles.pop().remove()


def _weak(method: Any, *bound: Any) -> Any:
    """A hook calling bound ``method`` through a weak reference to its owner. torch.compile runs
    it eagerly (a graph break at each hook): traced, the Monitor's bookkeeping would become guards
    and recompile the model for each layer and step."""
    ref = weakref.WeakMethod(method)

    @torch.compiler.disable
    def hook(*args: Any) -> None:
        target = ref()
        if target is not None:
            target(*bound, *args)

    return hook


class HookSet:
    """Registers hooks and removes every one of them exactly once."""

    def __init__(self, owner: object) -> None:
        self._handles: list[Any] = []
        self._finalizer = weakref.finalize(owner, _remove_all, self._handles)

    def forward(self, module: nn.Module, method: Any, *args: Any) -> None:
        """Call bound ``method(*args, module, inputs, output)`` after ``module``'s forward."""
        self._handles.append(module.register_forward_hook(_weak(method, *args)))

    def optimizer(self, optimizer: torch.optim.Optimizer, pre: Any, post: Any) -> None:
        """Call bound ``pre``/``post`` around ``optimizer.step()``."""
        self._handles.append(optimizer.register_step_pre_hook(_weak(pre)))
        self._handles.append(optimizer.register_step_post_hook(_weak(post)))

    def remove(self) -> None:
        _remove_all(self._handles)

    def __len__(self) -> int:
        return len(self._handles)


def hook_counts(model: nn.Module) -> int:
    """How many module hooks remain anywhere in ``model`` (for leak checks)."""
    total = 0
    for module in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks"):
            total += len(getattr(module, attr, {}))
    return total
