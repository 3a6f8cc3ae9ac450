"""Activation factory shared by the reference models: ``make_activation("relu")``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}
ACTIVATIONS = tuple(_ACTIVATIONS)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name; an unknown name raises ValueError listing the choices."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}") from None


def activation_counts(model: nn.Module) -> dict[str, int]:
    """How many submodules of ``model`` are each activation of :data:`ACTIVATIONS` (by name)."""
    names = {cls: name for name, cls in _ACTIVATIONS.items() if isinstance(cls, type)}
    counts: dict[str, int] = {}
    for m in model.modules():
        name = names.get(type(m))
        if name is not None and name != "identity":
            counts[name] = counts.get(name, 0) + 1
    return counts
