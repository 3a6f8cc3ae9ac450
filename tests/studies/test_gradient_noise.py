"""gradient-noise study: verdict structure at a tiny size, and the noise really reaches the weights."""

import json
import math

from layerwise import RunLog
from layerwise.studies import run_study
from layerwise.studies.gradient_noise import ARMS, RECIPE, GradientNoiseConfig, arm_eta

TINY = dict(depth="6", width="16", epochs="1", batch_size="128", early_steps="5")


def test_smoke_run_writes_verdict_and_per_layer_gradients(tmp_path):
    verdict = run_study(RECIPE, out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "gradient-noise" and saved["verdict"] == "not-judged"
    assert saved["baseline"] == "no-noise" and saved["treatment"] == "eta=0.3"
    assert set(saved["arms"]) == set(ARMS)
    for arm in ARMS:
        (acc,) = saved["arms"][arm]["values"]
        assert 0.0 <= acc <= 1.0
        assert verdict["details"]["escape_rate"][arm] in (0.0, 1.0)
        assert math.isfinite(verdict["details"]["first_layer_grad_early"][arm])
    table = RunLog.read(tmp_path / "runs" / "eta=1.0-s0")
    layers = set(table.column("layer").to_pylist())
    assert {f"blocks.{i}" for i in range(6)} <= layers
    metrics = set(table.column("metric").to_pylist())
    assert {"grad_norm", "noise_to_signal", "loss", "test_acc"} <= metrics


def test_noise_moves_the_stuck_first_layer_where_sgd_does_not(tmp_path):
    """Mechanism: under the poor init the first layer's gradient vanishes; the noise still moves it."""
    from layerwise.studies import gradient_noise as gn

    cfg = RECIPE.make_config("smoke", {"depth": "10", "width": "16", "epochs": "1"})
    change = {}
    for arm in ("no-noise", "eta=1.0"):
        gn.run(cfg, arm, 0, tmp_path / arm)
        table = RunLog.read(tmp_path / arm).to_pandas()
        norms = table[(table.metric == "weight_norm") & (table.layer == "blocks.0")].value.to_numpy()
        change[arm] = abs(norms[-1] / norms[0] - 1)
    assert gn.early_grad(tmp_path / "no-noise", 5) < 1e-3  # vanishing gradient at layer 1 of 10
    assert change["no-noise"] < 1e-3 < change["eta=1.0"]
    table = RunLog.read(tmp_path / "eta=1.0").to_pandas()
    ratio = table[(table.metric == "noise_to_signal") & (table.layer == "blocks.0")].value
    assert (ratio > 10).all()  # the noise dwarfs the first layer's vanishing signal


def test_arms_and_paper_defaults():
    assert [arm_eta(a) for a in ARMS] == [0.0, 0.01, 0.3, 1.0]
    cfg = RECIPE.make_config("full")
    assert cfg == GradientNoiseConfig()
    assert (cfg.depth, cfg.width, cfg.init_std, cfg.gamma) == (20, 50, 0.1, 0.55)
