"""Muon: momentum, then Newton-Schulz orthogonalisation, for 2-D hidden matrices (AdamW for the rest).

Muon: An optimizer for hidden layers in neural networks (Jordan, Jin, Boza, You, Cesista, Newhouse &
Bernstein, 2024, https://kellerjordan.github.io/posts/muon/; no arXiv id). For each hidden matrix W::

    B <- mu B + (1 - mu) G                           (momentum as an EMA)
    U = (1 - mu) G + mu B   (Nesterov)  or  U = B
    W <- W (1 - lr wd) - lr * s(W) * NS5(U)          (decoupled weight decay)

with ``NS5`` the quintic Newton-Schulz iteration (``layerwise.optim.newton_schulz``) and the shape
scale ``s(W)``: ``adjust_lr="original"`` (default) or ``None`` is sqrt(max(1, rows / cols)), Jordan's
choice and ``torch.optim.Muon``'s default; ``"match_rms_adamw"`` is 0.2 sqrt(max(rows, cols)) (Liu et
al., 2025, arXiv 2502.16982), so AdamW learning rates carry over; ``"none"`` is 1 (no scaling, an
option torch does not have). These are the conventions of ``torch.optim.Muon``'s ``adjust_lr_fn``
(torch >= 2.9), with one difference: torch always iterates in bfloat16, here ``ns_dtype`` defaults to
float32 on CPU and bfloat16 on CUDA. With ``ns_dtype=torch.bfloat16`` the updates coincide with torch's.

Parameter groups with ``algorithm="adamw"`` (embeddings, heads, biases, norms) are updated by AdamW
(Loshchilov & Hutter, 2019) with that group's ``lr``, ``betas``, ``adam_eps`` and ``weight_decay``, so a
single optimizer (one ``state_dict``, one LR scheduler) covers the model; ``muon_param_groups``
(``layerwise.optim.groups``) builds the groups. Same-shaped matrices are orthogonalised in one batch.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.optim import Muon, muon_param_groups
    >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> opt = Muon(muon_param_groups(model, lr=0.02, adamw_lr=3e-4))
    >>> model(torch.randn(4, 8)).sum().backward()
    >>> opt.step()
    >>> [g["algorithm"] for g in opt.param_groups]
    ['muon', 'adamw']
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from layerwise._registry import register
from layerwise.optim.newton_schulz import NS_COEFFICIENTS, NS_STEPS, newton_schulz


def lr_scale(shape: torch.Size | tuple[int, ...], adjust_lr: str | None) -> float:
    """The per-matrix factor on Muon's learning rate: ``None`` or ``"original"``, ``"match_rms_adamw"``
    as in ``torch.optim.Muon``'s ``adjust_lr_fn``; ``"none"`` for no scaling (see the module doc)."""
    rows, cols = shape[0], shape[1]
    if adjust_lr is None or adjust_lr == "original":
        return math.sqrt(max(1.0, rows / cols))
    if adjust_lr == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    if adjust_lr == "none":
        return 1.0
    raise ValueError(f"adjust_lr must be 'original' (same as None, torch's default), 'match_rms_adamw' or "
                     f"'none' (no scaling), got {adjust_lr!r}")


def muon_directions(
    params: list[Tensor], grads: list[Tensor], bufs: list[Tensor], group: dict[str, Any]
) -> list[Tensor]:
    """Update the momentum buffers in place and return NS5 of the (Nesterov) momentum, per parameter."""
    mu = group["momentum"]
    torch._foreach_lerp_(bufs, grads, 1 - mu)
    updates = [g.lerp(b, mu) for g, b in zip(grads, bufs, strict=True)] if group["nesterov"] else list(bufs)
    out: list[Tensor] = [updates[0]] * len(updates)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, u in enumerate(updates):
        by_shape[tuple(u.shape)].append(i)
    for idx in by_shape.values():
        stacked = torch.stack([updates[i] for i in idx])
        ortho = newton_schulz(
            stacked,
            steps=group["ns_steps"],
            coefficients=group["ns_coefficients"],
            eps=group["eps"],
            dtype=group["ns_dtype"],
        )
        for j, i in enumerate(idx):
            out[i] = ortho[j].to(params[i].dtype)
    return out


def check_groups(groups: list[dict[str, Any]], key: str, allowed: tuple[str, str], matrix_only: str) -> None:
    """Refuse a group whose ``key`` is not in ``allowed``, or one marked ``matrix_only`` that holds
    anything but 2-D matrices (Newton-Schulz orthogonalises matrices)."""
    for group in groups:
        if group[key] not in allowed:
            raise ValueError(f"{key} must be {allowed[0]!r} or {allowed[1]!r}, got {group[key]!r}")
        if group[key] == matrix_only and any(p.dim() != 2 for p in group["params"]):
            other = next(a for a in allowed if a != matrix_only)
            raise ValueError(f"{matrix_only!r} groups take 2-D matrices only; put other tensors in a "
                             f"group with {key}={other!r}")


def step_groups(optimizer: Optimizer, closure: Callable[[], Tensor] | None,
                group_step: Callable[[dict[str, Any], list[Tensor]], None]) -> Tensor | None:
    """``Optimizer.step`` of the Muon family: evaluate ``closure`` with gradients on, then call
    ``group_step(group, params)`` on each group's parameters that have a gradient."""
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        if params:
            group_step(group, params)
    return loss


@register(
    "muon",
    kind="optimizer",
    paper="Muon: An optimizer for hidden layers in neural networks (Jordan et al., 2024)",
    arxiv=None,
)
class Muon(Optimizer):
    """Muon for 2-D hidden matrices, AdamW for groups marked ``algorithm="adamw"``; see the module doc."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        *,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = NS_STEPS,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        ns_dtype: torch.dtype | None = None,
        eps: float = 1e-7,
        adjust_lr: str | None = "original",
        betas: tuple[float, float] = (0.9, 0.95),
        adam_eps: float = 1e-8,
    ) -> None:
        if lr < 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError("need lr >= 0, 0 <= momentum < 1 and weight_decay >= 0")
        lr_scale((1, 1), adjust_lr)  # validates the option
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_coefficients=ns_coefficients,
            ns_dtype=ns_dtype,
            eps=eps,
            adjust_lr=adjust_lr,
            betas=betas,
            adam_eps=adam_eps,
            algorithm="muon",
        )
        super().__init__(params, defaults)
        check_groups(self.param_groups, "algorithm", ("muon", "adamw"), matrix_only="muon")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        return step_groups(self, closure, self._group_step)

    def _group_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        if group["algorithm"] == "muon":
            self._muon_step(group, params)
        else:
            self._adamw_step(group, params)

    def _muon_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        grads = [p.grad for p in params]
        bufs = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            bufs.append(state["momentum_buffer"])
        updates = muon_directions(params, grads, bufs, group)
        lr = group["lr"]
        if group["weight_decay"]:
            torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
        for p, u in zip(params, updates, strict=True):
            p.add_(u, alpha=-lr * lr_scale(p.shape, group["adjust_lr"]))

    def _adamw_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        for p in params:
            state = self.state[p]
            if "step" not in state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            if wd:
                p.mul_(1 - lr * wd)
            denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(group["adam_eps"])
            p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))
