"""One forward pass with hooks that record what depth diagnostics need, removed in ``finally``.

Shared by usage, logit lens, skip and attention: block inputs and outputs (the residual stream),
each branch's output, and an optional edit of a block's output (skip experiments).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from layerwise.depth.adapters import Adapter, first_tensor

Edit = Callable[[Tensor, Tensor], Tensor]  # (block input, block output) -> new block output


@dataclass
class Trace:
    """Residual stream and branch outputs of one forward pass, all (B, T, D)."""

    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    attn: list[Tensor | None] = field(default_factory=list)
    mlp: list[Tensor | None] = field(default_factory=list)
    mlp_in: list[Tensor | None] = field(default_factory=list)
    logits: Tensor | None = None

    @property
    def stream(self) -> list[Tensor]:
        """``x_0 .. x_L``: the input of every block, then the last block's output."""
        return [*self.inputs, self.outputs[-1]]


def call_model(model: nn.Module, inputs: Tensor | Mapping) -> object:
    """``model(**inputs)`` for a mapping (HF batches), ``model(inputs)`` otherwise."""
    return model(**inputs) if isinstance(inputs, Mapping) else model(inputs)


def logits_of(out: object) -> Tensor | None:
    if isinstance(out, Tensor):
        return out
    found = getattr(out, "logits", None)
    return found if isinstance(found, Tensor) else None


def _hidden_in(args: tuple, kwargs: dict) -> Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _replace(out: object, new: Tensor) -> object:
    if isinstance(out, Tensor):
        return new
    if isinstance(out, tuple):
        return (new, *out[1:])
    raise TypeError(f"cannot edit a block output of type {type(out).__name__}")


def _block_hook(trace: Trace, edit: Edit | None) -> Callable:
    def hook(_m, args, kwargs, out):
        x, y = _hidden_in(args, kwargs), first_tensor(out)
        if edit is not None:
            y = edit(x, y)
            out = _replace(out, y)
        trace.inputs.append(x)
        trace.outputs.append(y)
        return out if edit is not None else None

    return hook


def _store(target: list, index: int, take_input: bool) -> Callable:
    def hook(_m, args, out):
        target[index] = args[0] if take_input else first_tensor(out)

    return hook


def trace(ad: Adapter, inputs: Tensor | Mapping, *, edits: Mapping[int, Edit] | None = None,
          model: nn.Module | None = None, grad: bool = False) -> Trace:
    """Run ``model`` (default ``ad.model``) on ``inputs`` and record the residual stream."""
    model = model if model is not None else ad.model
    if model is None:
        raise ValueError("the adapter has no model: pass model=")
    edits = edits or {}
    n = ad.n_layers
    tr = Trace(attn=[None] * n, mlp=[None] * n, mlp_in=[None] * n)
    with ExitStack() as stack:
        for i, block in enumerate(ad.blocks):
            h = block.register_forward_hook(_block_hook(tr, edits.get(i)), with_kwargs=True)
            stack.callback(h.remove)
            for mods, store, take_input in ((ad.attn, tr.attn, False), (ad.mlp, tr.mlp, False),
                                            (ad.mlp_in, tr.mlp_in, True)):
                if mods[i] is not None:
                    stack.callback(mods[i].register_forward_hook(_store(store, i, take_input)).remove)
        with torch.set_grad_enabled(grad):
            tr.logits = logits_of(call_model(model, inputs))
    if len(tr.inputs) != n:
        raise RuntimeError(f"{len(tr.inputs)} of {n} block hooks fired: is the model compiled or "
                           "are some blocks not called?")
    return tr
