"""Swap the activation modules of an existing model, e.g. ReLU for ELU.

Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs) (Clevert, Unterthiner
& Hochreiter, 2015, ICLR 2016, arXiv 1511.07289): ELU's negative part pushes mean activations
toward zero, which reduces the bias shift that non-zero means cause in the next layer, and speeds
up learning. ``replace_activations`` applies such a swap to any model in place.

Only activation *modules* are found; activations called functionally inside ``forward``
(``F.relu(x)``) are invisible to any module edit and are left as they are.

Example::

    >>> from torch import nn
    >>> from layerwise.nn.activation_edits import replace_activations
    >>> net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    >>> replace_activations(net, nn.ReLU, nn.ELU)
    ['1', '3']
    >>> type(net[1]).__name__
    'ELU'
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from layerwise._registry import register
from layerwise.nn.activations import make_activation

Old = type | tuple | str


def _matches(module: nn.Module, old: Old) -> bool:
    if isinstance(old, str):
        try:
            return type(module) is type(make_activation(old))
        except ValueError:
            return type(module).__name__.lower() == old.lower()
    return isinstance(module, old)


@register(
    "replace_activations",
    kind="edit",
    paper="Fast and Accurate Deep Network Learning by Exponential Linear Units (Clevert et al., 2015)",
    arxiv="1511.07289",
)
def replace_activations(model: nn.Module, old: Old, new_factory: Callable[[], nn.Module] | str) -> list[str]:
    """Replace every submodule matching ``old`` by ``new_factory()``, in place.

    ``old`` is a module type, a tuple of types, or a name: one of
    :data:`layerwise.nn.ACTIVATIONS` ("relu", "elu", ...) or a class name ("ReLU6"), case-insensitive.
    ``new_factory`` is a callable returning a fresh module (``nn.ELU``, ``lambda: nn.LeakyReLU(0.1)``)
    or an activation name. Each match gets its own new instance, so no module is shared.
    Returns the dotted names replaced; raises LookupError when nothing matches.
    """
    factory = (lambda: make_activation(new_factory)) if isinstance(new_factory, str) else new_factory
    targets = [name for name, m in model.named_modules() if name and _matches(m, old)]
    if not targets:
        raise LookupError(f"no submodule of {type(model).__name__} matches {old!r}; functional "
                          "activations (F.relu inside forward) cannot be replaced by a module edit")
    modules = dict(model.named_modules())
    for name in targets:
        parent, _, leaf = name.rpartition(".")
        setattr(modules[parent] if parent else model, leaf, factory())
    return targets
