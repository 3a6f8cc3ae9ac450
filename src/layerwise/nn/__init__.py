"""layerwise.nn: modules and model edits (norms, LayerNorm Scaling, ...)."""

from layerwise.nn.activations import ACTIVATIONS, make_activation
from layerwise.nn.depth_scaled_norm import DepthScaledNorm
from layerwise.nn.norms import NORMS, make_norm
from layerwise.nn.rmsnorm import RMSNorm

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "DepthScaledNorm",
    "RMSNorm",
    "make_activation",
    "make_norm",
]
