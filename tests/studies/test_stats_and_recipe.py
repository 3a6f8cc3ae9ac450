"""Verdict statistics, config overrides and the study runner on a toy recipe."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from layerwise.studies import Recipe, apply_overrides, run_study
from layerwise.studies.stats import bootstrap_diff_ci, bootstrap_mean_ci, judge


def test_bootstrap_intervals_cover_the_truth_and_shrink_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(1.0, 1.0, 10)
    large = rng.normal(1.0, 1.0, 400)
    lo_s, hi_s = bootstrap_mean_ci(small)
    lo_l, hi_l = bootstrap_mean_ci(large)
    assert lo_l < 1.0 < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3
    # the interval of a mean of n iid N(0,1) has half-width ~ 1.96/sqrt(n)
    assert (hi_l - lo_l) / 2 == pytest.approx(1.96 / np.sqrt(400), rel=0.15)
    assert all(np.isnan(bootstrap_mean_ci([3.0])))


def test_bootstrap_difference_and_judgement():
    diff, lo, hi = bootstrap_diff_ci([1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.05])
    assert diff == pytest.approx(-1.0)
    assert lo < -0.8 and hi > -1.2 and lo < hi < 0
    assert judge(lo, hi, "lower") == "holds"
    assert judge(lo, hi, "higher") == "fails"
    assert judge(-0.1, 0.1, "lower") == "inconclusive"
    assert judge(float("nan"), 1.0, "lower") == "inconclusive"
    _, lo1, hi1 = bootstrap_diff_ci([1.0], [2.0, 3.0])
    assert np.isnan(lo1) and np.isnan(hi1)
    with pytest.raises(ValueError, match="better"):
        judge(0.0, 1.0, "smaller")


@dataclass(frozen=True)
class ToyConfig:
    shift: float = 1.0
    noise: float = 0.1
    steps: int = 3
    flag: bool = False
    name: str | None = None
    sizes: tuple[int, ...] = (1, 2)


def toy_run(cfg, arm, seed, run_dir):
    from layerwise import RunLog

    rng = np.random.default_rng(seed)
    value = (0.0 if arm == "base" else -cfg.shift) + cfg.noise * rng.normal()
    with RunLog(run_dir, meta={"arm": arm}) as log:
        for step in range(cfg.steps):
            log.log_many(step, ["l0", "l1"], ["grad_norm", "grad_norm"], [1.0 + step, 2.0])
            log.log_scalars(step, loss=value + 1.0 / (step + 1))
    return {"score": value}


TOY = Recipe(name="toy-study", paper="Toy (2026)", arxiv="0000.00000", claim="treatment lowers score",
             metric="score", better="lower", arms=("base", "treat"), config=ToyConfig, run=toy_run,
             smoke={"steps": 2}, full={"steps": 4})


def test_overrides_are_type_checked():
    cfg = apply_overrides(ToyConfig(), {"shift": "2.5", "steps": "7", "flag": "true", "name": "none",
                                        "sizes": "3,4"})
    assert (cfg.shift, cfg.steps, cfg.flag, cfg.name, cfg.sizes) == (2.5, 7, True, None, (3, 4))
    with pytest.raises(ValueError, match="unknown setting 'shfit'.*shift"):
        apply_overrides(ToyConfig(), {"shfit": "1"})
    with pytest.raises(ValueError, match="steps='x': expected int"):
        apply_overrides(ToyConfig(), {"steps": "x"})
    with pytest.raises(ValueError, match="flag='maybe'"):
        apply_overrides(ToyConfig(), {"flag": "maybe"})


def test_runner_writes_verdict_and_judges_only_full_runs(tmp_path):
    smoke = run_study(TOY, out=tmp_path / "smoke", seeds=3, progress=False, report=False)
    assert smoke["verdict"] == "not-judged" and smoke["mode"] == "smoke"
    full = run_study(TOY, full=True, seeds=4, out=tmp_path / "full", progress=False, report=False)
    saved = json.loads((tmp_path / "full" / "verdict.json").read_text())
    assert saved["verdict"] == "holds" == full["verdict"]
    assert set(saved) >= {"study", "paper", "arxiv", "mode", "claim", "metric", "better", "arms",
                          "effect", "verdict", "seconds"}
    assert len(saved["arms"]["treat"]["values"]) == 4
    assert saved["effect"]["treatment_minus_baseline"] == pytest.approx(-1.0, abs=0.2)
    assert saved["config"]["steps"] == 4
    wrong = run_study(TOY, full=True, seeds=4, out=tmp_path / "neg", overrides={"shift": "-1"},
                      progress=False, report=False)
    assert wrong["verdict"] == "fails"
    tie = run_study(TOY, full=True, seeds=4, out=tmp_path / "tie", overrides={"shift": "0", "noise": "1"},
                    progress=False, report=False)
    assert tie["verdict"] == "inconclusive"


def test_recipe_validation():
    with pytest.raises(ValueError, match="better"):
        Recipe(name="x", paper="p", arxiv="a", claim="c", metric="m", better="less", arms=("a", "b"),
               config=ToyConfig, run=toy_run)
    with pytest.raises(ValueError, match="baseline and at least one"):
        Recipe(name="x", paper="p", arxiv="a", claim="c", metric="m", better="lower", arms=("a",),
               config=ToyConfig, run=toy_run)
    with pytest.raises(ValueError, match="mode"):
        TOY.make_config("medium")
