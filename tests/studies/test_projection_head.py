"""projection-head at a size that runs in seconds: verdict structure, shared training, probes."""

import json

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study

TINY = dict(hidden="32", embed="16", head_hidden="32", epochs="3", max_train="256", folds="3", lr="0.01")


def test_smoke_verdict_and_pre_post_probes(tmp_path):
    verdict = run_study("projection-head", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "projection-head" and saved["arxiv"] == "2403.11391"
    assert saved["verdict"] == "not-judged" and saved["treatment"] == "pre-head"
    assert set(saved["arms"]) == {"post-head", "pre-head", "no-head"}
    for arm in saved["arms"]:
        (value,) = saved["arms"][arm]["values"]
        assert 0.2 < value <= 1.0  # fine labels are 10 classes: chance is 0.1
    d = verdict["details"]
    # the two head arms train the same network (same seed): they differ only in what is probed
    assert d["pre_fine_acc"]["pre-head"] == d["pre_fine_acc"]["post-head"]
    assert d["post_fine_acc"]["pre-head"] == d["post_fine_acc"]["post-head"]
    assert d["pre_fine_acc"]["no-head"] == d["post_fine_acc"]["no-head"]  # no head: post is pre
    assert d["coarse_val_acc"]["pre-head"] > 0.6  # the coarse task was learned
    table = RunLog.read(tmp_path / "runs" / "pre-head-s0")
    assert {f"layers.{i}" for i in range(4)} <= set(table.column("layer").to_pylist())


def test_reweight_head_ties_pre_and_post_under_a_z_scored_probe(tmp_path):
    recipe = get_recipe("projection-head")
    cfg = recipe.make_config("smoke", dict(TINY, head="reweight", kappa="1.5", epochs="1"))
    result = recipe.run(cfg, "pre-head", 0, tmp_path / "rw")
    assert abs(result["pre_fine_acc"] - result["post_fine_acc"]) < 0.02
