"""shallow-again: paired arms, exact equality for one branch, per-branch logs, an equivalence rule."""

from layerwise import RunLog
from layerwise.studies import Equivalence, get_study, run_study
from layerwise.studies.shallow_again import ShallowAgainConfig


def test_full_is_the_paper_design_and_the_rule_is_equivalence():
    study = get_study("shallow-again")
    cfg = study.config("full")
    assert cfg == ShallowAgainConfig() and not cfg.parallel and study.config("full", arm="parallel").parallel
    assert cfg.depths == (2, 4, 8, 16) and cfg.epochs == 40 and cfg.width == 64 and cfg.lr == 1e-3
    assert isinstance(study.rule, Equivalence) and study.rule.metric == "val_acc"
    assert (study.rule.treatment, study.rule.baseline, study.rule.margin) == ("parallel", "sequential", 0.01)


def test_tiny_run_pairs_the_arms_exactly_for_one_branch(tmp_path):
    verdict = run_study("shallow-again", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    # one branch: the parallel layer IS the sequential one (same seed, same weights, same data)
    for key in ("best_val_loss_L1", "val_loss_L1", "train_loss_L1"):
        assert d[key]["sequential"] == d[key]["parallel"]
    assert d["higher_order_ratio_L1"]["sequential"] == 0.0
    assert d["higher_order_ratio_L3"]["sequential"] > 0.0
    assert d["val_loss_L3"]["sequential"] != d["val_loss_L3"]["parallel"]
    assert d["best_val_loss"]["sequential"] <= d["val_loss"]["sequential"]  # best epoch <= last epoch
    table = RunLog.read(tmp_path / "runs" / "parallel-s0")
    assert {f"stack.branches.{i}" for i in range(3)} <= set(table.column("layer").to_pylist())
    assert {"grad_norm", "loss", "val_loss"} <= set(table.column("metric").to_pylist())
