"""Default layer selection (the repeated blocks) and segment-wise globs."""

import pytest
from torch import nn

from layerwise import select_layers
from layerwise.layers import block_names, glob_to_regex


class WithHeads(nn.Module):
    """A top-level list of output heads must not win over the deeper encoder stack."""

    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(8, 2) for _ in range(3)])
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            [nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(4)])


def test_blocks_prefer_composite_stacks_over_head_lists():
    assert block_names(WithHeads()) == [f"encoder.layers.{i}" for i in range(4)]


def test_a_plain_sequential_model_gives_its_children():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    assert block_names(model) == ["0", "1", "2"]


def test_single_segment_star_and_double_star():
    model = WithHeads()
    assert select_layers(model, "encoder.layers.*") == [f"encoder.layers.{i}" for i in range(4)]
    assert select_layers(model, "encoder.**.0") == [
        "encoder.layers.0", *[f"encoder.layers.{i}.0" for i in range(4)]]
    assert glob_to_regex("a.*.b").match("a.x.b") and not glob_to_regex("a.*.b").match("a.x.y.b")
    assert glob_to_regex("a.?").match("a.1") and not glob_to_regex("a.?").match("a.12")


transformers = pytest.importorskip("transformers")


def test_default_selection_on_bert_llama_and_t5_from_configs():
    bert = transformers.BertModel(transformers.BertConfig(
        hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, vocab_size=50))
    assert select_layers(bert) == [f"encoder.layer.{i}" for i in range(3)]
    llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=2,
        intermediate_size=32, vocab_size=50))
    assert select_layers(llama) == [f"model.layers.{i}" for i in range(4)]
    assert len(select_layers(llama, "model.layers.*")) == 4  # not every module inside them
    t5 = transformers.T5ForConditionalGeneration(transformers.T5Config(
        d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=3, num_heads=2, vocab_size=50))
    assert select_layers(t5) == ["encoder.block.0", "encoder.block.1",
                                 "decoder.block.0", "decoder.block.1", "decoder.block.2"]
