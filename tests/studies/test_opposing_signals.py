"""opposing-signals: the injected feature, the group statistics, and a tiny run's readings."""

import math

import pytest
import torch

from layerwise import RunLog
from layerwise.analysis import OpposingSignals
from layerwise.studies import get_study, run_study
from layerwise.studies.opposing_signals import OpposingSignalsConfig, group_statistics, inject_feature


def test_injection_marks_the_fraction_of_both_classes_and_raises_only_their_pixels():
    x = torch.rand(200, 64)
    y = torch.arange(200) % 10
    cfg = OpposingSignalsConfig(fraction=0.25, amplitude=10.0)
    out, groups = inject_feature(x, y, cfg, torch.Generator().manual_seed(0))
    assert (groups == 1).sum() == 5 and (groups == 2).sum() == 5  # 25% of 20 per class
    assert set(y[groups == 1].tolist()) == {3} and set(y[groups == 2].tolist()) == {8}
    changed = (out != x)
    assert torch.equal(changed.any(1), groups > 0)
    assert changed[groups > 0].nonzero()[:, 1].unique().tolist() == [0, 7]
    assert torch.allclose((out - x)[groups > 0][:, 0], torch.full((10,), 10.0 * x.std()))
    plain, same = inject_feature(x, y, OpposingSignalsConfig(fraction=0.25, inject=False),
                                 torch.Generator().manual_seed(0))
    assert torch.equal(plain, x) and torch.equal(same, groups)  # the control marks the same images
    with pytest.raises(ValueError, match="classes"):
        inject_feature(x, y, OpposingSignalsConfig(classes=(3,)), torch.Generator())
    with pytest.raises(ValueError, match="fraction"):
        inject_feature(x, y, OpposingSignalsConfig(fraction=0.0), torch.Generator())


def test_group_statistics_see_an_antiphase_oscillation():
    """Fake probe history: group 1 and 2 alternate in antiphase; the total rises at odd steps,
    where the swing is largest."""
    groups = torch.tensor([1, 1, 2, 2, 0, 0])
    probe = OpposingSignals(torch.nn.Linear(1, 2), torch.zeros(6, 1), torch.zeros(6, dtype=torch.long), k=2)

    class Row:
        def __init__(self, step, delta):
            self.step, self.delta = step, torch.tensor(delta)

    probe.history = [Row(s, [a, a, -a, -a, -0.1, -0.1]) for s, a in
                     enumerate([0.1, -0.3, 0.1, -0.3, 0.1, -0.3])]
    probe.history[1].delta[4:] = 1.0  # steps 1, 3, 5: total rises
    probe.history[3].delta[4:] = 1.0
    probe.history[5].delta[4:] = 1.0
    stats = group_statistics(probe, groups, skip=0)
    assert stats["group_delta_corr"] == pytest.approx(-1.0)
    assert stats["log_antiphase"] == pytest.approx(math.log(0.2))
    assert stats["log_spike_antiphase"] == pytest.approx(math.log(0.3 / 0.2))
    assert stats["loss_rises"] == pytest.approx(0.5)


def test_tiny_run_reports_the_readings_and_logs_rows(tmp_path):
    study = get_study("opposing-signals")
    assert study.config("full") == OpposingSignalsConfig()
    assert study.config("full", arm="control").inject is False
    verdict = run_study("opposing-signals", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for arm in verdict.arms:
        assert math.isfinite(d["log_top_ratio"][arm])
        assert 0.0 <= d["top_share"][arm] <= 1.0
        assert d["base_rate"][arm] == pytest.approx(8 / 1438)
        assert sum(d["top_grad_share"][arm]) == pytest.approx(1.0, abs=1e-6)
        assert len(d["sharpness_trace"][arm]) == 3  # steps 0, 5, 10 of 12
    rows = RunLog.read(tmp_path / "runs" / "gd-s0").to_pylist()
    metrics = {r["metric"] for r in rows}
    assert {"delta_loss_abs", "top_jaccard", "top_grad_share", "sharpness", "group_a_loss",
            "eos_threshold"} <= metrics
    assert {r["layer"] for r in rows if r["metric"] == "top_grad_share"} == {
        "blocks.0.linear", "blocks.1.linear", "head"}
