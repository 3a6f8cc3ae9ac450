"""Depth diagnostics on a model and a batch, without training: which layers do anything, and why not.

Adapters find the blocks of our GPT, Hugging Face Llama and BERT models and plain residual stacks;
``depth_usage`` (relative contribution, cosine to the residual, angular distance), ``logit_lens``,
``skip_matrix``/``removal_delta_loss``, attention entropy, activation-gradient decay and
``inflection_layers``; report sections and ``analyze`` (``layerwise analyze``).
"""

from layerwise.depth.adapters import Adapter, UnsupportedModelError, adapt
from layerwise.depth.attention import (
    Inflection,
    activation_grad_norms,
    attention_entropy,
    attention_probs,
    inflection_layers,
)
from layerwise.depth.logit_lens import LogitLens, logit_lens
from layerwise.depth.sections import depth_profile_section, logit_lens_section, skip_section
from layerwise.depth.skip import SkipEffects, removal_delta_loss, skip_matrix
from layerwise.depth.usage import DepthUsage, depth_usage

__all__ = [
    "Adapter",
    "DepthUsage",
    "Inflection",
    "LogitLens",
    "SkipEffects",
    "UnsupportedModelError",
    "activation_grad_norms",
    "adapt",
    "attention_entropy",
    "attention_probs",
    "depth_profile_section",
    "depth_usage",
    "inflection_layers",
    "logit_lens",
    "logit_lens_section",
    "removal_delta_loss",
    "skip_matrix",
    "skip_section",
]
