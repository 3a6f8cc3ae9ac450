"""layerwise.optim: Muon (fp32/bf16 Newton-Schulz) with AdamW routing, noise-adaptive layerwise Muon;
Shampoo (a factory over the pytorch-optimizer package, extra [shampoo])."""

from layerwise.optim.groups import muon_param_groups, split_hidden_matrices
from layerwise.optim.muon import Muon
from layerwise.optim.newton_schulz import newton_schulz
from layerwise.optim.noise_adaptive import NoiseAdaptiveMuon, noise_adaptive_param_groups
from layerwise.optim.shampoo import shampoo

__all__ = [
    "Muon",
    "NoiseAdaptiveMuon",
    "muon_param_groups",
    "newton_schulz",
    "noise_adaptive_param_groups",
    "shampoo",
    "split_hidden_matrices",
]
