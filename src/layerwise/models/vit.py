"""ViT: a small Vision Transformer built from the same block as :class:`GPT`, non-causal.

An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (Dosovitskiy et al.,
2020, arXiv 2010.11929). Patches are embedded by a strided convolution ``patch_emb``, a learned
class token ``cls_token`` is prepended, learned positions ``pos_emb`` are added, and the head
reads the class token after the final norm ``ln_f``. ``placement`` and ``layernorm_scaling``
behave as in :class:`GPT` (Pre-, Post- or Peri-LN, arXiv 2502.02732; LNS, arXiv 2502.05795).

Example::

    >>> import torch
    >>> from layerwise.models import ViT
    >>> ViT()(torch.randn(4, 1, 8, 8)).shape
    torch.Size([4, 10])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.models.attention import capture_attention
from layerwise.models.transformer_block import (
    block_stack,
    check_placement,
    final_norm,
    init_transformer_,
)


@register(
    "vit",
    kind="model",
    paper="An Image is Worth 16x16 Words (Dosovitskiy et al., 2020)",
    arxiv="2010.11929",
)
class ViT(nn.Module):
    """Vision Transformer classifier returning logits (N, num_classes)."""

    def __init__(
        self,
        *,
        image_size: int = 8,
        patch_size: int = 2,
        in_channels: int = 1,
        num_classes: int = 10,
        n_layer: int = 4,
        d_model: int = 64,
        n_head: int = 4,
        mlp_ratio: int = 4,
        norm: str = "layer",
        placement: str = "pre",
        layernorm_scaling: bool = False,
        dropout: float = 0.0,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        check_placement(placement)
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not a multiple of patch={patch_size}")
        self.image_size = image_size
        self.in_channels = in_channels
        n_tokens = (image_size // patch_size) ** 2 + 1
        self.patch_emb = nn.Conv2d(in_channels, d_model, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos_emb = nn.Parameter(torch.zeros(1, n_tokens, d_model))
        self.drop = nn.Dropout(dropout)
        self.blocks = block_stack(n_layer, d_model, n_head, causal=False, mlp_ratio=mlp_ratio, norm=norm,
                                  placement=placement, dropout=dropout, layernorm_scaling=layernorm_scaling)
        self.ln_f = final_norm(norm, placement, d_model)
        self.head = nn.Linear(d_model, num_classes)
        init_transformer_(self, std=init_std)
        nn.init.normal_(self.cls_token, std=init_std)
        nn.init.normal_(self.pos_emb, std=init_std)

    def _check(self, x: Tensor) -> Tensor:
        if x.dim() == 3 and self.in_channels == 1:
            x = x.unsqueeze(1)
        want = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"ViT expects images of shape (N, {', '.join(map(str, want))}), got {tuple(x.shape)}"
            )
        return x

    def _logits(self, x: Tensor) -> Tensor:
        x = self.patch_emb(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.drop(x + self.pos_emb)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x)[:, 0])

    def forward(self, x: Tensor, return_attn: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits for images ``x`` (N, C, H, W); with ``return_attn`` also each block's
        attention probabilities (N, n_head, T, T), T = patches + 1."""
        x = self._check(x)
        if not return_attn:
            return self._logits(x)
        with capture_attention(block.attn for block in self.blocks) as probs:
            logits = self._logits(x)
        return logits, list(probs)
