"""``TransformedOptimizer``: apply a gradient transform between ``backward()`` and any optimizer's step.

``opt.step()`` runs, in this order:

1. the transform, on ``{name: p.grad}`` for every named parameter that has a gradient (parameters
   without one are skipped); the results replace ``p.grad``;
2. the wrapped optimizer's ``step()``;
3. the post-step hooks, in the order they were added (projections, clamping), under ``no_grad``.

``state_dict()`` holds the wrapped optimizer's state, the transform's state and the step count,
so a checkpoint resumes noise schedules and other transform state exactly. Learning-rate
schedulers attach to the wrapped optimizer: ``StepLR(opt.optimizer, ...)`` (``param_groups`` are
shared, so the wrapper sees the new rates).

Example::

    >>> import torch
    >>> from layerwise.transforms import TransformedOptimizer, chain, clip_per_layer, add_noise
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
    ...                            chain(clip_per_layer(C=1.0), add_noise(eta=0.01)),
    ...                            model.named_parameters())
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step(); opt.zero_grad()
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.hooks import RemovableHandle

from layerwise.transforms._wrapper import WrapsOptimizer
from layerwise.transforms.base import GradientTransform, State

PostStepHook = Callable[["TransformedOptimizer"], None]


def _named(named_params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]]) -> dict[str, Tensor]:
    items = named_params.items() if isinstance(named_params, Mapping) else named_params
    out: dict[str, Tensor] = {}
    for name, p in items:
        if name in out:
            raise ValueError(f"parameter name {name!r} appears twice")
        out[name] = p
    return out


class TransformedOptimizer(WrapsOptimizer):
    """Wrap ``optimizer`` so that ``step()`` first applies ``transform`` to the named gradients."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        transform: GradientTransform,
        named_params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]],
    ) -> None:
        self.optimizer = optimizer
        self.transform = transform
        self.named_params = _named(named_params)
        self._check_coverage()
        with torch.no_grad():
            self.transform_state: State = transform.init(self.named_params)
        self.steps = 0
        self._hooks: OrderedDict[int, PostStepHook] = OrderedDict()  # weak-referenceable, for the handle

    def _check_coverage(self) -> None:
        named = {id(p) for p in self.named_params.values()}
        held = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
        if held - named:
            raise ValueError(
                f"{len(held - named)} parameter(s) of the optimizer have no name: pass every optimized "
                "parameter in named_params (e.g. model.named_parameters())"
            )
        if named - held:
            missing = [n for n, p in self.named_params.items() if id(p) not in held]
            raise ValueError(f"named parameters not held by the optimizer: {', '.join(missing[:5])}")

    @torch.no_grad()
    def apply_transform(self) -> dict[str, Tensor]:
        """Transform the current gradients in place of ``p.grad`` (``step()`` calls this first)."""
        grads = {n: p.grad for n, p in self.named_params.items() if p.grad is not None}
        new, self.transform_state = self.transform.update(grads, self.transform_state, self.named_params)
        if set(new) != set(grads):
            raise RuntimeError(f"{self.transform!r} returned gradients for other parameters than it got")
        for name, g in new.items():
            p = self.named_params[name]
            if g is not p.grad:
                p.grad = g.detach()
        return new

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Evaluate ``closure`` (once, with grad) if given, transform, step, then run post-step hooks."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.apply_transform()
        self.optimizer.step()
        self.steps += 1
        with torch.no_grad():
            for hook in list(self._hooks.values()):
                hook(self)
        return loss

    def add_post_step_hook(self, fn: PostStepHook) -> RemovableHandle:
        """Run ``fn(self)`` after every step; returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = fn
        return handle

    def state_dict(self) -> dict[str, Any]:
        """``{"optimizer": ..., "transform": ..., "steps": n}``; the transform state is a copy."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "transform": copy.deepcopy(self.transform_state),
            "steps": self.steps,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the wrapped optimizer, the transform state and the step count."""
        missing = {"optimizer", "transform"} - set(state_dict)
        if missing:
            raise KeyError(f"not a TransformedOptimizer state dict: missing {', '.join(sorted(missing))}")
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.transform_state = copy.deepcopy(state_dict["transform"])
        self.steps = int(state_dict.get("steps", 0))

    def __repr__(self) -> str:
        return f"TransformedOptimizer({type(self.optimizer).__name__}, {self.transform!r})"
