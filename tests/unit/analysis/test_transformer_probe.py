"""TransformerProbe against values computed by hand on fixed models."""

from __future__ import annotations

import math

import pytest
import torch

from layerwise.analysis import TransformerProbe, attention_blocks
from layerwise.models import GPT, MLP, ViT
from layerwise.monitor.runlog import RunLog


def gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20)


def table(rows) -> dict[tuple[str, str], float]:
    return {(layer, metric): value for layer, metric, value in rows}


def test_zero_queries_give_uniform_causal_attention():
    model = gpt()
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight[:16].zero_()  # q = bias = 0: every logit is 0
            block.attn.qkv.bias.zero_()
    got = table(TransformerProbe(model, torch.randint(0, 20, (3, 8))).rows())
    uniform = sum(math.log(t) for t in range(1, 9)) / 8  # query t sees t keys
    for i in range(2):
        assert got[(f"blocks.{i}", "attn_entropy")] == pytest.approx(uniform, rel=1e-6)  # float32 softmax
        assert got[(f"blocks.{i}", "attn_logit_max")] == 0.0


def test_logit_max_and_block_metrics_match_a_direct_computation():
    model = gpt(1)
    x = torch.randint(0, 20, (3, 8))
    got = table(TransformerProbe(model, x).rows())
    with torch.no_grad():  # by hand: embed, then block 0's attention logits and output
        h = model.tok_emb(x) + model.pos_emb(torch.arange(8))
        block = model.blocks[0]
        q, k, _ = block.attn._heads(block.ln1(h))
        z = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        visible = torch.ones(8, 8, dtype=torch.bool).tril()
        y = block(h)
    assert got[("blocks.0", "attn_logit_max")] == pytest.approx(float(z.abs()[..., visible].max()), rel=1e-5)
    spread = ((y - y.mean(1, keepdim=True)).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean()
    contrib = ((y - h).norm(dim=-1) / h.norm(dim=-1)).mean()
    assert got[("blocks.0", "token_spread")] == pytest.approx(float(spread), rel=1e-5)
    assert got[("blocks.0", "block_contrib")] == pytest.approx(float(contrib), rel=1e-5)


def test_identical_tokens_have_no_spread():
    model = gpt()
    got = table(TransformerProbe(model, torch.full((2, 8), 3)).rows())
    with torch.no_grad():  # position embeddings are what tells equal tokens apart: remove them
        model.pos_emb.weight.zero_()
    flat = table(TransformerProbe(model, torch.full((2, 8), 3)).rows())
    assert flat[("blocks.1", "token_spread")] < 1e-6 < got[("blocks.1", "token_spread")]


def test_the_probe_leaves_the_model_as_it_found_it_and_logs_on_its_cadence(tmp_path):
    model = gpt()
    model.train()
    probe = TransformerProbe(model, torch.randint(0, 20, (2, 8)), every=5)
    log = RunLog(tmp_path / "run")
    assert [probe.log(s, log) for s in range(11)].count(True) == 3  # steps 0, 5, 10
    log.close()
    assert model.training and not any(b.attn.explicit for b in model.blocks)
    rows = RunLog.read(tmp_path / "run").to_pydict()
    assert sorted(set(rows["step"])) == [0, 5, 10] and len(rows["step"]) == 3 * 2 * 4


def test_vit_blocks_are_found_and_models_without_attention_are_refused():
    vit = ViT(n_layer=2, d_model=16, n_head=2)
    assert [name for name, _, _ in attention_blocks(vit)] == ["blocks.0", "blocks.1"]
    assert len(TransformerProbe(vit, torch.rand(2, 1, 8, 8)).rows()) == 8
    with pytest.raises(ValueError, match="no stack of blocks with a layerwise SelfAttention"):
        TransformerProbe(MLP(in_dim=4, out_dim=2), torch.rand(2, 4))
    with pytest.raises(ValueError, match="every must be a positive"):
        TransformerProbe(vit, torch.rand(2, 1, 8, 8), every=0)


def test_a_diverged_model_gives_nan_rows_not_a_crash():
    model = gpt()
    with torch.no_grad():
        model.blocks[0].attn.qkv.weight.fill_(float("nan"))
    got = table(TransformerProbe(model, torch.randint(0, 20, (2, 8))).rows())
    assert math.isnan(got[("blocks.0", "attn_logit_max")]) and math.isnan(got[("blocks.1", "attn_entropy")])
