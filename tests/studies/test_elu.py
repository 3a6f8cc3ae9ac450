"""Smoke test of the elu study: six arms, finite losses, and the bias-shift profile."""

import json
import math

from torch import nn

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study
from layerwise.studies.elu import ARMS, build_model

TINY = dict(depth="3", width="16", epochs="1", judge_epoch="1", every="2")


def test_smoke_run_arms_losses_and_act_means(tmp_path):
    verdict = run_study("elu", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "elu" and saved["arxiv"] == "1511.07289"
    assert saved["verdict"] == "not-judged" and saved["baseline"] == "relu" and saved["treatment"] == "elu"
    assert set(saved["arms"]) == set(ARMS)
    for arm in ARMS:
        (value,) = saved["arms"][arm]["values"]
        assert 0.0 < value < math.log(10) + 1.0
    profile = verdict["details"]["act_mean_profile"]
    assert all(v > 0 for v in profile["relu"])  # ReLU outputs are non-negative: positive unit means
    shift = verdict["details"]["mean_abs_act_mean"]
    assert shift["elu"] < shift["relu"]  # ELU's negative part pulls the means toward zero
    table = RunLog.read(tmp_path / "runs" / "elu-s0")
    metrics = set(table.column("metric").to_pylist())
    assert {"act_mean", "bias_shift", "train_loss_full", "val_error"} <= metrics


def test_arms_build_the_right_activations():
    cfg = get_recipe("elu").make_config("smoke", TINY)
    leaky = build_model(cfg, "leaky_relu", 64)
    assert all(isinstance(b.act, nn.LeakyReLU) and b.act.negative_slope == 0.1 for b in leaky.blocks)
    elu_bn = build_model(cfg, "elu-bn", 64)
    assert all(isinstance(b.act, nn.ELU) and isinstance(b.norm, nn.BatchNorm1d) for b in elu_bn.blocks)
    assert get_recipe("elu").make_config("full").epochs == 60
