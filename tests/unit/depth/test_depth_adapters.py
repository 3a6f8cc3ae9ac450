"""Adapters find blocks and branches in our GPT, a residual stack, and tiny HF Llama/BERT models."""

import pytest
import torch
from torch import nn

from layerwise.depth.adapters import Adapter, UnsupportedModelError, adapt
from layerwise.models import GPT


class Res(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.f = nn.Linear(d, d)

    def forward(self, x):
        return x + torch.tanh(self.f(x))


class Stack(nn.Module):
    def __init__(self, d=8, n=3):
        super().__init__()
        self.layers = nn.ModuleList(Res(d) for _ in range(n))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 5)

    def forward(self, x):
        for b in self.layers:
            x = b(x)
        return self.head(self.norm(x))


def test_gpt_adapter_names_every_part():
    model = GPT(n_layer=3, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    ad = adapt(model)
    assert ad.kind == "gpt" and ad.names == ["blocks.0", "blocks.1", "blocks.2"]
    assert ad.attn[1] is model.blocks[1].attn and ad.mlp[2] is model.blocks[2].mlp
    assert ad.final_norm is model.ln_f and ad.unembed is model.lm_head and ad.causal


def test_residual_stack_and_explicit_adapter():
    model = Stack()
    ad = adapt(model)
    assert ad.kind == "residual" and ad.names == ["layers.0", "layers.1", "layers.2"]
    assert ad.final_norm is model.norm and ad.unembed is model.head and ad.attn == [None] * 3
    assert adapt(ad) is ad


def test_unsupported_model_lists_what_was_found():
    model = nn.Module()
    model.a = nn.ModuleList([nn.Linear(2, 2)])
    model.b = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    with pytest.raises(UnsupportedModelError, match=r"a \(1 x Linear\).*b \(2 x Linear\).*Adapter\(blocks="):
        adapt(model)
    with pytest.raises(ValueError, match="attn has 1 entries for 2 blocks"):
        Adapter(blocks=list(model.b), attn=[None])


def test_hf_llama_and_bert_tiny_configs():
    transformers = pytest.importorskip("transformers")
    llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, attn_implementation="eager"))
    ad = adapt(llama)
    assert ad.kind == "llama" and ad.names == ["model.layers.0", "model.layers.1"]
    assert ad.attn[0] is llama.model.layers[0].self_attn and ad.final_norm is llama.model.norm
    assert ad.unembed is llama.lm_head
    bert = transformers.BertModel(transformers.BertConfig(
        vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2))
    ad = adapt(bert)
    assert ad.kind == "bert" and ad.post_norm and not ad.causal and ad.unembed is None
    layer = bert.encoder.layer
    assert ad.mlp[1] is layer[1].output.dense and ad.mlp_in[0] is layer[0].intermediate
