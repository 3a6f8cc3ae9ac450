"""convergent-learning at its tiny size (one arm: the statistics of the same nets), and the
matching pipeline against a known answer: a net and a copy with permuted channels match
one-to-one perfectly."""

import numpy as np
import torch

from layerwise import RunLog
from layerwise.models import CNN
from layerwise.studies import get_study, run_study
from layerwise.studies.convergent_learning import (
    ConvergentLearningConfig,
    block_activations,
    pair_scores,
)


def test_tiny_run_profiles_heatmaps_and_report(tmp_path):
    verdict = run_study("convergent-learning", size="tiny", out=tmp_path, progress=False)
    d = {k: v["cnn-pairs"] for k, v in verdict.details.items()}
    assert len(d["bipartite"]) == len(d["semi"]) == len(d["null_bipartite"]) == 3
    for bip, semi, gap in zip(d["bipartite"], d["semi"], d["gap"], strict=True):
        assert -1.0 <= bip <= semi + 1e-12 <= 1.0 + 1e-12  # semi-matching never loses to one-to-one
        assert np.isclose(gap, semi - bip)
    assert np.isclose(d["bipartite_last_minus_first"], d["bipartite"][-1] - d["bipartite"][0])
    assert np.isclose(d["gap_growth"], d["gap"][-1] - d["gap"][0])
    table = RunLog.read(tmp_path / "runs" / "cnn-pairs-s0")
    metrics = set(table.column("metric").to_pylist())
    assert {"grad_norm", "loss", "val_acc", "match_bipartite", "match_null_bipartite"} <= metrics
    with np.load(tmp_path / "runs" / "cnn-pairs-s0" / "unit_corr.npz") as corr:
        assert corr["blocks.0"].shape == (4, 4) and corr["blocks.2"].shape == (4, 4)
    html = (tmp_path / "report.html").read_text()
    assert "Unit matching across networks" in html and "untrained bipartite" in html


def _permute_first_block(net, perm):
    block, nxt = net.blocks[0], net.blocks[1]
    with torch.no_grad():
        block.conv.weight.copy_(block.conv.weight[perm])
        for t in (block.bn.weight, block.bn.bias, block.bn.running_mean, block.bn.running_var):
            t.copy_(t[perm])
        nxt.conv.weight.copy_(nxt.conv.weight[:, perm])


def test_permuted_copy_matches_one_to_one():
    torch.manual_seed(0)
    net = CNN(channels=(6, 5), image_size=8)
    with torch.no_grad():  # non-trivial running statistics, so BatchNorm must be permuted too
        net.blocks[0].bn.running_mean.normal_(0.0, 0.05)
        net.blocks[0].bn.running_var.uniform_(0.5, 2.0)
    twin = CNN(channels=(6, 5), image_size=8)
    twin.load_state_dict(net.state_dict())
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    _permute_first_block(twin, perm)
    x = torch.rand(32, 1, 8, 8)
    scores, corr = pair_scores(block_activations(net, x), block_activations(twin, x), threshold=0.9)
    assert scores["blocks.0"]["bipartite"] > 1 - 1e-9 and scores["blocks.1"]["bipartite"] > 1 - 1e-9
    assert np.argmax(corr["blocks.0"], axis=1).tolist() == torch.argsort(perm).tolist()
    other = CNN(channels=(6, 5), image_size=8)
    unrelated, _ = pair_scores(block_activations(net, x), block_activations(other, x), threshold=0.9)
    assert unrelated["blocks.1"]["bipartite"] < 0.99


def test_one_arm_equal_widths_and_full_is_the_default():
    study = get_study("convergent-learning")
    cfg = study.config("full")
    assert cfg == ConvergentLearningConfig() and list(study.arms) == ["cnn-pairs"]
    assert len(set(cfg.channels)) == 1 and cfg.n_nets == 6  # equal widths, 15 pairs
    assert study.rule.metric == "bipartite_last_minus_first" and study.rule.better == "lower"
