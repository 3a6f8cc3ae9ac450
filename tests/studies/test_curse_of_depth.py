"""curse-of-depth at its tiny size: run logs, depth profiles, the LNS arm really scales."""

import math

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.curse_of_depth import CurseOfDepthConfig


def test_tiny_run_learns_something_and_logs_every_block(tmp_path):
    verdict = run_study("curse-of-depth", size="tiny", out=tmp_path, progress=False)
    for arm in ("pre-ln", "lns"):
        (value,) = verdict.arms[arm].values
        assert 1.0 < value < math.log(256) + 0.5  # a byte-level LM starts near ln 256
        assert verdict.details["deep_shallow_grad"][arm] > 0
        assert verdict.details["rms_growth"][arm] > 0
    table = RunLog.read(tmp_path / "runs" / "lns-s0")
    assert {f"blocks.{i}" for i in range(6)} <= set(table.column("layer").to_pylist())
    metrics = set(table.column("metric").to_pylist())
    assert {"grad_norm", "act_rms", "update_ratio", "act_grad_norm", "loss", "val_loss"} <= metrics
    html = (tmp_path / "report.html").read_text()
    assert "curse-of-depth" in html and "not-judged" in html


def test_lns_arm_is_a_config_delta_and_full_is_the_default():
    study = get_study("curse-of-depth")
    assert study.config("full") == CurseOfDepthConfig()
    assert study.config("full", arm="lns").layernorm_scaling
    assert not study.config("full", arm="pre-ln").layernorm_scaling
    assert study.rule.treatment == "lns" and study.rule.baseline == "pre-ln"
