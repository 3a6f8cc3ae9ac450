"""layerwise.models: reference models with knobs (MLP, CNN, GPT, ViT).

Every model keeps its repeated units in one ``nn.ModuleList`` named ``blocks`` whose members take
and return one Tensor, returns logits from ``forward``, and keeps no activations after a call.
"""

from layerwise.models.attention import SelfAttention, capture_attention
from layerwise.models.cnn import CNN
from layerwise.models.concept_jepa import ConceptJEPA, concept_info_nce
from layerwise.models.gpt import GPT
from layerwise.models.mlp import MLP
from layerwise.models.single_layer import SingleLayerTransformer
from layerwise.models.transformer_block import PLACEMENTS, FeedForward, TransformerBlock
from layerwise.models.vit import ViT

__all__ = [
    "CNN",
    "ConceptJEPA",
    "GPT",
    "MLP",
    "PLACEMENTS",
    "FeedForward",
    "SelfAttention",
    "SingleLayerTransformer",
    "TransformerBlock",
    "ViT",
    "capture_attention",
    "concept_info_nce",
]
