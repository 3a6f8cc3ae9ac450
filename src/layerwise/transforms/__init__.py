"""layerwise.transforms: gradient transforms, optax-style, and the optimizer wrapper that applies them.

``chain(clip_per_layer(C=1.0), add_noise(eta=0.3))`` composes; ``partition`` routes parameters by
name; ``TransformedOptimizer(torch_opt, transform, model.named_parameters())`` applies a transform
between ``backward()`` and the optimizer's step and runs post-step hooks (``project_to_init_norm``).
``GradReverse`` (a module) and Normalize-and-Project's model edit live here too, and two more
optimizer wrappers: ``SkipNonfinite`` (no step on NaN/Inf gradients) and ``ScaledLR`` (every step
at a multiple of the rate a schedule set).
"""

from layerwise.transforms._layers import by_module
from layerwise.transforms.accountant import RDPAccountant, epsilon
from layerwise.transforms.base import GradientTransform, chain, identity, stateless
from layerwise.transforms.clipping import CLIP_MODES, clip_per_layer
from layerwise.transforms.dp import (
    DPSGD,
    clip_and_sum,
    clip_per_sample,
    dp_aggregate,
    layer_budgets,
    noisy_average,
    per_sample_grads,
)
from layerwise.transforms.nap import (
    ProjectToInitNorm,
    effective_lr,
    insert_norm_before_activations,
    project_to_init_norm,
)
from layerwise.transforms.noise import add_noise, noise_variance
from layerwise.transforms.normalize import normalize_per_layer
from layerwise.transforms.optimizer import TransformedOptimizer
from layerwise.transforms.reversal import GradientReversal, GradReverse, dann_lambda, grad_reverse
from layerwise.transforms.routing import param_matches, partition
from layerwise.transforms.scaled_lr import ScaledLR
from layerwise.transforms.skip_nonfinite import SkipNonfinite

__all__ = [
    "CLIP_MODES",
    "DPSGD",
    "RDPAccountant",
    "ScaledLR",
    "SkipNonfinite",
    "clip_and_sum",
    "clip_per_sample",
    "dp_aggregate",
    "epsilon",
    "layer_budgets",
    "noisy_average",
    "per_sample_grads",
    "GradReverse",
    "GradientReversal",
    "GradientTransform",
    "ProjectToInitNorm",
    "TransformedOptimizer",
    "add_noise",
    "by_module",
    "chain",
    "clip_per_layer",
    "dann_lambda",
    "effective_lr",
    "grad_reverse",
    "identity",
    "insert_norm_before_activations",
    "noise_variance",
    "normalize_per_layer",
    "param_matches",
    "partition",
    "project_to_init_norm",
    "stateless",
]
