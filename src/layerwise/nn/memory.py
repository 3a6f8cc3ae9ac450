"""Saved-tensor accounting: how many bytes autograd keeps for the backward pass of one forward.

Works on any device, CPU included, because it counts what autograd *saves* instead of asking an
allocator: ``torch.autograd.graph.saved_tensors_hooks`` sees every tensor packed for backward
(by built-in ops and by custom ``autograd.Function.save_for_backward``). Tensors that share a
storage are counted once, at the storage's full size. Parameters and buffers of a module passed as
``fn`` are left out by default (they are weights, not activations); pass ``exclude=()`` to count them.
What this does not see: ``ctx`` attributes of custom Functions that are not saved tensors (the
reversible engine's RNG states) and the tensors the caller keeps alive itself (the output).

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn.memory import saved_tensor_bytes
    >>> net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    >>> saved_tensor_bytes(net, torch.randn(4, 8, requires_grad=True))  # input + tanh output (shared)
    256
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register

__all__ = ["saved_tensor_bytes"]


def _storage_key(t: Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return str(t.device), storage.data_ptr()


@register("saved_tensor_bytes", kind="diagnostic", paper="-")
def saved_tensor_bytes(
    fn: Callable[..., Any], /, *args: Any, exclude: Iterable[Tensor] | None = None, **kwargs: Any
) -> int:
    """Bytes of the unique storages autograd saves while ``fn(*args, **kwargs)`` runs.

    ``exclude``: tensors whose storages are not counted; by default the parameters and buffers of
    ``fn`` when it is an ``nn.Module``, else nothing. The forward's graph is freed on return.
    """
    if exclude is None:
        exclude = [*fn.parameters(), *fn.buffers()] if isinstance(fn, nn.Module) else []
    skip = {_storage_key(t) for t in exclude}
    sizes: dict[tuple[str, int], int] = {}
    alive: list[Tensor] = []  # keeps counted storages alive, so an address is never reused meanwhile

    def pack(t: Tensor) -> Tensor:
        key = _storage_key(t)
        if key not in skip and key not in sizes:
            sizes[key] = t.untyped_storage().nbytes()
            alive.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args, **kwargs)
    del out
    alive.clear()
    return sum(sizes.values())
