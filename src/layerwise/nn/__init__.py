"""layerwise.nn: modules and model edits (norms, LayerNorm Scaling, reversible blocks, ...)."""

from layerwise.nn.activation_edits import replace_activations
from layerwise.nn.activations import ACTIVATIONS, make_activation
from layerwise.nn.dcdm import DCDMNet, dcdm_loss, dcdm_solve, fit_dcdm
from layerwise.nn.depth_scaled_norm import DepthScaledNorm
from layerwise.nn.heads import ProjectionHead, ReweightHead, pre_post_probe
from layerwise.nn.late_fusion import LateFusion
from layerwise.nn.lora import LoRALinear, inject_lora, lora_band, lora_parameters, merge_lora
from layerwise.nn.lpn import LearnedProximalNetwork
from layerwise.nn.mbconv3d import MBConv3d, mbconv3d_stack
from layerwise.nn.memory import saved_tensor_bytes
from layerwise.nn.norm_edits import OutputNorm, apply_layernorm_scaling, apply_norm_placement
from layerwise.nn.norms import NORMS, make_norm
from layerwise.nn.parallel import ParallelResidual, SequentialResidual, higher_order_ratio, parallelize
from layerwise.nn.proximal_matching import ProximalMatchingLoss, proximal_matching_loss
from layerwise.nn.qk_norm import add_qk_norm
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
from layerwise.nn.sparse_memory import SparseMemoryLayer
from layerwise.nn.tract import TrAct

__all__ = [
    "add_qk_norm",
    "LateFusion",
    "LearnedProximalNetwork",
    "ProximalMatchingLoss",
    "proximal_matching_loss",
    "LoRALinear",
    "OutputNorm",
    "ParallelResidual",
    "ProjectionHead",
    "ReweightHead",
    "SequentialResidual",
    "apply_layernorm_scaling",
    "apply_norm_placement",
    "higher_order_ratio",
    "inject_lora",
    "lora_band",
    "lora_parameters",
    "merge_lora",
    "parallelize",
    "pre_post_probe",
    "replace_activations",
    "ACTIVATIONS",
    "NORMS",
    "ClampedScale",
    "CouplingStep",
    "DCDMNet",
    "DepthScaledNorm",
    "MBConv3d",
    "RMSNorm",
    "SparseMemoryLayer",
    "RevColumns",
    "RevCoupling",
    "TrAct",
    "ReversibleSequence",
    "apply_steps",
    "dcdm_loss",
    "dcdm_solve",
    "fit_dcdm",
    "invert_steps",
    "make_activation",
    "make_norm",
    "mbconv3d_stack",
    "reversible_apply",
    "saved_tensor_bytes",
]
