"""DP-SGD: per-sample gradients with ``torch.func``, flat or per-layer clipping, Gaussian noise.

Deep Learning with Differential Privacy (Abadi et al., 2016, arXiv 1607.00133): clip every
per-sample gradient to norm <= C, sum, add N(0, sigma^2 C^2) to the sum, divide by the batch size.
Per-layer clipping follows the budget split of Apple's DP federated learning for ASR (Pelikan et
al., NeurIPS 2025, arXiv 2310.00098): each layer (parameter tensor) l gets its own bound C_l with
sum_l C_l^2 = C^2, so the whole per-sample gradient still has norm <= C and the same noise keeps the
same guarantee. ``per_layer="uniform"`` sets C_l = C / sqrt(L); ``per_layer="per_dim"`` sets
C_l = C * sqrt(d_l / D) (d_l entries in layer l, D in all). Here a layer's per-sample gradient is
*clipped* (scaled by min(1, C_l / norm)), as DP-SGD requires, not normalised to C_l.

The per-sample gradients come from ``vmap(grad(loss of one sample))`` over ``functional_call``, so
any model and loss work, provided the forward pass treats samples independently (no BatchNorm in
training mode; use GroupNorm or LayerNorm). ``loss_fn(output, target)`` sees a batch of one.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.transforms.dp import DPSGD
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> dp = DPSGD(model, nn.functional.cross_entropy, clip=1.0, noise_multiplier=1.1,
    ...            per_layer="uniform", seed=0, sample_rate=0.01)
    >>> grads = dp.step_grads(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    >>> model[0].weight.grad.shape
    torch.Size([8, 4])
    >>> dp.epsilon(1e-5) > 0
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from layerwise._registry import register
from layerwise.transforms.accountant import RDPAccountant

PerLayer = bool | Literal["uniform", "per_dim"]


def per_sample_grads(
    model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Any, y: Tensor
) -> dict[str, Tensor]:
    """Gradient of ``loss_fn(model(x_i), y_i)`` for every sample i: name -> tensor of shape (B, *p.shape).

    Only parameters with ``requires_grad`` are differentiated; ``x`` is a tensor or a tuple of tensors.
    """
    trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def sample_loss(params: dict[str, Tensor], xi: Any, yi: Tensor) -> Tensor:
        inputs = tuple(t.unsqueeze(0) for t in xi) if isinstance(xi, tuple) else (xi.unsqueeze(0),)
        out = functional_call(model, ({**params, **frozen}, buffers), inputs)
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(sample_loss), in_dims=(None, 0, 0))(trainable, x, y)


def layer_budgets(grads: Mapping[str, Tensor], clip: float, per_layer: PerLayer) -> dict[str, float]:
    """The clipping bound C_l of each layer; the squares add up to ``clip**2``."""
    mode = "uniform" if per_layer is True else per_layer
    if mode == "uniform":
        return {n: clip / math.sqrt(len(grads)) for n in grads}
    if mode == "per_dim":
        sizes = {n: g[0].numel() for n, g in grads.items()}
        total = sum(sizes.values())
        return {n: clip * math.sqrt(d / total) for n, d in sizes.items()}
    raise ValueError(f"per_layer must be False, True, 'uniform' or 'per_dim', got {per_layer!r}")


def per_sample_norms(grads: Mapping[str, Tensor]) -> Tensor:
    """Per-layer per-sample norms, shape (L, B), in the order of ``grads``."""
    return torch.stack([g.flatten(1).norm(dim=1) for g in grads.values()])


def clip_factors(grads: Mapping[str, Tensor], clip: float, per_layer: PerLayer = False) -> dict[str, Tensor]:
    """Scale min(1, C / norm) per sample (flat) or min(1, C_l / norm_l) per sample and layer."""
    norms = per_sample_norms(grads)
    tiny = torch.finfo(norms.dtype).tiny
    if not per_layer:
        factor = (clip / norms.pow(2).sum(0).sqrt().clamp_min(tiny)).clamp(max=1.0)
        return dict.fromkeys(grads, factor)
    budgets = layer_budgets(grads, clip, per_layer)
    bound = torch.tensor([budgets[n] for n in grads], dtype=norms.dtype, device=norms.device)
    factors = (bound[:, None] / norms.clamp_min(tiny)).clamp(max=1.0)
    return {n: factors[i] for i, n in enumerate(grads)}


def clip_per_sample(
    grads: Mapping[str, Tensor], clip: float, per_layer: PerLayer = False
) -> dict[str, Tensor]:
    """The clipped per-sample gradients themselves (for checks; training uses ``clip_and_sum``)."""
    factors = clip_factors(grads, clip, per_layer)
    return {n: g * factors[n].view(-1, *([1] * (g.dim() - 1))) for n, g in grads.items()}


def clip_and_sum(grads: Mapping[str, Tensor], clip: float, per_layer: PerLayer = False) -> dict[str, Tensor]:
    """Sum over samples of the clipped per-sample gradients, without materialising them."""
    factors = clip_factors(grads, clip, per_layer)
    return {n: torch.tensordot(factors[n], g, dims=1) for n, g in grads.items()}


def noisy_average(
    summed: Mapping[str, Tensor],
    *,
    clip: float,
    noise_multiplier: float,
    batch_size: float,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """(sum + N(0, (noise_multiplier * clip)^2)) / batch_size, for every tensor."""
    std = noise_multiplier * clip
    out = {}
    for n, s in summed.items():
        noise = torch.randn(s.shape, dtype=s.dtype, device=s.device, generator=generator) if std > 0 else 0.0
        out[n] = (s + std * noise) / batch_size
    return out


@register(
    "dp_sgd",
    kind="transform",
    paper="Deep Learning with Differential Privacy (Abadi et al., 2016); per-layer budgets from "
    "Pelikan et al., DP federated learning for ASR (NeurIPS 2025)",
    arxiv="1607.00133",
)
class DPSGD:
    """Private gradients for any model and loss: per-sample clip (flat or per layer), noise, average.

    ``step_grads(x, y)`` writes the private mean gradient into ``p.grad`` (replacing what was there),
    so any torch optimizer can step next. ``expected_batch_size`` divides the noisy sum (use the
    expected size under Poisson sampling); by default it is the actual batch size. With
    ``sample_rate`` given, each call is recorded in ``self.accountant`` and ``epsilon(delta)`` works.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        *,
        clip: float,
        noise_multiplier: float,
        per_layer: PerLayer = False,
        seed: int | None = None,
        expected_batch_size: int | None = None,
        sample_rate: float | None = None,
    ) -> None:
        if clip <= 0 or noise_multiplier < 0:
            raise ValueError("need clip > 0 and noise_multiplier >= 0")
        self.model, self.loss_fn = model, loss_fn
        self.clip, self.noise_multiplier, self.per_layer = clip, noise_multiplier, per_layer
        self.expected_batch_size, self.sample_rate = expected_batch_size, sample_rate
        device = next(model.parameters()).device
        self.generator = torch.Generator(device=device)
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()
        self.accountant = RDPAccountant()

    def private_grads(self, x: Any, y: Tensor) -> dict[str, Tensor]:
        """The private mean gradient, name -> tensor, without touching ``p.grad``."""
        grads = per_sample_grads(self.model, self.loss_fn, x, y)
        summed = clip_and_sum(grads, self.clip, self.per_layer)
        batch = self.expected_batch_size or y.shape[0]
        return noisy_average(
            summed,
            clip=self.clip,
            noise_multiplier=self.noise_multiplier,
            batch_size=batch,
            generator=self.generator,
        )

    def step_grads(self, x: Any, y: Tensor) -> dict[str, Tensor]:
        """Write the private mean gradient into ``p.grad`` and return it."""
        private = self.private_grads(x, y)
        for name, p in self.model.named_parameters():
            if name in private:
                p.grad = private[name].to(p.dtype)
        if self.sample_rate is not None:
            self.accountant.step(q=self.sample_rate, sigma=self.noise_multiplier)
        return private

    def epsilon(self, delta: float) -> float:
        """Privacy spent so far (needs ``sample_rate``)."""
        if self.sample_rate is None:
            raise ValueError("pass sample_rate= to DPSGD to account for privacy")
        return self.accountant.epsilon(delta)


@register(
    "dp_aggregate",
    kind="transform",
    paper="Deep Learning with Differential Privacy (Abadi et al., 2016)",
    arxiv="1607.00133",
)
def dp_aggregate(
    *,
    clip: float,
    noise_multiplier: float,
    per_layer: PerLayer = False,
    batch_size: int | None = None,
    seed: int = 0,
) -> Any:
    """DP-SGD's aggregation as a ``GradientTransform``: per-sample grads (B, ...) in, private mean out.

    Feed it ``per_sample_grads(...)``; chain transforms after it as usual. The state is
    ``{"t": step, "seed": seed}``: step t's noise comes from a generator seeded by (seed, t), so a
    reloaded state redraws the same noise. Thin adapter over ``clip_and_sum`` and ``noisy_average``.
    """
    from layerwise.transforms.base import GradientTransform
    from layerwise.transforms.noise import step_seed

    def init(params: Mapping[str, Tensor]) -> dict[str, int]:
        return {"t": 0, "seed": seed}

    def update(grads: dict[str, Tensor], state: dict[str, int], params: Mapping[str, Tensor]):
        if not grads:
            return {}, state
        first = next(iter(grads.values()))
        gen = torch.Generator(device=first.device)
        gen.manual_seed(step_seed(state["seed"], state["t"]))
        summed = clip_and_sum(grads, clip, per_layer)
        out = noisy_average(
            summed,
            clip=clip,
            noise_multiplier=noise_multiplier,
            batch_size=batch_size or first.shape[0],
            generator=gen,
        )
        return out, {"t": state["t"] + 1, "seed": state["seed"]}

    return GradientTransform(init, update, f"dp_aggregate(clip={clip}, sigma={noise_multiplier})")
