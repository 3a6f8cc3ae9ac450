"""tract: arms are paired and differ only in the first conv; epochs-to-target and the ridge check."""

import math

import pytest
import torch
import torch.nn.functional as F

from layerwise import RunLog
from layerwise.models import CNN
from layerwise.nn import TrAct
from layerwise.studies import get_study, run_study
from layerwise.studies.tract import (
    TrActConfig,
    build_model,
    epochs_to_reach,
    load_data,
    ridge_residual,
)


def test_arms_are_paired_and_only_the_first_conv_changes():
    study = get_study("tract")
    assert study.config("full") == TrActConfig() and not TrActConfig().tract
    assert study.config("full", arm="tract").tract
    cfg = TrActConfig()
    torch.manual_seed(3)
    init = CNN(channels=cfg.channels, image_size=8).state_dict()
    base, tract = build_model(cfg, init, tract=False), build_model(cfg, init, tract=True)
    assert isinstance(tract.blocks[0].conv, TrAct) and not isinstance(base.blocks[0].conv, TrAct)
    b = dict(base.named_parameters())
    t = {n.replace(".layer.", "."): p for n, p in tract.named_parameters()}
    assert b.keys() == t.keys()
    for name in b:  # same seed, same initial weights: the comparison is paired
        torch.testing.assert_close(b[name], t[name])
    x, y, _, _ = load_data(TrActConfig(max_train=64))
    for model in (base, tract):
        F.cross_entropy(model(x), y).backward()
    conv_b, conv_t = b["blocks.0.conv.weight"].grad, t["blocks.0.conv.weight"].grad
    assert (conv_b - conv_t).norm() > 0.1 * conv_b.norm()  # TrAct changes the first layer's gradient
    torch.testing.assert_close(b["head.weight"].grad, t["head.weight"].grad)  # and nothing else


def test_ridge_normal_equations_hold_for_tract_and_catch_a_wrong_lambda():
    cfg = TrActConfig()
    x, y, _, _ = load_data(TrActConfig(max_train=64))
    torch.manual_seed(0)
    init = CNN(channels=cfg.channels, image_size=8).state_dict()
    assert ridge_residual(build_model(cfg, init, tract=True), x, y, cfg.l) < 1e-5
    assert ridge_residual(build_model(cfg, init, tract=True), x, y, 10 * cfg.l) > 0.1


def test_epochs_to_target_interpolates_in_log_budget():
    assert epochs_to_reach({1: 0.5, 2: 0.7, 4: 0.9}, 0.8) == pytest.approx(2 * math.sqrt(2))
    assert epochs_to_reach({1: 0.5, 2: 0.7, 4: 0.9}, 0.7) == 2.0
    assert epochs_to_reach({2: 0.95, 4: 0.9}, 0.9) == 2.0  # the first budget already reaches it
    assert math.isnan(epochs_to_reach({1: 0.1, 2: 0.2}, 0.5))


def test_contrast_perturbation_spreads_pixel_magnitude():
    x, _, _, _ = load_data(TrActConfig())
    scale = x.flatten(1).std(dim=1)
    assert scale.max() / scale.min() > 3.0  # s in [0.3, 2] gives up to ~6.7x


def test_tiny_run_checks_the_ridge_gate_and_logs_the_reference_runs(tmp_path):
    verdict = run_study("tract", size="tiny", out=tmp_path, progress=False, report=False)
    assert verdict.details["ridge_residual"]["tract"] < 1e-4
    assert verdict.details["ref_acc"]["baseline"] == verdict.details["ref_acc"]["tract"]  # one target
    assert verdict.details["epochs_to_target"]["baseline"] <= 2  # the baseline reaches its own target
    table = RunLog.read(tmp_path / "runs" / "tract-s0")
    assert {"blocks.0", "blocks.1"} <= set(table.column("layer").to_pylist())
    assert {"grad_norm", "loss", "lr", "val_acc"} <= set(table.column("metric").to_pylist())
