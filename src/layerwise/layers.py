"""Layer selection: a dotted module path is the one name of a layer, from hooks to report.

``select_layers(model, selector)`` accepts

* a dotted name (``"blocks.3.attn"``) or a glob over names: ``*`` and ``?`` stay within one
  name segment (``"blocks.*.mlp"``, ``"model.layers.*"`` = the layers, not their insides),
  ``**`` crosses dots (``"encoder.**.dense"``);
* a module type (``nn.Linear``) or a tuple of types;
* an integer index or a ``slice`` into the model's *blocks* (see :func:`block_names`; negative
  indices count from the end);
* a predicate ``f(name, module) -> bool``;
* a list mixing any of the above (union, in model order).

An empty match raises ``LookupError`` naming the closest module names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

Selector = Any  # str | type | tuple[type, ...] | int | slice | Callable | list of those


def module_names(model: nn.Module) -> list[str]:
    """All named submodules of ``model`` except the root, in registration order."""
    return [name for name, _ in model.named_modules() if name]


def block_names(model: nn.Module) -> list[str]:
    """Names of the model's repeated blocks, in model order.

    A model that is itself a ModuleList/Sequential gives its children. Otherwise the blocks are
    the children of the outermost ModuleLists/Sequentials whose children all share one class
    (a *stack*), preferring stacks of composite modules (a transformer layer, not a list of
    output heads), and among those every stack at least half as long as the longest: an
    encoder-decoder model gives both its encoder and its decoder blocks.
    """
    if isinstance(model, nn.ModuleList | nn.Sequential) and len(model) > 0:
        return [str(i) for i in range(len(model))]
    stacks = _stacks(model)
    composite = [(n, m) for n, m in stacks if any(next(iter(m)).children())]
    pool = composite or stacks
    if not pool:
        return []
    longest = max(len(m) for _, m in pool)
    return [f"{name}.{i}" for name, m in pool if 2 * len(m) >= longest for i in range(len(m))]


def _stacks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Outermost ModuleLists/Sequentials of two or more children of one class, in model order."""
    found: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            kids = list(child.children()) if isinstance(child, nn.ModuleList | nn.Sequential) else []
            if len(kids) >= 2 and len({type(k) for k in kids}) == 1:
                found.append((full, child))
            else:
                visit(full, child)

    visit("", model)
    return found


def glob_to_regex(pattern: str) -> re.Pattern:
    """A layer glob as a regex: ``**`` any run of characters, ``*`` and ``?`` within a segment."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^.]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^.]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _match_one(model: nn.Module, names: list[str], selector: Selector) -> list[str]:
    modules = dict(model.named_modules())
    if isinstance(selector, str):
        if selector in modules and selector:
            return [selector]
        regex = glob_to_regex(selector)
        return [n for n in names if regex.match(n)]
    if isinstance(selector, type) or (
        isinstance(selector, tuple) and all(isinstance(t, type) for t in selector)
    ):
        return [n for n in names if isinstance(modules[n], selector)]
    if isinstance(selector, int | slice):
        blocks = block_names(model)
        if not blocks:
            raise LookupError(
                "index selectors need a ModuleList or Sequential of blocks; this model has none: "
                "select layers by name or type instead"
            )
        if isinstance(selector, int):
            if not -len(blocks) <= selector < len(blocks):
                raise LookupError(
                    f"block index {selector} is out of range: the model has {len(blocks)} blocks "
                    f"({blocks[0]} .. {blocks[-1]})"
                )
            return [blocks[selector]]
        return blocks[selector]
    if callable(selector):
        return [n for n in names if selector(n, modules[n])]
    raise TypeError(
        f"cannot select layers with {selector!r} ({type(selector).__name__}): use a name, glob, "
        "module type, index, slice, predicate(name, module) or a list of those"
    )


def select_layers(model: nn.Module, selector: Selector = None) -> list[str]:
    """Dotted names of the layers of ``model`` that ``selector`` picks, in model order.

    ``None`` selects the blocks (or, for a model without blocks, every leaf module).
    """
    names = module_names(model)
    if selector is None:
        chosen = block_names(model) or [n for n, m in model.named_modules() if n and not any(m.children())]
    else:
        parts: Iterable[Selector] = selector if isinstance(selector, list) else [selector]
        picked: set[str] = set()
        for part in parts:
            picked.update(_match_one(model, names, part))
        chosen = [n for n in names if n in picked]
    if not chosen:
        raise LookupError(_empty_match_message(names, selector))
    return chosen


def _empty_match_message(names: list[str], selector: Selector) -> str:
    key = selector if isinstance(selector, str) else str(selector)
    close = difflib.get_close_matches(key, names, n=6, cutoff=0.3)
    shown = close or names[:6]
    return (
        f"layer selector {selector!r} matched no module. Closest module names: "
        f"{', '.join(shown) or '(the model has no submodules)'}. "
        "Use a dotted name, a glob such as 'blocks.*.mlp', a type, an index or a predicate."
    )


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (a LookupError names close matches)."""
    modules = dict(model.named_modules())
    if name not in modules:
        raise LookupError(_empty_match_message(module_names(model), name))
    return modules[name]


def block_outputs(model: nn.Module, *inputs: Any) -> list[torch.Tensor]:
    """Run ``model(*inputs)`` without gradients and return each block's output, detached, in order."""
    outs: list[torch.Tensor] = []
    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(lambda _m, _i, o: outs.append(o.detach()))
               for name in block_names(model)]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return outs


Predicate = Callable[[str, nn.Module], bool]
