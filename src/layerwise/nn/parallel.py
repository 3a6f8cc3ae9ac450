"""Deep-to-shallow: run the branches of a residual stack in parallel, and measure what that drops.

Make Deep Networks Shallow Again (Bermeitinger, Hrycej & Handschuh, 2023, arXiv 2309.08414).
A residual stack ``y = (I + F_L) o ... o (I + F_1)(x)`` expands like a Taylor series into
``x + sum_i F_i(x)`` plus higher-order terms where later branches act on earlier branches'
outputs. Keeping the first-order part gives a *parallel shallow* layer, ``y = x + sum_i F_i(x)``:
every branch reads the same input, with the same parameters. ``higher_order_ratio`` measures how
much of the stack's change to its input comes from composition:
``||f_seq(x) - f_par(x)|| / ||f_seq(x) - x||``, with the sequential stack's own weights.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn.parallel import SequentialResidual, parallelize, higher_order_ratio
    >>> stack = SequentialResidual([nn.Linear(8, 8) for _ in range(3)])
    >>> par = parallelize(stack)
    >>> par.branches[0] is stack.branches[0]
    True
    >>> x = torch.randn(4, 8)
    >>> bool(higher_order_ratio(stack, x) > 0)
    True
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from layerwise._registry import register

PAPER = ("Make Deep Networks Shallow Again (Bermeitinger, Hrycej & Handschuh, 2023)", "2309.08414")


class SequentialResidual(nn.Module):
    """``x <- x + F_i(x)`` for each branch ``F_i`` in order (``.branches``, a ModuleList)."""

    def __init__(self, branches: Iterable[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        for branch in self.branches:
            x = x + branch(x)
        return x


@register("parallel_residual", kind="module", paper=PAPER[0], arxiv=PAPER[1])
class ParallelResidual(nn.Module):
    """``x + sum_i F_i(x)``: every branch reads the same input (the first-order truncation).

    ``residual_blocks=True`` means each entry computes ``x + F(x)`` itself, so its branch is
    ``block(x) - x`` (how :func:`parallelize` handles a plain list of residual blocks).
    """

    def __init__(self, branches: Iterable[nn.Module], *, residual_blocks: bool = False) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.residual_blocks = residual_blocks

    def forward(self, x: Tensor) -> Tensor:
        total = x
        for branch in self.branches:
            out = branch(x)
            total = total + (out - x if self.residual_blocks else out)
        return total


def _branches(stack: nn.Module) -> tuple[list[nn.Module], bool]:
    """The branch modules of ``stack`` and whether they are whole residual blocks."""
    if isinstance(stack, SequentialResidual | ParallelResidual):
        return list(stack.branches), getattr(stack, "residual_blocks", False)
    if isinstance(stack, nn.ModuleList | nn.Sequential):
        return list(stack), True
    raise TypeError(f"parallelize expects a SequentialResidual or a ModuleList/Sequential of residual "
                    f"blocks (each returning x + F(x)), got {type(stack).__name__}")


@register("parallelize", kind="edit", paper=PAPER[0], arxiv=PAPER[1])
def parallelize(stack: nn.Module) -> ParallelResidual:
    """The parallel shallow version of a residual ``stack``, sharing its branch modules.

    ``stack`` is a :class:`SequentialResidual` (branches ``F_i``) or a ``ModuleList``/
    ``Sequential`` of residual blocks ``x + F_i(x)``. No parameter is copied: training one trains
    the other. The parameter count is identical by construction.
    """
    branches, residual_blocks = _branches(stack)
    return ParallelResidual(branches, residual_blocks=residual_blocks)


def run_sequential(stack: nn.Module, x: Tensor) -> Tensor:
    """The stack applied in sequence, whichever layout it has (a parallel stack's branches too)."""
    branches, residual_blocks = _branches(stack)
    for branch in branches:
        x = branch(x) if residual_blocks else x + branch(x)
    return x


@register("higher_order_ratio", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
@torch.no_grad()
def higher_order_ratio(stack: nn.Module, x: Tensor) -> float:
    """``||f_seq(x) - f_par(x)|| / ||f_seq(x) - x||`` over the batch ``x`` (Frobenius norms).

    0 for a single branch; near 0 when the stack acts like its first-order (parallel) expansion;
    near or above 1 when composition carries most of what the stack does. NaN if the stack is
    the identity on ``x``.
    """
    seq = run_sequential(stack, x)
    par = parallelize(stack)(x)
    change = torch.linalg.vector_norm(seq - x)
    if change == 0:
        return float("nan")
    return float(torch.linalg.vector_norm(seq - par) / change)
