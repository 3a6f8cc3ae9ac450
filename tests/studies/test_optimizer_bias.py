"""optimizer-bias: the matched-rate choice, the forgetting measure, bad names, and a tiny run."""

import math

import numpy as np
import pytest
import torch

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.optimizer_bias import OptimizerBiasConfig, forgetting, grid, make_optimizer, matched_lr


def test_matched_lr_is_the_smallest_rate_reaching_the_target():
    accs = {0.01: 0.90, 0.02: 0.94, 0.04: 0.96}
    assert matched_lr(accs, 0.93) == 0.02
    assert matched_lr({0.04: 0.95, 0.01: 0.97, 0.02: math.nan}, 0.93) == 0.01  # order-free
    assert matched_lr({0.01: 0.80, 0.02: 0.88, 0.04: 0.85}, 0.93) == 0.02  # none reaches: most accurate
    assert matched_lr({0.01: math.nan, 0.02: math.nan}, 0.93) is None


def test_forgetting_is_mean_drop_from_the_best_accuracy_after_learning():
    acc = np.array([[0.9, 0.1, 0.1],
                    [0.6, 0.95, 0.1],
                    [0.7, 0.5, 0.9]])
    # task 0: best 0.9 (after task 0), final 0.7 -> 0.2; task 1: best 0.95, final 0.5 -> 0.45
    assert forgetting(acc) == pytest.approx((0.2 + 0.45) / 2)
    assert forgetting(np.eye(2)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="acc must be a square"):
        forgetting(np.ones((2, 3)))


def test_arms_pick_their_optimizer_and_grid_and_unknown_names_are_refused():
    study = get_study("optimizer-bias")
    assert study.config("full") == OptimizerBiasConfig()
    params = [torch.nn.Parameter(torch.zeros(2, 2))]
    for arm, kind in (("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)):
        cfg = study.config("full", arm=arm)
        assert isinstance(make_optimizer(cfg, params, grid(cfg)[0]), kind)
    pytest.importorskip("pytorch_optimizer")
    cfg = study.config("full", arm="shampoo")
    opt = make_optimizer(cfg, params, 0.05)
    assert type(opt).__name__ == "Shampoo" and opt.param_groups[0]["matrix_eps"] == cfg.shampoo_eps
    assert grid(cfg) == cfg.shampoo_lrs
    bad = study.config("full", overrides={"optimizer": "lion"})
    with pytest.raises(ValueError, match="optimizer must be one of sgd, adamw, shampoo, got 'lion'"):
        grid(bad)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer(bad, params, 0.1)
    rule = study.rule
    assert (rule.treatment, rule.baselines, rule.min_effect) == ("shampoo", ("sgd", "adamw"), 0.05)


def test_tiny_run_records_accuracies_and_per_block_profiles(tmp_path):
    pytest.importorskip("pytorch_optimizer")
    verdict = run_study("optimizer-bias", size="tiny", out=tmp_path, progress=False, report=False)
    cfg = get_study("optimizer-bias").config("tiny")
    d = verdict.details
    for arm in verdict.arms:
        assert 0.0 <= d["forgetting"][arm] <= 1.0 and 0.0 <= d["avg_final_acc"][arm] <= 1.0
        assert d["lr"][arm] in grid(get_study("optimizer-bias").config("tiny", arm=arm))
        assert len(d["effective_rank_by_task"][arm]) == cfg.tasks
        assert 1.0 <= d["final_effective_rank"][arm] <= cfg.width
        assert d["task1_shortfall"][arm] == pytest.approx(max(0.0, cfg.target_acc - d["task1_acc"][arm]))
    table = RunLog.read(tmp_path / "runs" / "shampoo-s0")
    rows = table.to_pylist()
    ranks = [(r["step"], r["layer"]) for r in rows if r["metric"] == "effective_rank"]
    assert sorted(ranks) == [(k, f"blocks.{b}") for k in range(cfg.tasks) for b in range(cfg.depth)]
    assert {"acc_task0", "acc_task1"} <= {r["metric"] for r in rows}
