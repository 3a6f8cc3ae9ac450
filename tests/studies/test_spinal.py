"""Smoke test of ``spinal`` at a size that runs in seconds, and a null fine-tune that must change nothing."""

import json
import math

import numpy as np

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study
from layerwise.studies.spinal import MEASURES, SpinalConfig, run

TINY = dict(n_layer="3", d_model="16", n_head="2", seq_len="16", batch_size="4", pretrain_steps="8",
            finetune_steps="4", warmup="2", eval_every="4", eval_batches="1", max_bytes="200000",
            probe_seqs="4", every="2")


def test_smoke_run_writes_verdict_traces_and_report(tmp_path):
    verdict = run_study("spinal", out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "spinal" and saved["arxiv"] == "2601.06238"
    assert saved["verdict"] == "not-judged" and saved["metric"] == "change"
    assert list(saved["arms"]) == ["first-third", "final-third"]
    for arm in saved["arms"].values():
        (value,) = arm["values"]
        assert math.isfinite(value) and 0.0 <= value < 5.0
    details = verdict["details"]
    for measure in MEASURES:
        assert math.isfinite(details[f"{measure}_first"]) and math.isfinite(details[f"{measure}_final"])
    assert details["param_change_first"] > 0 and details["delta_cka_final"] >= -1e-9
    table = RunLog.read(tmp_path / "runs" / "final-third-s0")
    assert {f"blocks.{i}" for i in range(3)} <= set(table.column("layer").to_pylist())
    metrics = set(table.column("metric").to_pylist())
    assert {"grad_norm", "loss", "val_loss", "alpha_before", "alpha_after", "transport_after",
            "delta_cka", "param_change"} <= metrics
    assert "SPINAL depth traces" in (tmp_path / "report.html").read_text()


def test_null_finetune_changes_nothing(tmp_path):
    cfg = get_recipe("spinal").make_config("smoke", {**TINY, "finetune_lr": "0"})
    out = run(cfg, "final-third", 0, tmp_path)
    for third in ("first", "final"):
        assert out[f"param_change_{third}"] == 0.0
        assert abs(out[f"abs_delta_alpha_{third}"]) < 1e-9
        assert abs(out[f"abs_delta_transport_{third}"]) < 1e-6
        assert abs(out[f"delta_cka_{third}"]) < 1e-9
    assert np.isfinite(out["alpha_before@blocks.2"]) and out["transport_before@blocks.0"] > 0


def test_arms_and_sizes():
    recipe = get_recipe("spinal")
    assert recipe.baseline == "first-third" and recipe.treatment_arm == "final-third"
    assert recipe.make_config("full") == SpinalConfig() and SpinalConfig().n_layer == 6
