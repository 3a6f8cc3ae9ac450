"""Representation analyses computed on stored activations (not per-step Monitor metrics).

Similarity (CKA, Delta-CKA, Convergent Learning unit matching, cross-model linear maps),
spectra (effective rank, SPINAL contraction and transport) and linear probes. Every function
takes torch tensors or numpy arrays, works in float64 on the CPU and returns floats or numpy
arrays; degenerate inputs give NaN with a :class:`DegenerateActivationWarning`, never a crash.
"""

from layerwise.analysis._arrays import DegenerateActivationWarning
from layerwise.analysis.attacks import fgsm, pgd, pgd_training_step
from layerwise.analysis.capacity import CapacityCurve, capacity_curve, equivariant_floor, fit_single_layer
from layerwise.analysis.cka import MinibatchCKA, cka_matrix, linear_cka, minibatch_cka, streamed_cka
from layerwise.analysis.concept_consistency import (
    Consistency,
    concept_consistency,
    reciprocal_ranks,
    role_representations,
)
from layerwise.analysis.cross_model import linear_map_r2
from layerwise.analysis.delta_cka import delta_cka
from layerwise.analysis.krylov import SolveResult, conjugate_gradient, jacobi_pcg
from layerwise.analysis.level_set import (
    LevelSetResult,
    level_set_traversal,
    path_confidence,
    triangle_confidence,
)
from layerwise.analysis.matching import (
    SparsePoint,
    UnitMatching,
    cluster_units,
    match_units,
    matched_correlation,
    sparse_prediction,
    unit_correlation,
)
from layerwise.analysis.opposing_signals import OpposingSignals, SignalStep, sign_groups
from layerwise.analysis.probes import probe_accuracy
from layerwise.analysis.sharpness import HessianEigen, top_hessian_eigenvalue
from layerwise.analysis.solution_profile import SolutionProfile, cross_class_cosine, solution_profile
from layerwise.analysis.spectra import (
    Transport,
    contraction_score,
    effective_rank,
    fisher_rao_distance,
    transport_score,
)
from layerwise.analysis.ssim import ssim
from layerwise.analysis.transformer_probe import TransformerProbe, attention_blocks

__all__ = [
    "LevelSetResult",
    "fgsm",
    "level_set_traversal",
    "path_confidence",
    "pgd",
    "pgd_training_step",
    "ssim",
    "triangle_confidence",
    "CapacityCurve",
    "Consistency",
    "DegenerateActivationWarning",
    "HessianEigen",
    "MinibatchCKA",
    "OpposingSignals",
    "TransformerProbe",
    "attention_blocks",
    "SignalStep",
    "SolutionProfile",
    "SolveResult",
    "SparsePoint",
    "Transport",
    "UnitMatching",
    "capacity_curve",
    "cka_matrix",
    "cluster_units",
    "concept_consistency",
    "conjugate_gradient",
    "contraction_score",
    "cross_class_cosine",
    "delta_cka",
    "effective_rank",
    "equivariant_floor",
    "fisher_rao_distance",
    "fit_single_layer",
    "jacobi_pcg",
    "linear_cka",
    "linear_map_r2",
    "match_units",
    "matched_correlation",
    "minibatch_cka",
    "probe_accuracy",
    "reciprocal_ranks",
    "role_representations",
    "sign_groups",
    "solution_profile",
    "sparse_prediction",
    "streamed_cka",
    "top_hessian_eigenvalue",
    "transport_score",
    "unit_correlation",
]
