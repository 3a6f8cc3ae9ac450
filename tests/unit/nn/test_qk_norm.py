"""add_qk_norm: per-head LayerNorm on queries and keys bounds every attention logit."""

from __future__ import annotations

import math

import pytest
import torch

from layerwise.analysis import TransformerProbe
from layerwise.models import GPT, MLP
from layerwise.nn import add_qk_norm


def big_gpt() -> GPT:
    torch.manual_seed(0)
    model = GPT(n_layer=2, d_model=32, n_head=4, seq_len=8, vocab_size=20)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight.mul_(200.0)  # logits in the hundreds
    return model


def logit_max(model: GPT, x: torch.Tensor) -> float:
    return max(v for _, m, v in TransformerProbe(model, x).rows() if m == "attn_logit_max")


def test_qk_norm_bounds_the_logits_by_sqrt_d_head():
    model, x = big_gpt(), torch.randint(0, 20, (4, 8))
    assert logit_max(model, x) > 100
    assert add_qk_norm(model) == ["blocks.0.attn", "blocks.1.attn"]
    assert logit_max(model, x) <= math.sqrt(32 // 4) * (1 + 1e-5)  # |q.k| <= |q| |k| = d_head


def test_fused_and_explicit_paths_agree_after_the_edit():
    model, x = big_gpt(), torch.randint(0, 20, (2, 8))
    add_qk_norm(model)
    fused = model(x)
    explicit, _ = model(x, return_attn=True)
    assert torch.allclose(fused, explicit, atol=1e-5)


def test_new_parameters_and_idempotence():
    model = big_gpt()
    before = sum(p.numel() for p in model.parameters())
    add_qk_norm(model)
    # 2 blocks x (q, k) x (gain, bias) x d_head 8
    assert sum(p.numel() for p in model.parameters()) == before + 2 * 2 * 2 * 8
    assert add_qk_norm(model) == []  # already normed: nothing to do
    with pytest.raises(LookupError, match="no layerwise SelfAttention"):
        add_qk_norm(MLP(in_dim=4, out_dim=2))
