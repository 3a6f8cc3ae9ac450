"""elu: arms are pure config deltas, each arm is read at its best lr, ELU centres the activations."""

import math

from torch import nn

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.elu import EluConfig, _best, build_model


def test_arms_build_the_right_activations_without_patching():
    study = get_study("elu")
    assert study.config("full") == EluConfig() and EluConfig().lrs == (0.01, 0.03, 0.1, 0.3)
    leaky = build_model(study.config("full", arm="leaky_relu"), 64, 10)
    assert all(isinstance(b.act, nn.LeakyReLU) and b.act.negative_slope == 0.1 for b in leaky.blocks)
    assert all(isinstance(b.norm, nn.Identity) for b in leaky.blocks)
    elu_bn = build_model(study.config("full", arm="elu-bn", overrides={"elu_alpha": 0.5}), 64, 10)
    assert all(isinstance(b.act, nn.ELU) and b.act.alpha == 0.5 for b in elu_bn.blocks)
    assert all(isinstance(b.norm, nn.BatchNorm1d) for b in elu_bn.blocks)
    relu = build_model(study.config("full", arm="relu"), 64, 10)
    assert all(isinstance(b.act, nn.ReLU) for b in relu.blocks)
    assert study.rule.treatment == "elu" and study.rule.baselines == ("relu", "leaky_relu")  # Holm over both
    (bn,) = study.also
    assert (bn.treatment, bn.baseline, bn.margin) == ("elu", "elu-bn", 0.01)


def test_best_lr_ignores_diverged_runs():
    runs = {0.01: {"judge_loss": 0.3}, 0.03: {"judge_loss": 0.1}, 0.1: {"judge_loss": math.nan}}
    assert _best(runs, "judge_loss") == 0.03
    assert _best({0.1: {"judge_loss": math.nan}}, "judge_loss") is None


def test_tiny_run_reads_each_arm_at_its_best_lr_and_elu_centres_the_means(tmp_path):
    verdict = run_study("elu", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for arm in verdict.arms:
        assert d["best_lr"][arm] in (0.01, 0.1)
        assert d["train_loss_at_judge"][arm] == min(d["judge_loss_by_lr"][arm])  # one seed: the minimum
        assert 0.0 < d["train_loss_at_judge"][arm] < math.log(10) + 1.0
    assert all(v > 0 for v in d["act_mean_profile"]["relu"])  # ReLU outputs are non-negative
    assert d["mean_abs_act_mean"]["elu"] < d["mean_abs_act_mean"]["relu"]  # ELU pulls the means to 0
    table = RunLog.read(tmp_path / "runs" / "elu-s0")
    metrics = set(table.column("metric").to_pylist())
    assert {"act_mean", "bias_shift", "train_loss_full", "val_error"} <= metrics
