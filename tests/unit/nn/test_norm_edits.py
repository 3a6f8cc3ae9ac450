"""Norm edits: exactness where the edit is the identity, Peri-LN output norms, LNS at layer 1."""

import math

import pytest
import torch
from torch import nn

from layerwise.models import GPT
from layerwise.nn import DepthScaledNorm
from layerwise.nn.norm_edits import OutputNorm, apply_layernorm_scaling, apply_norm_placement

KW = dict(n_layer=3, d_model=16, n_head=2, seq_len=8, vocab_size=23)


def _ids():
    return torch.randint(0, 23, (2, 8), generator=torch.Generator().manual_seed(1))


def _twin(model, **kw):
    """A fresh GPT built natively with ``kw``, loaded with ``model``'s weights."""
    twin = GPT(**KW, **kw)
    missing, unexpected = twin.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected
    return twin


def test_pre_on_pre_ln_is_the_identity():
    gpt = GPT(**KW)
    before = gpt(_ids())
    assert apply_norm_placement(gpt, "pre") == []
    assert torch.equal(gpt(_ids()), before)


@pytest.mark.parametrize("placement", ["post", "peri"])
def test_edited_gpt_equals_the_native_placement(placement):
    gpt = GPT(**KW)
    before = gpt(_ids())
    apply_norm_placement(gpt, placement)
    native = _twin(gpt, placement=placement)
    assert set(gpt.state_dict()) == set(native.state_dict())
    torch.testing.assert_close(gpt(_ids()), native(_ids()), rtol=0, atol=0)
    assert not torch.allclose(gpt(_ids()), before)  # the edit did change the function


def test_peri_adds_one_output_norm_per_sublayer_and_back_to_pre_removes_them():
    gpt = GPT(**KW)
    added = apply_norm_placement(gpt, "peri")
    assert added == [f"blocks.{i}.ln{j}_out" for i in range(3) for j in (1, 2)]
    assert apply_norm_placement(gpt, "peri") == []  # idempotent
    apply_norm_placement(gpt, "pre")
    assert not any("_out" in n for n, _ in gpt.named_modules())


def test_layernorm_scaling_matches_native_and_layer_one_is_identity():
    gpt = GPT(**KW)
    x = torch.randn(2, 5, 16)
    ln1 = gpt.blocks[0].ln1
    ref = ln1(x)
    wrapped = apply_layernorm_scaling(gpt)
    assert wrapped == [f"blocks.{i}.ln{j}" for i in range(3) for j in (1, 2)]
    assert torch.equal(gpt.blocks[0].ln1(x), ref)  # 1/sqrt(1) = 1 exactly
    assert gpt.blocks[2].ln2.scale == pytest.approx(1 / math.sqrt(3))
    native = _twin(gpt, layernorm_scaling=True)
    torch.testing.assert_close(gpt(_ids()), native(_ids()), rtol=0, atol=0)
    assert apply_layernorm_scaling(gpt) == []  # never wraps twice


def test_unknown_layout_and_placement_are_refused():
    with pytest.raises(LookupError):
        apply_layernorm_scaling(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError):
        apply_norm_placement(GPT(**KW), "sandwich")


def _llama():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=50)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_llama_pre_is_identity_and_lns_layer_one_is_identity():
    model = _llama()
    ids = torch.randint(0, 50, (2, 7))
    before = model(ids).logits
    assert apply_norm_placement(model, "pre") == []
    names = apply_layernorm_scaling(model)
    assert names[0] == "model.layers.0.input_layernorm" and len(names) == 4
    assert isinstance(model.model.layers[1].post_attention_layernorm, DepthScaledNorm)
    model.model.layers[1].input_layernorm.scale = 1.0
    model.model.layers[1].post_attention_layernorm.scale = 1.0
    torch.testing.assert_close(model(ids).logits, before, rtol=0, atol=0)
    with pytest.raises(NotImplementedError):
        apply_norm_placement(model, "post")


def test_llama_peri_wraps_each_sublayer_with_a_unit_rms_output_norm():
    model = _llama()
    added = apply_norm_placement(model, "peri")
    assert added == [f"model.layers.{i}.{s}.norm" for i in range(2) for s in ("self_attn", "mlp")]
    layer = model.model.layers[0]
    assert isinstance(layer.self_attn, OutputNorm) and isinstance(layer.mlp, OutputNorm)
    h = torch.randn(2, 7, 32) * 5
    raw = layer.mlp.sublayer(h)
    eps = layer.mlp.norm.variance_epsilon
    ref = raw * torch.rsqrt(raw.pow(2).mean(-1, keepdim=True) + eps)  # naive RMSNorm, unit gain
    torch.testing.assert_close(layer.mlp(h), ref, rtol=1e-5, atol=1e-5)
    assert torch.allclose(ref.pow(2).mean(-1), torch.ones(2, 7), atol=0.05)
    assert torch.isfinite(model(torch.randint(0, 50, (2, 7))).logits).all()


def test_bert_post_is_identity_and_lns_wraps_both_norms():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, vocab_size=50)
    model = transformers.BertModel(cfg).eval()
    ids = torch.randint(0, 50, (2, 7))
    before = model(ids).last_hidden_state
    assert apply_norm_placement(model, "post") == []
    paths = ("attention.output.LayerNorm", "output.LayerNorm")
    assert apply_layernorm_scaling(model) == [f"encoder.layer.{i}.{p}" for i in range(2) for p in paths]
    after = model(ids).last_hidden_state
    assert not torch.allclose(after, before)  # layer 2's norms are scaled by 1/sqrt(2)
    model.encoder.layer[1].output.LayerNorm.scale = 1.0
    model.encoder.layer[1].attention.output.LayerNorm.scale = 1.0
    torch.testing.assert_close(model(ids).last_hidden_state, before, rtol=0, atol=0)
