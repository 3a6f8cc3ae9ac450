"""Noise-adaptive layerwise learning rates on top of Muon (LANTON).

Noise-adaptive layerwise learning rates (Hao, Gong, Xu, Wang & Liu, 2025, arXiv 2510.14009). No
official code was found; the paper's Algorithm 1 was not available either, so this is a
reconstruction. What is **from the paper's text** (abstract and reviews):

- geometry-aware (LMO) updates: the spectral LMO (Muon's orthogonalisation) for hidden matrices,
  the sign LMO (Signum) for embeddings and the output head;
- momentum ``B <- beta1 B + (1 - beta1) G`` and the step ``X <- X - lr_l * LMO(B)``;
- each layer's gradient noise is estimated on the fly in the *dual* norm of its LMO norm (nuclear
  norm for spectral layers, l1 for sign layers), and within a group of layers sharing a norm the
  noisier layers get smaller learning rates.

What is **reconstructed** (our choices, to check against Algorithm 1 when it can be read):

- the estimator, ``estimator="diff"``: N_l <- beta2 N_l + (1 - beta2) ||G_t - G_{t-1}||_*^2, or
  ``estimator="momentum"``: ||G_t - B_t||_*^2 instead; with Adam-style bias correction;
- the rule ``lr_l = lr * clip(sqrt(mean_{j in group} N_j / N_l), lr_bounds)``, lr_bounds = (0.1, 10);
  layers with no estimate yet (first step of "diff") get ratio 1;
- Nesterov momentum, Muon's shape scale and decoupled weight decay (``layerwise.optim.muon``);
- biases and norm gains: Signum, in a group of their own (``noise_adaptive_param_groups``);
- ``dual_norm="bound"`` replaces the nuclear norm by sqrt(min(m, n)) ||.||_F (no SVD).

``layer_lr`` and ``layer_noise`` give the current per-layer values (they sync with the device: call
them when logging, not every step).

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.optim import NoiseAdaptiveMuon, noise_adaptive_param_groups
    >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> opt = NoiseAdaptiveMuon(noise_adaptive_param_groups(model, lr=0.02, sign_lr=1e-3))
    >>> for _ in range(2):
    ...     opt.zero_grad(); model(torch.randn(4, 8)).pow(2).mean().backward(); opt.step()
    >>> sorted(opt.layer_lr)[:2]
    ['0.bias', '0.weight']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from layerwise._registry import register
from layerwise.optim.groups import split_hidden_matrices
from layerwise.optim.muon import check_groups, lr_scale, step_groups
from layerwise.optim.newton_schulz import NS_COEFFICIENTS, NS_STEPS, newton_schulz


def dual_norm(d: Tensor, lmo: str, *, bound: bool = False) -> Tensor:
    """Dual of the LMO's norm: nuclear for "spectral" (or its sqrt(rank) Frobenius bound), l1 for "sign"."""
    if lmo == "sign":
        return d.abs().sum()
    if bound:
        return d.norm() * min(d.shape) ** 0.5
    return torch.linalg.matrix_norm(d.float(), ord="nuc").to(d.dtype)


def noise_lr_ratios(noise: Tensor, lr_bounds: tuple[float, float] = (0.1, 10.0)) -> Tensor:
    """clip(sqrt(mean(N) / N_l), bounds) per layer; 1 where no estimate exists (N = 0). [reconstructed]

    The mean runs over the layers that have an estimate. No host sync.
    """
    known = noise > 0
    mean = (noise * known).sum() / known.sum().clamp_min(1)
    ratio = (mean / noise.clamp_min(torch.finfo(noise.dtype).tiny)).sqrt().clamp(*lr_bounds)
    return torch.where(known, ratio, torch.ones_like(ratio))


@register(
    "noise_adaptive_muon",
    kind="optimizer",
    paper="Noise-adaptive layerwise learning rates (LANTON; Hao et al., 2025)",
    arxiv="2510.14009",
)
class NoiseAdaptiveMuon(Optimizer):
    """Muon/Signum with per-layer learning rates scaled down where the dual-norm noise is higher."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.02,
        *,
        momentum: float = 0.95,
        beta2: float = 0.99,
        nesterov: bool = True,
        estimator: str = "diff",
        lmo: str = "spectral",
        lr_bounds: tuple[float, float] = (0.1, 10.0),
        dual_norm: str = "exact",
        weight_decay: float = 0.0,
        ns_steps: int = NS_STEPS,
        ns_dtype: torch.dtype | None = None,
        adjust_lr: str | None = "original",
    ) -> None:
        if estimator not in ("diff", "momentum") or dual_norm not in ("exact", "bound"):
            raise ValueError("estimator is 'diff' or 'momentum'; dual_norm is 'exact' or 'bound'")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            beta2=beta2,
            nesterov=nesterov,
            estimator=estimator,
            lmo=lmo,
            lr_bounds=lr_bounds,
            dual_norm=dual_norm,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype,
            adjust_lr=adjust_lr,
        )
        super().__init__(params, defaults)
        check_groups(self.param_groups, "lmo", ("spectral", "sign"), matrix_only="spectral")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        return step_groups(self, closure, self._group_step)

    def _update_noise(self, group: dict[str, Any], p: Tensor) -> Tensor:
        state, g = self.state[p], p.grad
        if not state:
            state.update(momentum_buffer=torch.zeros_like(p), noise=torch.zeros((), device=p.device), count=0)
        buf = state["momentum_buffer"]
        buf.lerp_(g, 1 - group["momentum"])
        if group["estimator"] == "momentum":
            diff = g - buf
        elif "prev_grad" in state:
            diff = g - state["prev_grad"]
        else:
            diff = None
        if group["estimator"] == "diff":
            state["prev_grad"] = g.clone()
        if diff is not None:
            sq = dual_norm(diff, group["lmo"], bound=group["dual_norm"] == "bound").float() ** 2
            state["noise"].mul_(group["beta2"]).add_(sq, alpha=1 - group["beta2"])
            state["count"] += 1
        count = state["count"]
        return state["noise"] / (1 - group["beta2"] ** count) if count else state["noise"].clone()

    def _group_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        noise = torch.stack([self._update_noise(group, p) for p in params])
        ratios = noise_lr_ratios(noise, group["lr_bounds"])
        lr, mu = group["lr"], group["momentum"]
        for i, p in enumerate(params):
            state = self.state[p]
            state["lr_ratio"] = ratios[i]
            buf = state["momentum_buffer"]
            u = p.grad.lerp(buf, mu) if group["nesterov"] else buf
            if group["lmo"] == "spectral":
                d = newton_schulz(
                    u, steps=group["ns_steps"], coefficients=NS_COEFFICIENTS, dtype=group["ns_dtype"]
                )
                scale = lr * lr_scale(p.shape, group["adjust_lr"])
            else:
                d, scale = u.sign(), lr
            if group["weight_decay"]:
                p.mul_(1 - lr * group["weight_decay"])
            p.sub_(d.to(p.dtype) * (scale * ratios[i]).to(p.dtype))

    def _per_layer(self, value: Callable[[dict[str, Any], dict[str, Any]], float | None]) -> dict[str, float]:
        out = {}
        for gi, group in enumerate(self.param_groups):
            names = group.get("names") or [f"{gi}.{i}" for i in range(len(group["params"]))]
            for name, p in zip(names, group["params"], strict=True):
                v = value(group, self.state[p]) if self.state[p] else None
                if v is not None:
                    out[name] = v
        return out

    @property
    def layer_lr(self) -> dict[str, float]:
        """Current learning rate of each layer (before Muon's shape scale), by name."""
        return self._per_layer(lambda g, st: float(st["lr_ratio"]) * g["lr"] if "lr_ratio" in st else None)

    @property
    def layer_noise(self) -> dict[str, float]:
        """Current squared dual-norm noise of each layer (bias-corrected EMA), by name."""
        return self._per_layer(
            lambda g, st: float(st["noise"]) / (1 - g["beta2"] ** st["count"]) if st["count"] else None
        )


def noise_adaptive_param_groups(
    model: nn.Module,
    *,
    lr: float = 0.02,
    sign_lr: float = 3e-4,
    exclude: tuple[str, ...] = (),
    head: str | None = "last",
) -> list[dict[str, Any]]:
    """Groups: hidden matrices (spectral), embeddings and head (sign), vectors (sign). [reconstructed]"""
    hidden, rest = split_hidden_matrices(model, exclude=exclude, head=head)
    matrices = [(n, p) for n, p in rest if p.dim() >= 2]
    vectors = [(n, p) for n, p in rest if p.dim() < 2]
    groups = [(hidden, "spectral", lr), (matrices, "sign", sign_lr), (vectors, "sign", sign_lr)]
    return [
        {"params": [p for _, p in named], "names": [n for n, _ in named], "lmo": lmo, "lr": group_lr}
        for named, lmo, group_lr in groups
        if named
    ]
