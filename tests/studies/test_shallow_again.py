"""shallow-again at a size that runs in seconds: verdict structure, per-branch logs, L=1 exactness."""

import json
import math

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study

TINY = dict(depths="1,3", width="16", epochs="1", max_train="128", batch_size="64")


def test_smoke_verdict_runlog_and_single_branch_exactness(tmp_path):
    verdict = run_study("shallow-again", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "shallow-again" and saved["arxiv"] == "2309.08414"
    assert saved["verdict"] == "not-judged" and set(saved["arms"]) == {"sequential", "parallel"}
    for arm in ("sequential", "parallel"):
        (value,) = saved["arms"][arm]["values"]
        assert 0.0 < value < math.log(10) + 1.0  # 10-class cross-entropy, barely trained
    details = verdict["details"]
    # one branch: the parallel layer IS the sequential one (same seed, same weights, same data)
    assert details["val_loss"]["sequential"]["L1"] == details["val_loss"]["parallel"]["L1"]
    assert details["higher_order_ratio"]["sequential"]["L1"] == 0.0
    assert details["higher_order_ratio"]["sequential"]["L3"] > 0.0
    assert details["val_loss"]["sequential"]["L3"] != details["val_loss"]["parallel"]["L3"]
    table = RunLog.read(tmp_path / "runs" / "parallel-s0")
    layers = set(table.column("layer").to_pylist())
    assert {f"stack.branches.{i}" for i in range(3)} <= layers
    assert {"grad_norm", "act_rms", "loss", "val_loss_L1"} <= set(table.column("metric").to_pylist())


def test_full_is_the_paper_design():
    recipe = get_recipe("shallow-again")
    cfg = recipe.make_config("full")
    assert recipe.baseline == "sequential" and recipe.treatment_arm == "parallel"
    assert cfg.depths == (2, 4, 8, 16) and cfg.epochs == 40 and cfg.width == 64 and cfg.lr == 1e-3
