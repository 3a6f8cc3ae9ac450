"""layerwise.nn: modules and model edits (norms, LayerNorm Scaling, reversible blocks, ...)."""

from layerwise.nn.activations import ACTIVATIONS, make_activation
from layerwise.nn.depth_scaled_norm import DepthScaledNorm
from layerwise.nn.mbconv3d import MBConv3d, mbconv3d_stack
from layerwise.nn.memory import saved_tensor_bytes
from layerwise.nn.norms import NORMS, make_norm
from layerwise.nn.revcol import ClampedScale, RevColumns
from layerwise.nn.reversible import (
    CouplingStep,
    RevCoupling,
    ReversibleSequence,
    apply_steps,
    invert_steps,
    reversible_apply,
)
from layerwise.nn.rmsnorm import RMSNorm
from layerwise.nn.tract import TrAct

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "ClampedScale",
    "CouplingStep",
    "DepthScaledNorm",
    "MBConv3d",
    "RMSNorm",
    "RevColumns",
    "RevCoupling",
    "TrAct",
    "ReversibleSequence",
    "apply_steps",
    "invert_steps",
    "make_activation",
    "make_norm",
    "mbconv3d_stack",
    "reversible_apply",
    "saved_tensor_bytes",
]
