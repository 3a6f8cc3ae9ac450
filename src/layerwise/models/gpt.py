"""GPT: a decoder-only transformer with a choice of norm, norm placement and LayerNorm Scaling.

Norm placement:

* ``"pre"``: ``x + F(LN(x))`` (GPT-2, Language Models are Unsupervised Multitask Learners,
  Radford et al., 2019).
* ``"post"``: ``LN(x + F(x))`` (Attention Is All You Need, Vaswani et al., 2017, arXiv
  1706.03762); ``ln_f`` is then ``nn.Identity``.
* ``"peri"``: ``x + LN_out(F(LN_in(x)))`` (Peri-LN: Revisiting Layer Normalization in the
  Transformer Architecture, Kim et al., 2025, arXiv 2502.02732).

``layernorm_scaling=True`` multiplies the output of each norm inside block ``l`` (1-indexed) by
``1/sqrt(l)`` (The Curse of Depth in Large Language Models, Sun et al., 2025, arXiv 2502.05795);
``blocks.N.ln1`` is then a :class:`~layerwise.nn.DepthScaledNorm`.

``embed_norm=True`` normalises the embedding output (token + position) by a parameter-free
RMSNorm, ``emb_norm``, before the first block, as stacks that normalise every sublayer output do
(Gemma-style models scale the embeddings instead): with Peri-LN the blocks add unit-RMS outputs
to the residual stream, which would swamp embeddings initialised at ``init_std``.

Module names: ``tok_emb``, ``pos_emb``, ``emb_norm`` (only with ``embed_norm``),
``blocks.N.{ln1, attn, ln1_out, ln2, mlp, ln2_out}``, ``ln_f``, ``lm_head``. Every Linear except
``lm_head`` has a bias. Weights start at normal(0, init_std), biases at zero and norm gains at
one (no scaled init: it cancels LNS).

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> model = GPT(n_layer=2, d_model=32, n_head=2, seq_len=16, vocab_size=50)
    >>> idx = torch.randint(0, 50, (3, 16))
    >>> model(idx).shape
    torch.Size([3, 16, 50])
    >>> logits, probs = model(idx, return_attn=True)
    >>> len(probs), tuple(probs[0].shape)
    (2, (3, 2, 16, 16))
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
from layerwise.nn.rmsnorm import RMSNorm


@register("gpt", kind="model", paper="-")
class GPT(nn.Module):
    """Decoder-only transformer language model returning next-token logits (B, T, vocab)."""

    def __init__(
        self,
        *,
        n_layer: int = 12,
        d_model: int = 128,
        n_head: int = 4,
        seq_len: int = 128,
        vocab_size: int = 256,
        norm: str = "layer",
        placement: str = "pre",
        layernorm_scaling: bool = False,
        tie_weights: bool = True,
        dropout: float = 0.0,
        mlp_ratio: int = 4,
        init_std: float = 0.02,
        embed_norm: bool = False,
    ) -> None:
        super().__init__()
        check_placement(placement)
        self.seq_len = seq_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(seq_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.emb_norm = RMSNorm(d_model, elementwise_affine=False) if embed_norm else None
        self.blocks = block_stack(n_layer, d_model, n_head, causal=True, mlp_ratio=mlp_ratio, norm=norm,
                                  placement=placement, dropout=dropout, layernorm_scaling=layernorm_scaling)
        self.ln_f = final_norm(norm, placement, d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        init_transformer_(self, std=init_std)
        if tie_weights:
            self.lm_head.weight = self.tok_emb.weight

    def _check(self, idx: Tensor) -> Tensor:
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise ValueError(f"GPT expects integer token ids, got dtype {idx.dtype}")
        if idx.dim() != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got {tuple(idx.shape)}")
        if idx.shape[1] > self.seq_len:
            raise ValueError(f"sequence length {idx.shape[1]} exceeds seq_len={self.seq_len}")
        return idx if idx.dtype in (torch.int32, torch.int64) else idx.long()

    def _logits(self, idx: Tensor) -> Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
        x = self.drop(self.emb_norm(x) if self.emb_norm is not None else x)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def forward(self, idx: Tensor, return_attn: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits for token ids ``idx`` (B, T); with ``return_attn`` also each block's
        attention probabilities (B, n_head, T, T), computed explicitly instead of by SDPA."""
        idx = self._check(idx)
        if not return_attn:
            return self._logits(idx)
        with capture_attention(block.attn for block in self.blocks) as probs:
            logits = self._logits(idx)
        return logits, list(probs)
