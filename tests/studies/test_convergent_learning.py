"""Smoke test of ``convergent-learning`` at a size that runs in seconds, and the matching pipeline
against a known answer: a net and a copy with permuted channels match one-to-one perfectly."""

import json
import math

import numpy as np
import torch

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study
from layerwise.studies.convergent_learning import (
    ConvergentLearningConfig,
    block_activations,
    make_net,
    pair_scores,
)

TINY = dict(epochs="1", channels="4,8,8", image_size="8", max_samples="40", n_nets="3", batch_size="128")


def test_smoke_run_writes_verdict_profile_and_report(tmp_path):
    verdict = run_study("convergent-learning", out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "convergent-learning" and saved["arxiv"] == "1511.07543"
    assert saved["verdict"] == "not-judged" and saved["metric"] == "depth_drop"
    assert list(saved["arms"]) == ["bipartite", "semi"]
    for arm in ("bipartite", "semi"):
        (value,) = saved["arms"][arm]["values"]
        assert math.isfinite(value) and -2.0 <= value <= 2.0
    profile = verdict["details"]["profile"]
    assert list(profile) == ["blocks.0", "blocks.1", "blocks.2"]
    for scores in profile.values():  # semi-matching never loses to one-to-one matching
        assert -1.0 <= scores["bipartite"] <= scores["semi"] + 1e-12 <= 1.0 + 1e-12
        assert 0.0 <= scores["above"] <= 1.0
    table = RunLog.read(tmp_path / "runs" / "semi-s0")
    metrics = set(table.column("metric").to_pylist())
    assert {"grad_norm", "loss", "val_acc", "matched_corr", "semi_bipartite_gap"} <= metrics
    with np.load(tmp_path / "runs" / "bipartite-s0" / "unit_corr.npz") as corr:
        assert corr["blocks.0"].shape == (4, 4) and corr["blocks.2"].shape == (8, 8)
    html = (tmp_path / "report.html").read_text()
    assert "Unit matching across networks" in html


def _permute_first_block(net, perm):
    block, nxt = net.blocks[0], net.blocks[1]
    with torch.no_grad():
        block.conv.weight.copy_(block.conv.weight[perm])
        for t in (block.bn.weight, block.bn.bias, block.bn.running_mean, block.bn.running_var):
            t.copy_(t[perm])
        nxt.conv.weight.copy_(nxt.conv.weight[:, perm])


def test_permuted_copy_matches_one_to_one():
    cfg = ConvergentLearningConfig(channels=(6, 5), image_size=8)
    net = make_net(cfg, 2, seed=0)
    with torch.no_grad():  # non-trivial running statistics, so BatchNorm must be permuted too
        net.blocks[0].bn.running_mean.normal_(0.0, 0.05)
        net.blocks[0].bn.running_var.uniform_(0.5, 2.0)
    twin = make_net(cfg, 2, seed=0)
    twin.load_state_dict(net.state_dict())
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    _permute_first_block(twin, perm)
    x = torch.rand(32, 1, 8, 8)
    scores, corr = pair_scores(block_activations(net, x), block_activations(twin, x), threshold=0.9)
    assert scores["blocks.0"]["bipartite"] > 1 - 1e-9 and scores["blocks.1"]["bipartite"] > 1 - 1e-9
    assert np.argmax(corr["blocks.0"], axis=1).tolist() == torch.argsort(perm).tolist()
    other = make_net(cfg, 2, seed=1)
    unrelated, _ = pair_scores(block_activations(net, x), block_activations(other, x), threshold=0.9)
    assert unrelated["blocks.1"]["bipartite"] < 0.99


def test_arms_and_sizes():
    recipe = get_recipe("convergent-learning")
    assert recipe.baseline == "bipartite" and recipe.treatment_arm == "semi" and recipe.better == "lower"
    assert recipe.make_config("full") == ConvergentLearningConfig()
    assert recipe.make_config("full").channels == (16, 32, 64) and recipe.make_config("full").n_nets == 4
