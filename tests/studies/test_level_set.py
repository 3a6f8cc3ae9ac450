"""level-set: pair picking, the readings on exact cases, and a tiny run's wiring."""

import math

import pytest
import torch

from layerwise import RunLog
from layerwise.analysis.level_set import LevelSetResult
from layerwise.studies import Descriptive, Superiority, get_study, run_study
from layerwise.studies.level_set import LevelSetConfig, pick_pairs, traversal_readings


def test_pairs_take_correct_distinct_sources_and_targets_of_two_other_classes():
    y = torch.arange(40) % 4
    correct = torch.arange(40) % 5 != 0
    src, t1, t2 = pick_pairs(y, correct, 12, torch.Generator().manual_seed(0))
    assert len(src) == len(t1) == len(t2) == 12
    assert len(set(src.tolist())) == 12 and bool(correct[src].all())
    assert bool((y[t1] != y[src]).all() and (y[t2] != y[src]).all() and (y[t1] != y[t2]).all())
    again = pick_pairs(y, correct, 12, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip((src, t1, t2), again, strict=True))
    with pytest.raises(ValueError, match=r"sources must be in \[1, 32\]"):
        pick_pairs(y, correct, 33, torch.Generator())
    with pytest.raises(ValueError, match="correct must have the shape of y"):
        pick_pairs(y, correct[:5], 3, torch.Generator())
    with pytest.raises(ValueError, match="three classes"):
        pick_pairs(y % 2, correct, 3, torch.Generator())


class Constant(torch.nn.Module):
    """Logits that ignore the input: every confidence is the same everywhere."""

    def forward(self, x):
        return torch.tensor([[2.0, 0.0, 0.0]]).expand(len(x), 3)


def test_readings_on_a_walk_that_reached_its_targets_under_a_constant_model():
    g = torch.Generator().manual_seed(1)
    xs, xt = torch.rand(4, 1, 8, 8, generator=g), torch.rand(4, 1, 8, 8, generator=g)
    ys, yt = torch.zeros(4, dtype=torch.long), torch.tensor([1, 1, 2, 2])
    p = torch.softmax(torch.tensor([2.0, 0.0, 0.0]), 0)[0]
    trace = torch.full((3, 4), float(p))
    trace[1, 0] = p - 0.1  # row 0 dipped by 0.1 along the way
    out = LevelSetResult(final=xt.clone(), initial=trace[0], final_confidence=trace[-1], trace=trace,
                         accepted=torch.tensor([2, 2, 1, 0]), iterations=2)
    r = traversal_readings(Constant(), xs, ys, xt, yt, out, LevelSetConfig(path_points=5, grid=3))
    assert r["ssim_final"] == pytest.approx(1.0, abs=1e-6)
    assert r["l2_final"] == 0.0 and r["l2_ratio"] == 0.0 and r["linf_final"] == 0.0
    assert r["l2_start"] == pytest.approx(float((xs - xt).flatten(1).norm(dim=1).mean()))
    assert r["conf_drop"] == pytest.approx(0.1 / 4) and r["conf_drop_max"] == pytest.approx(0.1)
    assert r["path_min_ratio"] == pytest.approx(1.0) and r["path_high"] == 1.0
    assert r["triangle_high"] == 1.0 and r["triangle_mean_ratio"] == pytest.approx(1.0)
    assert r["source_kept"] == 1.0
    assert r["target_conf_final"] == pytest.approx(float(torch.softmax(torch.tensor([2.0, 0, 0]), 0)[1]))
    assert r["accepted_share"] == pytest.approx(5 / 8)


def test_rules_and_arms_are_wired():
    study = get_study("level-set")
    assert study.config("full") == LevelSetConfig()
    robust = study.config("full", arm="pgd")
    assert robust.eps == 0.1 and robust.adv_step == 2e-3 and study.config("full", arm="standard").eps == 0.0
    assert study.rule == Descriptive("ssim_final", "higher", null=0.9, arm="standard")
    assert {(r.metric, getattr(r, "arm", None) or getattr(r, "treatment", None)) for r in study.also} == {
        ("ssim_final", "pgd"), ("l2_ratio", "standard"), ("path_min_ratio", "standard"),
        ("triangle_high", "pgd")}
    assert any(isinstance(r, Superiority) and r.baseline == "standard" for r in study.also)


def test_tiny_run_writes_every_reading_for_both_arms(tmp_path):
    verdict = run_study("level-set", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    names = ["ssim_final", "ssim_start", "l2_final", "l2_start", "l2_ratio", "linf_final", "conf_initial",
             "conf_final", "conf_drop", "conf_drop_max", "source_kept", "target_conf_final",
             "accepted_share", "path_min_ratio", "path_high", "triangle_high", "triangle_mean_ratio",
             "test_acc", "train_acc", "robust_acc", "iterations"]
    for arm in ("standard", "pgd"):
        for name in names:
            assert math.isfinite(d[name][arm]), (name, arm)
        assert d["conf_drop_max"][arm] < 0.2  # the walk never breaks its tolerance
        assert 0.0 <= d["triangle_high"][arm] <= 1.0
    rows = RunLog.read(tmp_path / "runs" / "pgd-s0").to_pylist()
    metrics = {r["metric"] for r in rows}
    assert {"train_loss", "source_conf"} <= metrics
    assert sum(r["metric"] == "source_conf" for r in rows) == d["iterations"]["pgd"] + 1
