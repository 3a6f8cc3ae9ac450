"""nap-plasticity study: verdict structure, per-layer norm/ELR traces, and NaP pinning the norms."""

import json
import math

from layerwise import RunLog
from layerwise.studies import run_study
from layerwise.studies.nap_plasticity import ARMS, RECIPE, NaPConfig

TINY = dict(tasks="3", steps_per_task="8", n_samples="64", width="32", batch_size="16", last_tasks="2")


def test_smoke_run_writes_verdict_and_traces(tmp_path):
    verdict = run_study(RECIPE, out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "nap-plasticity" and saved["verdict"] == "not-judged"
    assert set(saved["arms"]) == set(ARMS) and saved["treatment"] == "nap"
    for arm in ARMS:
        (acc,) = saved["arms"][arm]["values"]
        assert 0.0 <= acc <= 1.0
        assert len(verdict["details"]["task_acc_curve"][arm]) == 3
        assert math.isfinite(verdict["details"]["elr_drift"][arm])
    table = RunLog.read(tmp_path / "runs" / "nap-s0")
    metrics = set(table.column("metric").to_pylist())
    assert {"weight_norm", "eff_lr", "update_ratio", "task_acc"} <= metrics
    frame = table.to_pandas()
    eff = frame[frame.metric == "eff_lr"]
    assert set(eff.step) == set(range(24))  # every step of every task
    assert {"blocks.0", "blocks.1", "blocks.2"} <= set(eff.layer)
    assert ((eff.value > 0) & (eff.value < 1)).all()


def test_nap_pins_norms_and_effective_lr_while_layernorm_drifts(tmp_path):
    """Mechanism: projection keeps every weight's norm, so the ELR stays put; LN alone lets it drift."""
    from layerwise.studies.nap_plasticity import run

    cfg = RECIPE.make_config("smoke", dict(TINY, lr="1e-2"))
    nap = run(cfg, "nap", 0, tmp_path / "nap")
    ln = run(cfg, "layernorm", 0, tmp_path / "ln")
    assert abs(nap["elr_drift"] - 1) < 1e-4 and abs(nap["norm_growth"] - 1) < 1e-4
    assert abs(ln["elr_drift"] - 1) > 1e-2
    table = RunLog.read(tmp_path / "nap").to_pandas()
    elr = table[(table.metric == "eff_lr") & (table.layer == "blocks.1")].value  # lr / ||W_linear||^2
    assert elr.max() - elr.min() < 1e-4 * elr.mean()


def test_defaults_follow_the_spec():
    cfg = RECIPE.make_config("full")
    assert cfg == NaPConfig()
    assert (cfg.steps_per_task, cfg.tasks, cfg.depth, cfg.width, cfg.lr) == (500, 20, 3, 256, 1e-3)
