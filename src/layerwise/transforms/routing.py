"""``partition``: route each parameter to one gradient transform by name.

Two ways to route:

* **selectors** (the default): ``rules`` maps selectors to transforms, and the first selector
  that matches a parameter's dotted name wins. A selector is a string, matched against the
  parameter name as an exact name, a module prefix (``"blocks.0"`` matches ``"blocks.0.linear.weight"``)
  or a glob (``"blocks.*.attn.*"``, where ``*`` also crosses dots), or a predicate ``name -> bool``.
* **a label function**: with ``label_fn=f``, ``rules`` maps labels to transforms and a parameter
  goes to ``rules[f(name)]``.

Unmatched parameters (and labels missing from ``rules``) go to ``default`` (``identity()``).
Each routed transform sees only its own parameters and gradients, and keeps its own state: a
global-norm clip inside a partition measures the norm of its group only.

Example::

    >>> import torch
    >>> from layerwise.transforms import clip_per_layer, partition
    >>> t = partition({"head.*": clip_per_layer(C=1.0, mode="per_tensor")})
    >>> g = {"head.weight": torch.full((2,), 3.0), "body.weight": torch.full((2,), 3.0)}
    >>> out, _ = t.update(g, t.init(g), g)
    >>> round(out["head.weight"].norm().item(), 4), out["body.weight"].tolist()
    (1.0, [3.0, 3.0])
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from layerwise.transforms.base import GradientTransform, Grads, Params, State, identity

ParamSelector = str | Callable[[str], bool]
_DEFAULT = "default"


def param_matches(name: str, selector: ParamSelector) -> bool:
    """Whether parameter ``name`` is picked by ``selector`` (exact, module prefix, glob or predicate)."""
    if isinstance(selector, str):
        return name == selector or name.startswith(selector + ".") or fnmatch.fnmatchcase(name, selector)
    if callable(selector):
        return bool(selector(name))
    raise TypeError(
        f"cannot select parameters with {selector!r}: use a name, a module prefix, a glob such as "
        "'blocks.*.attn.*' or a predicate name -> bool"
    )


def _as_pairs(rules: Any) -> list[tuple[Any, GradientTransform]]:
    if isinstance(rules, Mapping):
        return list(rules.items())
    if isinstance(rules, Sequence):
        return [(k, t) for k, t in rules]
    raise TypeError(f"partition rules must be a mapping or a list of (selector, transform), got {rules!r}")


def partition(
    rules: Mapping[Any, GradientTransform] | Sequence[tuple[Any, GradientTransform]],
    default: GradientTransform | None = None,
    *,
    label_fn: Callable[[str], Hashable] | None = None,
) -> GradientTransform:
    """Apply a different transform to each group of parameters (see the module docstring).

    The state is a dict from route key (the rule's index as a string, or ``"default"``) to the
    routed transform's state.
    """
    pairs = _as_pairs(rules)
    default = identity() if default is None else default
    transforms = {str(i): t for i, (_, t) in enumerate(pairs)}
    transforms[_DEFAULT] = default
    label_to_key = {label: str(i) for i, (label, _) in enumerate(pairs)}
    cache: dict[str, str] = {}

    def route(name: str) -> str:
        if name not in cache:
            if label_fn is not None:
                cache[name] = label_to_key.get(label_fn(name), _DEFAULT)
            else:
                cache[name] = next(
                    (str(i) for i, (sel, _) in enumerate(pairs) if param_matches(name, sel)), _DEFAULT
                )
        return cache[name]

    def split(tree: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        groups: dict[str, dict[str, Any]] = {key: {} for key in transforms}
        for name, value in tree.items():
            groups[route(name)][name] = value
        return groups

    def init(params: Params) -> State:
        groups = split(params)
        return {key: t.init(groups[key]) for key, t in transforms.items()}

    def update(grads: Grads, state: State, params: Params) -> tuple[Grads, State]:
        g_groups, p_groups = split(grads), split(params)
        out: Grads = {}
        new_state = {}
        for key, t in transforms.items():
            routed, new_state[key] = t.update(g_groups[key], state[key], p_groups[key])
            out.update(routed)
        return {name: out[name] for name in grads}, new_state

    names = ", ".join(f"{sel!r}: {getattr(t, 'name', t)}" for sel, t in pairs)
    return GradientTransform(init, update, f"partition({names})")
