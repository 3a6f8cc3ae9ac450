"""Study ``tract``: a tiny run writes a verdict; arms are paired and differ only in the first conv."""

import json
import math

import torch
import torch.nn.functional as F

from layerwise import RunLog
from layerwise.nn import TrAct
from layerwise.studies import run_study
from layerwise.studies.tract import RECIPE, TrActConfig, build_model, epochs_to_reach, load_data

TINY = dict(epochs="2", max_train="128", batch_size="32")


def test_smoke_run_writes_verdict_and_runlogs(tmp_path):
    verdict = run_study(RECIPE, out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["arxiv"] == "2410.23970" and saved["verdict"] == "not-judged"
    assert set(saved["arms"]) == {"baseline", "tract"} and saved["metric"] == "val_acc"
    for arm in ("baseline", "tract"):
        (value,) = saved["arms"][arm]["values"]
        assert math.isfinite(value) and 0.0 <= value <= 1.0
        assert len(verdict["details"]["mean_curve"][arm]) == 2
    assert verdict["details"]["epochs_to_target"]["baseline"] <= 2  # the baseline reaches its own final
    table = RunLog.read(tmp_path / "runs" / "tract-s0")
    assert {"blocks.0", "blocks.1"} <= set(table.column("layer").to_pylist())
    assert {"grad_norm", "update_ratio", "loss", "val_acc"} <= set(table.column("metric").to_pylist())


def test_arms_are_paired_and_only_the_first_conv_changes():
    cfg = TrActConfig()
    base, tract = build_model(cfg, "baseline", 3), build_model(cfg, "tract", 3)
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


def test_contrast_perturbation_spreads_pixel_magnitude():
    x, _, _, _ = load_data(TrActConfig())
    scale = x.flatten(1).std(dim=1)
    assert scale.max() / scale.min() > 3.0  # s in [0.3, 2] gives up to ~6.7x
    assert epochs_to_reach([0.2, 0.5, 0.7], 0.5) == 2.0 and math.isnan(epochs_to_reach([0.1], 0.5))
