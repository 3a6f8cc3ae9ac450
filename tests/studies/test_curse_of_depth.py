"""The main job, at a size that runs in seconds: verdict, runs, report and depth measures."""

import json
import math

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study

TINY = dict(n_layer="6", d_model="32", n_head="2", seq_len="32", batch_size="4", steps="12", warmup="2",
            eval_every="6", eval_batches="1", max_bytes="300000", corpus="pydoc")


def test_smoke_run_writes_verdict_report_and_runlogs(tmp_path):
    verdict = run_study("curse-of-depth", out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "curse-of-depth" and saved["arxiv"] == "2502.05795"
    assert saved["verdict"] == "not-judged" and saved["mode"] == "smoke"
    assert set(saved["arms"]) == {"pre-ln", "lns"}
    for arm in ("pre-ln", "lns"):
        (value,) = saved["arms"][arm]["values"]
        assert 1.0 < value < math.log(256) + 0.5  # a byte-level LM starts near ln 256 and improves
        assert verdict["details"]["deep_shallow_grad"][arm] > 0
    table = RunLog.read(tmp_path / "runs" / "lns-s0")
    layers = set(table.column("layer").to_pylist())
    assert {f"blocks.{i}" for i in range(6)} <= layers
    metrics = set(table.column("metric").to_pylist())
    assert {"grad_norm", "act_rms", "update_ratio", "act_grad_norm", "loss", "val_loss"} <= metrics
    html = (tmp_path / "report.html").read_text()
    assert "curse-of-depth" in html and "not-judged" in html


def test_lns_arm_really_scales_the_norms():
    from layerwise.studies.curse_of_depth import CurseOfDepthConfig

    recipe = get_recipe("curse-of-depth")
    assert recipe.baseline == "pre-ln" and recipe.treatment_arm == "lns"
    assert recipe.make_config("full") == CurseOfDepthConfig()
    assert recipe.make_config("smoke").n_layer == 12
