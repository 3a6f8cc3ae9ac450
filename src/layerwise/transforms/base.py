"""Gradient transforms, optax-style: explicit state, pure ``init``/``update``, composition by ``chain``.

A gradient transform is a pair of functions over mappings from parameter name to tensor::

    state = t.init(params)                                   # params: name -> Tensor
    new_grads, state = t.update(grads, state, params)        # grads: name -> Tensor

``state`` is a plain pytree (nested dicts/lists of tensors and numbers) so that it goes through
``torch.save`` and ``TransformedOptimizer.state_dict()`` unchanged. ``update`` must not modify
``grads``, ``state`` or ``params`` in place; it returns new ones. ``grads`` may hold a subset of
``params`` (parameters without a gradient are left out by ``TransformedOptimizer``).

Transforms compose: ``chain(a, b)`` applies ``a`` then ``b`` (so ``chain(clip, noise)`` adds noise
to clipped gradients and ``chain(noise, clip)`` clips noisy ones: not the same thing), and
``partition`` (``layerwise.transforms.routing``) routes parameters to different transforms.
Any object with ``init`` and ``update`` methods of these signatures can take part.

Example::

    >>> import torch
    >>> from layerwise.transforms import chain, identity
    >>> t = chain(identity(), identity())
    >>> g = {"w": torch.ones(2)}
    >>> out, state = t.update(g, t.init(g), g)
    >>> out["w"].tolist(), state
    ([1.0, 1.0], [{}, {}])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

State = Any  # a pytree of dicts/lists of tensors and numbers
Params = Mapping[str, Tensor]
Grads = dict[str, Tensor]
InitFn = Callable[[Params], State]
UpdateFn = Callable[[Grads, State, Params], tuple[Grads, State]]


@dataclass(frozen=True)
class GradientTransform:
    """A named pair ``init(params) -> state`` and ``update(grads, state, params) -> (grads, state)``."""

    init: InitFn
    update: UpdateFn
    name: str = "transform"

    def __repr__(self) -> str:
        return f"GradientTransform({self.name})"


def _no_state(params: Params) -> State:
    return {}


def stateless(fn: Callable[[Grads, Params], Grads], name: str) -> GradientTransform:
    """A transform with empty state from ``fn(grads, params) -> new_grads``."""

    def update(grads: Grads, state: State, params: Params) -> tuple[Grads, State]:
        return fn(grads, params), state

    return GradientTransform(_no_state, update, name)


def identity() -> GradientTransform:
    """The transform that returns the gradients unchanged (the default route of ``partition``)."""
    return stateless(lambda grads, params: dict(grads), "identity")


def chain(*transforms: GradientTransform) -> GradientTransform:
    """Apply ``transforms`` left to right: the output gradients of one feed the next.

    Order matters: ``chain(clip_per_layer(C=1.0), add_noise())`` clips then adds
    noise (the result's norm can exceed C), whereas ``chain(add_noise(), clip_per_layer(C=1.0))``
    bounds the final norm by C. The state is a list with one entry per transform.
    """
    if not transforms:
        return identity()
    for t in transforms:
        if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
            raise TypeError(f"chain() takes gradient transforms with init/update, got {t!r}")

    def init(params: Params) -> State:
        return [t.init(params) for t in transforms]

    def update(grads: Grads, state: State, params: Params) -> tuple[Grads, State]:
        if len(state) != len(transforms):
            raise ValueError(f"chain of {len(transforms)} transforms got a state of length {len(state)}")
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, new_state

    name = "chain(" + ", ".join(getattr(t, "name", type(t).__name__) for t in transforms) + ")"
    return GradientTransform(init, update, name)
