"""noprop: arms are config deltas over the same blocks; step memory is exact and affine in T; the
tiny run returns every metric the rules read."""

import math

import pytest
import torch

from layerwise.studies import Deterministic, NonInferiority, get_study, run_study
from layerwise.studies.noprop import NoPropConfig, build, score, step_bytes
from layerwise.train import NoPropTrainer


def test_arms_and_rules_are_declared_as_the_docstring_says():
    study = get_study("noprop")
    assert study.config("full") == NoPropConfig() and NoPropConfig().T == 10
    assert [study.config("full", arm=a).scheme for a in study.arms] == ["backprop", "noprop", "mlp"]
    assert isinstance(study.rule, NonInferiority)
    assert (study.rule.treatment, study.rule.baseline, study.rule.margin) == ("noprop", "backprop", 0.02)
    memory = next(r for r in study.also if isinstance(r, Deterministic))
    assert {(c.metric, c.arm) for c in memory.checks} == {
        ("memory_growth", "noprop"), ("memory_growth", "backprop"), ("memory_ratio", "noprop")}
    with pytest.raises(ValueError, match="T=0 is out of range"):
        study.config("full", overrides={"T": "0"})
    with pytest.raises(ValueError, match="scheme must be one of"):
        build(NoPropConfig(scheme="ff"), 4, 3)


def test_backprop_and_noprop_arms_start_from_the_same_blocks():
    study = get_study("noprop")
    models = []
    for arm in ("backprop", "noprop"):
        torch.manual_seed(3)
        models.append(build(study.config("tiny", arm=arm), 64, 10))
    assert all(isinstance(m, NoPropTrainer) for m in models)
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_step_memory_is_flat_for_noprop_and_affine_in_T_for_the_chain():
    x, y = torch.rand(32, 64), torch.arange(32) % 10
    cfg = NoPropConfig(width=16)
    noprop = [step_bytes(cfg, T, x, y) for T in (1, 2, 3)]
    chain = [step_bytes(NoPropConfig(width=16, scheme="backprop"), T, x, y) for T in (1, 2, 3)]
    assert noprop[0] == noprop[1] == noprop[2] > 0
    assert chain[2] - chain[1] == chain[1] - chain[0] > 0  # every block adds the same graph


def test_noprop_is_scored_through_the_head_on_z_T():
    torch.manual_seed(0)
    cfg = NoPropConfig(T=2, width=8)
    model = build(cfg, 64, 10)
    x, y = torch.rand(20, 64), torch.arange(20) % 10
    assert score(model, cfg, x, y) == (model.predict(x) == y).float().mean().item()


def test_tiny_run_returns_the_rule_metrics(tmp_path):
    verdict = run_study("noprop", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert set(d["test_acc"]) == {"backprop", "noprop", "mlp"}
    assert d["memory_growth"]["noprop"] == 1.0 and d["memory_growth"]["backprop"] > 1.0
    assert d["memory_growth"]["mlp"] == 1.0  # one MLP whatever T is
    assert 0 < d["memory_ratio"]["noprop"] < 1 and math.isnan(d["memory_ratio"]["backprop"])
    for arm in ("backprop", "noprop"):
        assert len(d["readout_acc"][arm]) == 2  # tiny T = 2
        assert d["readout_rise"][arm] == pytest.approx(d["readout_acc"][arm][-1] - d["readout_acc"][arm][0])
    assert math.isnan(d["readout_rise"]["mlp"])
    assert d["step_kib_T1"]["noprop"] == d["step_kib_T2"]["noprop"]
