"""layerwise.multiloss: training with several losses: see their conflicts, aggregate, rebalance.

* per-loss gradients: ``per_loss_grads`` (K, P), ``ParamLayout`` (per-layer view),
  ``write_grad``, ``aggregate_backward`` (the whole step, K backward passes);
* diagnostics: ``pairwise_cosine``, ``magnitude_similarity``, ``conflict_rows`` (RunLog rows),
  ``ConflictCounter`` (conflict frequency);
* aggregators, (K, P) -> (P,): ``PCGrad``, ``MGDA``, ``SAMGS``, ``GCond``; ``PerLayer`` applies
  any of them layer by layer; ``GCondTrainer`` does GCond's accumulation;
* loss balancing: ``GradNorm`` (learned weights), ``GradStatAnnealer`` (PINN learning-rate
  annealing); ``GatedMLP`` and ``Helmholtz2D`` from the same PINN paper.
"""

from layerwise.multiloss.annealing import GradStatAnnealer, lambda_hat
from layerwise.multiloss.base import Aggregator, PerLayer
from layerwise.multiloss.conflict import ConflictCounter, conflict_rows, magnitude_similarity, pairwise_cosine
from layerwise.multiloss.gated_mlp import GatedMLP
from layerwise.multiloss.gcond import GCond, effective_angle, resolve_pair
from layerwise.multiloss.gcond_trainer import GCondTrainer
from layerwise.multiloss.gradnorm import GradNorm
from layerwise.multiloss.grads import (
    MultiLossStep,
    ParamLayout,
    aggregate_backward,
    per_loss_grads,
    write_grad,
)
from layerwise.multiloss.helmholtz import Helmholtz2D
from layerwise.multiloss.mgda import MGDA, min_norm_weights
from layerwise.multiloss.pcgrad import PCGrad, pcgrad_weights
from layerwise.multiloss.samgs import SAMGS

__all__ = [
    "MGDA",
    "SAMGS",
    "Aggregator",
    "ConflictCounter",
    "GCond",
    "GCondTrainer",
    "GatedMLP",
    "GradNorm",
    "GradStatAnnealer",
    "Helmholtz2D",
    "MultiLossStep",
    "PCGrad",
    "ParamLayout",
    "PerLayer",
    "aggregate_backward",
    "conflict_rows",
    "effective_angle",
    "lambda_hat",
    "magnitude_similarity",
    "min_norm_weights",
    "pairwise_cosine",
    "pcgrad_weights",
    "per_loss_grads",
    "resolve_pair",
    "write_grad",
]
