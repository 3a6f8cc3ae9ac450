"""Reversible engine: run additive couplings without storing their inputs, rebuild them in backward.

The Reversible Residual Network: Backpropagation Without Storing Activations (Gomez, Ren, Urtasun,
Grosse, 2017, arXiv 1707.04585). A coupling splits the input channels, ``x = (x1, x2)``::

    y1 = x1 + F(x2)          x2 = y2 - G(y1)
    y2 = x2 + G(y1)          x1 = y1 - F(x2)        (the inverse)

so every block input can be recomputed from its output. The engine (``reversible_apply``) is more
general: a state of several tensors ("streams") goes through steps
``s[t] = scale * s[t] + fn(*s[sources])`` with ``t`` not among the sources. The forward pass runs
under ``no_grad`` and keeps only the final streams; the backward pass walks the steps from the top,
calls ``fn`` once per step under ``enable_grad`` on the already-known sources, rebuilds the target
(``(s'[t] - fn(...)) / scale``) and back-propagates through that one call. The CPU RNG state (and
the CUDA state of the streams' devices) is recorded before every step and restored before its
recomputation, so dropout draws the same masks twice; the caller's RNG state is left as it was.

Saved per call: the final streams, the streams no step updates, and one RNG state per step that
consumed randomness (5 KiB each on CPU; steps that drew nothing share the previous state).
Caveats: ``fn`` runs twice per training step, so a BatchNorm inside it updates its running statistics
twice and module hooks on it fire again in backward (on the rebuilt inputs), as with
``torch.utils.checkpoint``; autocast state is not recorded; the result is once-differentiable.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn.reversible import RevCoupling, ReversibleSequence
    >>> seq = ReversibleSequence([RevCoupling(nn.Linear(4, 4), nn.Linear(4, 4), dim=-1) for _ in range(3)])
    >>> x = torch.randn(2, 8, requires_grad=True)
    >>> seq(x).sum().backward()
    >>> x.grad.shape
    torch.Size([2, 8])
    >>> bool(torch.allclose(seq.inverse(seq(x)), x, atol=1e-5))
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from layerwise._registry import register

__all__ = [
    "CouplingStep",
    "RevCoupling",
    "ReversibleSequence",
    "apply_steps",
    "invert_steps",
    "reversible_apply",
]

_GOMEZ = "The Reversible Residual Network: Backpropagation Without Storing Activations (Gomez et al., 2017)"


@dataclass(frozen=True, eq=False)
class CouplingStep:
    """One invertible update of a list of streams: ``s[target] = scale() * s[target] + fn(*s[sources])``.

    ``fn`` must not read ``s[target]``. ``scale`` is None (plain additive coupling) or a module whose
    ``forward()`` returns a tensor that broadcasts against the target and has no zero entry.
    """

    fn: nn.Module
    target: int
    sources: tuple[int, ...]
    scale: nn.Module | None = None

    def __post_init__(self) -> None:
        if self.target in self.sources:
            raise ValueError(f"stream {self.target} cannot be both the target and a source of a step")

    def trainable(self) -> list[Tensor]:
        """Parameters of ``fn`` and ``scale`` that require gradients, without duplicates."""
        mods = [self.fn] if self.scale is None else [self.fn, self.scale]
        return _unique(p for m in mods for p in m.parameters() if p.requires_grad)


def _unique(tensors: Iterable[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    return [t for t in tensors if not (id(t) in seen or seen.add(id(t)))]


class _Rng:
    """Records and restores the CPU RNG and the CUDA RNG of the given devices."""

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        self.devices = sorted({t.get_device() for t in tensors if t.is_cuda})
        self._last: Tensor | None = None

    def capture(self) -> tuple[Tensor, list[Tensor]]:
        cpu = torch.get_rng_state()
        if self._last is not None and torch.equal(cpu, self._last):
            cpu = self._last  # nothing was drawn since the last step: share the state
        self._last = cpu
        return cpu, [torch.cuda.get_rng_state(d) for d in self.devices]

    @staticmethod
    def restore(devices: Sequence[int], state: tuple[Tensor, list[Tensor]]) -> None:
        torch.set_rng_state(state[0])
        for device, cuda_state in zip(devices, state[1], strict=True):
            torch.cuda.set_rng_state(cuda_state, device)


@dataclass(frozen=True, eq=False)
class _Plan:
    steps: tuple[CouplingStep, ...]
    n_streams: int
    params: tuple[Tensor, ...]
    step_params: tuple[tuple[int, ...], ...]  # indices into params, per step
    first_update: tuple[float, ...]  # index of the first step that writes each stream (inf: none)
    preserve_rng: bool

    @property
    def updated(self) -> list[int]:
        return [i for i in range(self.n_streams) if self.first_update[i] < math.inf]

    @property
    def constant(self) -> list[int]:
        return [i for i in range(self.n_streams) if self.first_update[i] == math.inf]


def _forward_step(step: CouplingStep, streams: list[Tensor]) -> Tensor:
    out = step.fn(*(streams[i] for i in step.sources))
    target = streams[step.target]
    return target + out if step.scale is None else step.scale() * target + out


class _ReversibleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, plan: _Plan, *tensors: Tensor) -> tuple[Tensor, ...]:
        streams = list(tensors[: plan.n_streams])
        rng = _Rng(streams) if plan.preserve_rng else None
        states = []
        for step in plan.steps:
            if rng is not None:
                states.append(rng.capture())
            streams[step.target] = _forward_step(step, streams)  # the old value is dropped here
        outs = tuple(streams[i] for i in plan.updated)
        ctx.plan, ctx.states, ctx.devices = plan, states, (rng.devices if rng else [])
        ctx.save_for_backward(*outs, *(streams[i] for i in plan.constant))
        return outs

    @staticmethod
    @once_differentiable
    def backward(ctx, *grad_outs: Tensor) -> tuple[Tensor | None, ...]:
        plan: _Plan = ctx.plan
        saved = ctx.saved_tensors
        streams: list[Tensor | None] = [None] * plan.n_streams
        grads: list[Tensor | None] = [None] * plan.n_streams
        order = plan.updated + plan.constant
        for i, tensor in zip(order, saved, strict=True):
            streams[i] = tensor
        for i, grad in zip(plan.updated, grad_outs, strict=True):
            grads[i] = grad
        needs = ctx.needs_input_grad[1 : 1 + plan.n_streams]
        param_grads: list[Tensor | None] = [None] * len(plan.params)
        with torch.random.fork_rng(devices=ctx.devices, enabled=plan.preserve_rng):
            for k in reversed(range(len(plan.steps))):
                if plan.preserve_rng:
                    _Rng.restore(ctx.devices, ctx.states[k])
                _reverse_step(plan, k, streams, grads, param_grads, needs)
        stream_grads = [g if need else None for g, need in zip(grads, needs, strict=True)]
        return (None, *stream_grads, *param_grads)


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return b if a is None else a if b is None else a + b


def _reverse_step(plan: _Plan, k: int, streams, grads, param_grads, needs) -> None:
    """Rebuild the target of step ``k`` from its output and back-propagate through one call of ``fn``."""
    step = plan.steps[k]
    t = step.target

    def wanted(i: int) -> bool:  # the gradient reaches an earlier step or a caller's input
        return plan.first_update[i] < k or needs[i]

    params = [plan.params[j] for j in plan.step_params[k]]
    dt = grads[t]
    with torch.enable_grad():
        srcs = [streams[i].detach().requires_grad_(wanted(i)) for i in step.sources]
        fo = step.fn(*srcs)
        scale = step.scale() if step.scale is not None else None
    with torch.no_grad():
        target_in = streams[t] - fo
        if scale is not None:
            target_in = target_in / scale
    outputs, grad_outputs = [fo], [dt]
    if scale is not None and scale.requires_grad:
        with torch.enable_grad():
            outputs.append(scale * target_in)
        grad_outputs.append(dt)
    inputs = [s for s in srcs if s.requires_grad] + params
    keep = [j for j, o in enumerate(outputs) if o.requires_grad]
    if inputs and keep:
        res = torch.autograd.grad(
            [outputs[j] for j in keep], inputs, [grad_outputs[j] for j in keep], allow_unused=True
        )
    else:
        res = (None,) * len(inputs)
    res_iter = iter(res)
    for i, s in zip(step.sources, srcs, strict=True):
        if s.requires_grad:
            grads[i] = _add(grads[i], next(res_iter))
    for j, g in zip(plan.step_params[k], res_iter, strict=True):
        param_grads[j] = _add(param_grads[j], g)
    grads[t] = (dt if scale is None else dt * scale.detach()) if wanted(t) else None
    streams[t] = target_in


def reversible_apply(
    steps: Sequence[CouplingStep], streams: Sequence[Tensor], *, preserve_rng_state: bool = True
) -> list[Tensor]:
    """Apply ``steps`` to ``streams`` in order, storing for backward only the final streams.

    Returns the final value of every stream (streams that no step writes are returned unchanged).
    """
    steps = tuple(steps)
    if not steps:
        return list(streams)
    first = [math.inf] * len(streams)
    for k, step in enumerate(steps):
        if not all(0 <= i < len(streams) for i in (step.target, *step.sources)):
            raise IndexError(f"step {k} refers to a stream outside 0..{len(streams) - 1}")
        first[step.target] = min(first[step.target], k)
    params = _unique(p for s in steps for p in s.trainable())
    index = {id(p): j for j, p in enumerate(params)}
    plan = _Plan(
        steps=steps,
        n_streams=len(streams),
        params=tuple(params),
        step_params=tuple(tuple(index[id(p)] for p in s.trainable()) for s in steps),
        first_update=tuple(first),
        preserve_rng=preserve_rng_state,
    )
    outs = _ReversibleFunction.apply(plan, *streams, *params)
    outs = (outs,) if isinstance(outs, Tensor) else outs
    result = list(streams)
    for i, out in zip(plan.updated, outs, strict=True):
        result[i] = out
    return result


def apply_steps(steps: Iterable[CouplingStep], streams: Sequence[Tensor]) -> list[Tensor]:
    """The same computation as ``reversible_apply`` with plain autograd (stores every step's inputs)."""
    streams = list(streams)
    for step in steps:
        streams[step.target] = _forward_step(step, streams)
    return streams


def invert_steps(steps: Sequence[CouplingStep], streams: Sequence[Tensor]) -> list[Tensor]:
    """The streams before ``steps``, rebuilt from the streams after them, from the last step down.

    Exact up to rounding for deterministic ``fn``; with randomness, replay the forward's RNG state.
    """
    streams = list(streams)
    for step in reversed(steps):
        out = step.fn(*(streams[i] for i in step.sources))
        target = streams[step.target] - out
        streams[step.target] = target if step.scale is None else target / step.scale()
    return streams


@register("rev_coupling", kind="module", paper=_GOMEZ, arxiv="1707.04585")
class RevCoupling(nn.Module):
    """Additive reversible coupling ``y1 = x1 + F(x2), y2 = x2 + G(y1)`` over halves of ``dim``.

    ``F`` maps the second half to the shape of the first, ``G`` the first to the second (with an
    even channel count both are maps of ``C/2`` channels). Alone it is an ordinary module; inside a
    ``ReversibleSequence`` its input is not stored.
    """

    def __init__(self, f: nn.Module, g: nn.Module, *, dim: int = 1) -> None:
        super().__init__()
        self.f, self.g, self.dim = f, g, dim

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = x.chunk(2, self.dim)
        y1 = x1 + self.f(x2)
        return torch.cat((y1, x2 + self.g(y1)), self.dim)

    def inverse(self, y: Tensor) -> Tensor:
        """The input that produced ``y``: ``x2 = y2 - G(y1)``, ``x1 = y1 - F(x2)``."""
        y1, y2 = y.chunk(2, self.dim)
        x2 = y2 - self.g(y1)
        return torch.cat((y1 - self.f(x2), x2), self.dim)

    def steps(self) -> list[CouplingStep]:
        """The coupling as two engine steps on the streams ``(x1, x2)``."""
        return [CouplingStep(self.f, 0, (1,)), CouplingStep(self.g, 1, (0,))]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


@register("reversible_sequence", kind="module", paper=_GOMEZ, arxiv="1707.04585")
class ReversibleSequence(nn.Module):
    """A stack of ``RevCoupling`` blocks whose activation memory does not grow with depth.

    In training mode with gradients enabled the stack runs on the reversible engine; in eval mode,
    under ``no_grad``, or with ``reversible=False`` it runs block by block with plain autograd.
    """

    def __init__(
        self, blocks: Iterable[RevCoupling], *, reversible: bool = True, preserve_rng_state: bool = True
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        for i, block in enumerate(self.blocks):
            if not isinstance(block, RevCoupling):
                raise TypeError(f"block {i} is a {type(block).__name__}; wrap it as RevCoupling(F, G)")
        dims = {block.dim for block in self.blocks}
        if len(dims) > 1:
            raise ValueError(f"all blocks must split the same dim, got {sorted(dims)}")
        self.dim = dims.pop() if dims else 1
        self.reversible = reversible
        self.preserve_rng_state = preserve_rng_state

    def _engine_on(self, x: Tensor) -> bool:
        if not (self.reversible and self.training and torch.is_grad_enabled() and len(self.blocks)):
            return False
        return x.requires_grad or any(p.requires_grad for p in self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        if not self._engine_on(x):
            for block in self.blocks:
                x = block(x)
            return x
        steps = [s for block in self.blocks for s in block.steps()]
        y1, y2 = reversible_apply(steps, x.chunk(2, self.dim), preserve_rng_state=self.preserve_rng_state)
        return torch.cat((y1, y2), self.dim)

    def inverse(self, y: Tensor) -> Tensor:
        """The input that produced ``y`` (exact up to rounding; use the same RNG draws as forward)."""
        for block in reversed(self.blocks):
            y = block.inverse(y)
        return y

    def extra_repr(self) -> str:
        return f"reversible={self.reversible}"
