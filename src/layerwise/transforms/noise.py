"""Annealed Gaussian gradient noise (Neelakantan et al., 2015, arXiv 1511.06807).

At step t = 0, 1, 2, ... every gradient gets independent noise g <- g + N(0, sigma_t^2 I) with
variance sigma_t^2 = eta / (1 + t)^gamma (so the std is sqrt(eta / (1 + t)^gamma)). The paper's
defaults: gamma = 0.55 and eta in {0.01, 0.3, 1.0}. The noise is added to the raw gradient,
before the optimizer, so it works with SGD, Adam or anything else.

Reproducibility: the state is ``{"t": step, "seed": seed}``; the noise of step t is drawn from a
generator seeded by (seed, t), one per device, over the gradients in their mapping order. The
same seed, step and parameter names give the same noise, after a checkpoint reload too, and the
global RNG is untouched.
"""

from __future__ import annotations

import torch

from layerwise._registry import register
from layerwise.transforms._papers import GRADIENT_NOISE
from layerwise.transforms.base import GradientTransform, Grads, Params, State

_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: spreads (seed, t) over the seed space


def noise_variance(t: int, eta: float = 0.3, gamma: float = 0.55) -> float:
    """sigma_t^2 = eta / (1 + t)^gamma, the variance of the noise added at step ``t``."""
    return eta / (1.0 + t) ** gamma


def step_seed(seed: int, t: int) -> int:
    """A 63-bit generator seed for step ``t`` of a stream seeded by ``seed``."""
    return (seed * _MIX + (t + 1) * 0xBF58476D1CE4E5B9) % (2**63 - 1)


@register("add_noise", kind="transform", paper=GRADIENT_NOISE[0], arxiv=GRADIENT_NOISE[1])
def add_noise(*, eta: float = 0.3, gamma: float = 0.55, seed: int = 0) -> GradientTransform:
    """Add Gaussian noise of variance eta / (1 + t)^gamma to every gradient at step t.

    Paper: Adding Gradient Noise Improves Learning for Very Deep Networks (Neelakantan, Vilnis,
    Le, Sutskever, Kaiser, Kurach, Martens, 2015, arXiv 1511.06807).

    Example::

        >>> import torch
        >>> from layerwise.transforms import TransformedOptimizer, add_noise
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
        ...                            add_noise(eta=0.01), model.named_parameters())
        >>> model(torch.randn(8, 4)).pow(2).mean().backward()
        >>> opt.step()
        >>> opt.transform_state["t"]
        1
    """
    if eta < 0 or gamma < 0:
        raise ValueError(f"eta and gamma must be >= 0, got eta={eta}, gamma={gamma}")

    def init(params: Params) -> State:
        return {"t": 0, "seed": int(seed)}

    def update(grads: Grads, state: State, params: Params) -> tuple[Grads, State]:
        t = int(state["t"])
        std = noise_variance(t, eta, gamma) ** 0.5
        generators: dict[torch.device, torch.Generator] = {}
        out = {}
        for name, g in grads.items():
            gen = generators.get(g.device)
            if gen is None:
                gen = generators[g.device] = torch.Generator(device=g.device)
                gen.manual_seed(step_seed(int(state["seed"]), t))
            noise = torch.randn(g.shape, generator=gen, device=g.device, dtype=g.dtype)
            out[name] = g + std * noise
        return out, {"t": t + 1, "seed": state["seed"]}

    return GradientTransform(init, update, f"add_noise(eta={eta}, gamma={gamma})")
