"""gradient-noise: the arms differ only in eta, the noise really reaches the stuck first layer."""

import numpy as np
import pyarrow.compute as pc

from layerwise import RunLog
from layerwise.studies import Trial, get_study, run_study
from layerwise.studies.gradient_noise import GradientNoiseConfig, early_grad


def _series(run_dir, metric, layer):
    table = RunLog.read(run_dir)
    rows = table.filter(pc.and_(pc.equal(table["metric"], metric), pc.equal(table["layer"], layer)))
    return rows["value"].to_numpy(zero_copy_only=False)


def test_arms_are_eta_deltas_and_full_is_the_audited_size():
    study = get_study("gradient-noise")
    cfg = study.config("full")
    assert cfg == GradientNoiseConfig()
    assert (cfg.depth, cfg.width, cfg.init_std, cfg.gamma) == (20, 50, 0.1, 0.55)
    assert (cfg.lr, cfg.epochs) == (0.03, 100)  # the audit's size where noise escapes and SGD does not
    assert [study.config("full", arm=a).eta for a in study.arms] == [0.0, 0.01, 0.3, 1.0]
    assert study.rule.treatment == "eta=0.3" and study.rule.baseline == "no-noise"
    (gate,) = study.gates
    assert gate.which == "any" and set(gate.arms) == set(study.arms)  # the stuck baseline is not gated


def test_noise_moves_the_stuck_first_layer_where_sgd_does_not(tmp_path):
    """Under the poor init the first layer's gradient vanishes; the noise still moves it."""
    study = get_study("gradient-noise")
    change = {}
    for arm in ("no-noise", "eta=1.0"):
        cfg = study.config("tiny", {"depth": 10, "every": 1, "metrics": ("grad_norm", "weight_norm")},
                           arm=arm)
        result = study.trial(cfg, Trial(study.name, arm, 0, tmp_path / arm, cfg, "tiny"))
        assert 0.0 <= result["test_acc"] <= 1.0 and result["chance"] == 0.1
        norms = _series(tmp_path / arm, "weight_norm", "blocks.0")
        change[arm] = abs(norms[-1] / norms[0] - 1)
    assert early_grad(tmp_path / "no-noise", 5) < 1e-3  # vanishing gradient at layer 1 of 10
    assert change["no-noise"] < 1e-3 < change["eta=1.0"]
    ratio = _series(tmp_path / "eta=1.0", "noise_to_signal", "blocks.0")
    assert ratio.size and (ratio > 10).all()  # the noise dwarfs the first layer's vanishing signal
    assert _series(tmp_path / "no-noise", "noise_to_signal", "blocks.0").size == 0


def test_tiny_run_logs_test_accuracy_per_epoch_and_escape_flags(tmp_path):
    verdict = run_study("gradient-noise", size="tiny", out=tmp_path, progress=False, report=False)
    for arm in verdict.arms:
        assert verdict.details["escaped"][arm] in (0.0, 1.0)
        assert np.isfinite(verdict.details["first_layer_grad_early"][arm])
    assert _series(tmp_path / "runs" / "eta=0.3-s0", "test_acc", "").size == 1  # one epoch
    assert [s["metric"] for s in verdict.to_json()["secondary"]] == ["escaped"]
