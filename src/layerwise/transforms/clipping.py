"""Per-layer gradient clipping in four modes (Apple's DP federated ASR recipe, arXiv 2310.00098).

Let g_l be the gradient of layer l, L the number of layers, d_l its number of elements,
D = sum_l d_l, and ||g|| = sqrt(sum_l ||g_l||^2) the global norm. With threshold C:

``"per_tensor"``     each layer independently: g_l <- g_l * min(1, C / ||g_l||).
``"global"``         if ||g|| > C: g <- g * C / ||g|| (like ``torch.nn.utils.clip_grad_norm_``).
``"uniform"``        if ||g|| >= C: every layer is *set* to norm C / sqrt(L),
                     g_l <- g_l / ||g_l|| * C / sqrt(L) (``clip_layer_grads`` of the official code);
                     below C nothing changes.
``"per_dimension"``  if ||g|| >= C: every layer is set to norm C * sqrt(d_l / D)
                     (``clip_layer_grads_params``); below C nothing changes.

In the last two modes the rescale is a per-layer *normalisation*: layers with small gradients are
amplified, and the clipped global norm is exactly C (the targets' squares sum to C^2). A layer
whose gradient is zero stays zero.

A "layer" is one parameter tensor, unless ``group`` maps parameter names to layer names (for
example ``layerwise.transforms.by_module``, which puts a module's weight and bias in one layer).
Only parameters that have a gradient count towards L and D. Norms stay on the device: no host sync.
"""

from __future__ import annotations

import math

import torch

from layerwise._registry import register
from layerwise.transforms._layers import Grouping, layer_norms, scale_each
from layerwise.transforms._papers import DP_FL_ASR
from layerwise.transforms.base import GradientTransform, Grads, Params, stateless

CLIP_MODES = ("per_tensor", "uniform", "per_dimension", "global")


def _factors(norms: torch.Tensor, sizes: torch.Tensor, C: float, mode: str) -> torch.Tensor:
    """Per-layer multipliers for layer norms ``norms`` and sizes ``sizes``."""
    if mode == "per_tensor":
        return C / norms.clamp_min(C)
    total = norms.square().sum().sqrt()
    if mode == "global":
        return (C / total.clamp_min(C)).expand_as(norms)
    if mode == "uniform":
        target = torch.full_like(norms, C / math.sqrt(norms.numel()))
    else:  # per_dimension
        target = C * (sizes / sizes.sum()).sqrt()
    normalised = torch.where(norms > 0, target / norms, torch.ones_like(norms))
    return torch.where(total >= C, normalised, torch.ones_like(norms))


@register("clip_per_layer", kind="transform", paper=DP_FL_ASR[0], arxiv=DP_FL_ASR[1])
def clip_per_layer(C: float = 1.0, *, mode: str = "uniform", group: Grouping = None) -> GradientTransform:
    """Clip gradients layer by layer: modes "per_tensor", "uniform", "per_dimension", "global".

    Paper: Enabling Differentially Private Federated Learning for Speech Recognition: Benchmarks,
    Adaptive Optimizers and Gradient Clipping (Apple, 2023, arXiv 2310.00098); the modes follow
    its official code (see the module docstring for the exact formulas).

    Args:
        C: the clipping threshold (> 0).
        mode: one of ``CLIP_MODES``.
        group: optional ``name -> layer name`` grouping of parameter tensors into layers.

    Example::

        >>> import torch
        >>> from layerwise.transforms import clip_per_layer
        >>> t = clip_per_layer(C=1.0, mode="uniform")
        >>> g = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([0.0, 0.1])}
        >>> out, _ = t.update(g, t.init(g), g)
        >>> [round(out[k].norm().item(), 4) for k in g]  # both layers set to 1/sqrt(2)
        [0.7071, 0.7071]
    """
    if mode not in CLIP_MODES:
        raise ValueError(f"unknown clipping mode {mode!r}; use one of {', '.join(CLIP_MODES)}")
    if not C > 0:
        raise ValueError(f"the clipping threshold C must be > 0, got {C}")

    cache: dict = {}

    def clip(grads: Grads, params: Params) -> Grads:
        if not grads:
            return {}
        norms, index, sizes = layer_norms(grads, group, cache)
        return scale_each(grads, _factors(norms, sizes, float(C), mode), index)

    return stateless(clip, f"clip_per_layer(C={C}, mode={mode!r})")
