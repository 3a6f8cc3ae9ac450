"""Layer-wise gradient normalisation: every layer's gradient rescaled to a fixed norm.

g_l <- scale * g_l / ||g_l||, and with ``trust_ratio=True`` also times ||w_l|| (the LARS/LAMB
trust ratio, so a layer's step is proportional to its weight norm; a layer with zero weights
keeps ratio 1). Every layer then moves by the same relative amount whatever the size of its raw
gradient, which removes the gradient heterogeneity across layers that arXiv 2310.00098 identifies
as the obstacle to training deep models with clipped, noisy (DP) updates.

[derived] The paper applies the normalisation through a LAMB server optimizer; this transform is
the optimizer-agnostic primitive, usable before any torch optimizer. Layers are parameter tensors
unless ``group`` maps names to layers (as in ``clip_per_layer``); a zero gradient stays zero.
"""

from __future__ import annotations

import torch

from layerwise._registry import register
from layerwise.transforms._layers import Grouping, layer_norms, scale_each
from layerwise.transforms._papers import DP_FL_ASR
from layerwise.transforms.base import GradientTransform, Grads, Params, stateless


@register("normalize_per_layer", kind="transform", paper=DP_FL_ASR[0], arxiv=DP_FL_ASR[1])
def normalize_per_layer(
    *, scale: float = 1.0, trust_ratio: bool = False, group: Grouping = None
) -> GradientTransform:
    """Rescale each layer's gradient to norm ``scale`` (times ||w_l|| with ``trust_ratio``).

    Paper: Enabling Differentially Private Federated Learning for Speech Recognition: Benchmarks,
    Adaptive Optimizers and Gradient Clipping (Apple, 2023, arXiv 2310.00098).

    Example::

        >>> import torch
        >>> from layerwise.transforms import normalize_per_layer
        >>> t = normalize_per_layer()
        >>> g = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([0.0, 1e-3])}
        >>> out, _ = t.update(g, t.init(g), g)
        >>> [round(out[k].norm().item(), 4) for k in g]
        [1.0, 1.0]
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")

    cache: dict = {}

    def normalize(grads: Grads, params: Params) -> Grads:
        if not grads:
            return {}
        norms, index, _ = layer_norms(grads, group, cache)
        factors = torch.where(norms > 0, scale / norms, torch.zeros_like(norms))
        if trust_ratio:
            w_norms, _, _ = layer_norms({name: params[name].detach() for name in grads}, group, cache)
            factors = factors * torch.where(w_norms > 0, w_norms, torch.ones_like(w_norms))
        return scale_each(grads, factors, index)

    return stateless(normalize, f"normalize_per_layer(scale={scale}, trust_ratio={trust_ratio})")
