"""Small layer outputs, reduced a few layers at a time while they are still in cache.

On a small model the forward statistics cost operations, not bytes: five reductions per layer.
A small output is instead copied (one operation) into the next slot of a chunk buffer shared by
the layers of its shape; when the chunk is full, ``stacked_pieces`` reduces all its slots at once,
while they are still in the CPU cache. ``CHUNK_BYTES`` sets the chunk size; outputs too large for
two to fit are reduced one by one in the hook (``layer_pieces``). Copying also shields the
statistics from in-place edits of an output later in the forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from layerwise.metrics.activations import Pieces, concat_pieces, stacked_pieces

CHUNK_BYTES = 1 << 19  # 512 KiB: a chunk stays in a core's L2 cache
MAX_SHAPES = 16  # variable shapes (sequence lengths): drop idle buffers beyond this many


@dataclass
class Stack:
    """A chunk buffer for outputs of one shape; ``members`` are the layers seen this step."""

    buffer: Tensor
    names: tuple[str, ...]
    unit_dim: int
    members: list[int] = field(default_factory=list)
    done: list[Pieces] = field(default_factory=list)

    def add(self, idx: int, t: Tensor) -> None:
        slot = len(self.members) % len(self.buffer)
        self.buffer[slot].copy_(t)
        self.members.append(idx)
        if slot == len(self.buffer) - 1:
            self.done.append(stacked_pieces(self.buffer, self.names, self.unit_dim))

    def pieces(self) -> Pieces:
        left = len(self.members) % len(self.buffer)
        if left:
            self.done.append(stacked_pieces(self.buffer[:left], self.names, self.unit_dim))
        return concat_pieces(self.done)


class OutputStacks:
    """The chunk buffers of one Monitor, one per (shape, dtype, device, metrics, unit axis)."""

    def __init__(self) -> None:
        self._stacks: dict[tuple, Stack] = {}

    @staticmethod
    def fits(t: Tensor) -> bool:
        """Whether two copies of ``t`` fit in a chunk (otherwise stacking saves nothing)."""
        return 2 * t.numel() * max(t.element_size(), 4) <= CHUNK_BYTES

    def add(self, idx: int, t: Tensor, names: tuple[str, ...], unit_dim: int) -> None:
        """Copy layer ``idx``'s output ``t`` into its chunk; reduce the chunk when it is full."""
        dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
        key = (t.shape, dtype, t.device, names, unit_dim)
        stack = self._stacks.get(key)
        if stack is None:
            stack = self._new(key, t.numel() * dtype.itemsize)
        stack.add(idx, t.detach())

    def _new(self, key: tuple, nbytes: int) -> Stack:
        if len(self._stacks) >= MAX_SHAPES:
            self._stacks = {k: s for k, s in self._stacks.items() if s.members}
        shape, dtype, device, names, unit_dim = key
        slots = max(1, CHUNK_BYTES // max(nbytes, 1))
        stack = Stack(torch.empty((slots, *shape), dtype=dtype, device=device), names, unit_dim)
        self._stacks[key] = stack
        return stack

    def pieces(self) -> list[tuple[list[int], tuple[str, ...], Pieces]]:
        """(layers, metric names, their :class:`Pieces`) of every buffer used this step."""
        return [(s.members, s.names, s.pieces()) for s in self._stacks.values() if s.members]

    def reset(self) -> None:
        for stack in self._stacks.values():
            stack.members, stack.done = [], []
