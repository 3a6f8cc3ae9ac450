"""The study runner on toy studies: pairing, modes, gates, divergence, provenance, validation."""

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from scipy import stats

from layerwise.studies import (
    Check,
    Deterministic,
    Gate,
    Study,
    Superiority,
    Verdict,
    run_study,
    stale_reasons,
)


@dataclass(frozen=True)
class ToyConfig:
    shift: float = 0.0
    noise: float = 1.0
    diverge_seed: int = -1
    floor: float = 0.0


def fresh(study, **kwargs):
    """run_study replacing what an earlier call left in the folder."""
    return run_study(study, progress=False, overwrite=True, **kwargs)


class Toy(Study, registered=False):
    """A toy study: the metric is a seed-shared draw plus the arm's shift."""

    name, paper, arxiv, claim = "toy", "Toy (2026)", "0000.00000", "the shift helps"
    Config = ToyConfig
    arms = {"base": {}, "shifted": {"shift": 1.0}}
    rule = Superiority("score", "higher", treatment="shifted", baseline="base")
    gates = (Gate("score", above="chance", arms=("base",)),)
    sizes = {"tiny": {"noise": 0.1}}
    seeds = {"tiny": 1, "smoke": 1, "full": 4}

    def trial(self, cfg, t):
        shared = torch.randn(()).item()  # the runner seeds every arm of a seed alike
        score = 5.0 + shared * cfg.noise + cfg.shift + 0.2 * torch.randn(()).item()
        if t.seed == cfg.diverge_seed and cfg.shift:
            score = math.nan
        return {"score": score, "chance": cfg.floor, "shared": shared}


def test_arms_of_a_seed_share_the_seed_and_are_judged_paired(tmp_path):
    v = fresh(Toy(), size="full", out=tmp_path)
    assert v.mode == "full" and v.seeds == 4 and v.verdict == "holds", v.reason
    shared = v.details["shared"]
    assert shared["base"] == shared["shifted"]  # same draws per seed in both arms
    diffs = np.array(v.arms["shifted"].values) - np.array(v.arms["base"].values)
    ref = stats.ttest_rel(v.arms["shifted"].values, v.arms["base"].values).confidence_interval(0.95)
    assert v.effect["value"] == pytest.approx(diffs.mean())
    assert v.effect["ci"] == pytest.approx([ref.low, ref.high])
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["verdict"] == "holds" and saved["provenance"]["threads"] == 1
    assert saved["provenance"]["torch"] == torch.__version__ and "git_revision" in saved["provenance"]
    assert Verdict.load(tmp_path / "verdict.json").arms["base"].values == v.arms["base"].values


def test_overrides_and_seed_counts_make_the_mode_custom(tmp_path):
    v = fresh(Toy(), size="full", overrides={"noise": "0.5"}, out=tmp_path)
    assert v.mode == "custom" and v.overrides == {"noise": "0.5"} and v.config["noise"] == 0.5
    v = fresh(Toy(), size="full", seeds=3, out=tmp_path)
    assert v.mode == "custom" and v.verdict == "holds"
    assert stale_reasons(Toy(), v.to_json()) == ["mode is 'custom', not 'full'", "3 seeds, registered 4"]


def test_small_sizes_and_single_seeds_are_not_judged(tmp_path):
    v = fresh(Toy(), size="tiny", out=tmp_path)
    assert v.verdict == "not-judged" and v.reason.startswith("tiny size")
    v = fresh(Toy(), size="full", seeds=1, out=tmp_path)
    assert v.verdict == "not-judged" and "needs at least 2" in v.reason


def test_a_failed_gate_names_the_arm_and_the_numbers(tmp_path):
    v = fresh(Toy(), size="full", overrides={"floor": 100.0}, out=tmp_path)
    assert v.verdict == "not-judged"
    assert "arm 'base' did not learn: score" in v.reason and "chance 100" in v.reason


def test_a_diverged_seed_is_counted_and_never_dropped(tmp_path):
    v = fresh(Toy(), size="full", overrides={"diverge_seed": 2}, out=tmp_path)
    assert v.arms["shifted"].n_diverged == 1 and v.arms["shifted"].n_finite == 3
    assert v.verdict == "not-judged" and "diverged in 1/4" in v.reason


def test_a_worst_score_turns_divergence_into_that_arms_loss(tmp_path):
    class Scored(Toy, registered=False):
        rule = Superiority("score", "higher", treatment="shifted", baseline="base", worst="chance")

    v = fresh(Scored(), size="full", overrides={"diverge_seed": 2, "noise": 0.01}, out=tmp_path)
    assert v.arms["shifted"].n_diverged == 1 and v.verdict != "holds"
    diffs = v.effect["comparisons"]["base"]["diff"]
    assert diffs < 1.0  # the diverged seed scored 0 (chance) pulls the mean difference down


def test_deterministic_rules_check_every_seed(tmp_path):
    class Exact(Toy, registered=False):
        rule = Deterministic((Check("score", ">", 4.0, arm="shifted"), Check("shared", "<", 10.0)))
        gates = ()

    v = fresh(Exact(), size="full", seeds=1, out=tmp_path)
    assert v.verdict == "holds" and v.rule == "deterministic"
    v = fresh(Exact(), size="full", seeds=1, overrides={"diverge_seed": 0}, out=tmp_path)
    assert v.verdict == "fails" and "score[shifted]" in v.effect["summary"]


def test_declarations_are_validated_at_class_creation():
    with pytest.raises(TypeError, match="unknown config fields"):
        class BadArm(Toy, registered=False):
            arms = {"base": {}, "x": {"shfit": 1.0}}
    with pytest.raises(TypeError, match="not in arms"):
        class BadRule(Toy, registered=False):
            rule = Superiority("score", "higher", treatment="nope", baseline="base")
    with pytest.raises(ValueError, match="did you mean shift"):
        Toy().config("full", {"shfit": "1"})
    with pytest.raises(ValueError, match="size must be one of"):
        Toy().config("huge")


def test_trial_must_return_the_rule_metric(tmp_path):
    class Silent(Toy, registered=False):
        def trial(self, cfg, t):
            return {"other": 1.0}

    with pytest.raises(KeyError, match="must return \\['score'\\]"):
        fresh(Silent(), size="tiny", out=tmp_path)


def test_runner_restores_the_thread_count(tmp_path):
    before = torch.get_num_threads()
    run_study(Toy(), size="tiny", out=tmp_path, progress=False, threads=2, overwrite=True)
    assert torch.get_num_threads() == before


def test_resume_keeps_finished_trials_and_reruns_changed_ones(tmp_path):
    calls = []

    class Counted(Toy, registered=False):
        def trial(self, cfg, t):
            calls.append((t.arm, t.seed))
            return super().trial(cfg, t)

    first = fresh(Counted(), size="full", out=tmp_path)
    (tmp_path / "runs" / "shifted-s3" / "trial.json").unlink()  # as if killed during that trial
    calls.clear()
    again = run_study(Counted(), size="full", out=tmp_path, progress=False, resume=True)
    assert calls == [("shifted", 3)]
    assert again.arms["base"].values == first.arms["base"].values
    assert again.arms["shifted"].values == pytest.approx(first.arms["shifted"].values)
    calls.clear()
    run_study(Counted(), size="full", overrides={"noise": 0.5}, out=tmp_path, progress=False, resume=True)
    assert len(calls) == 8  # a different config reruns everything


def test_out_of_range_settings_are_refused_before_anything_runs(tmp_path):
    @dataclass(frozen=True)
    class RangedConfig:
        steps: int = 100
        lr: float = 0.01
        share: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
        offset: float = -1.0

    class Ranged(Toy, registered=False):
        Config = RangedConfig
        arms = {"base": {}, "shifted": {}}
        sizes = {}

    study = Ranged()
    for bad, match in ((dict(steps="0"), "steps=0 is out of range: it must be >= 1"),
                       (dict(steps="-3"), "must be >= 1"), (dict(lr="0"), "lr=0.0 .* must be > 0"),
                       (dict(share="1.5"), "must be <= 1.0")):
        with pytest.raises(ValueError, match=match):
            run_study(study, size="full", overrides=bad, out=tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
    assert study.config("full", dict(offset="-5", share="0")).offset == -5.0


def test_a_folder_with_results_is_refused_unless_resumed_or_overwritten(tmp_path):
    run_study(Toy(), size="tiny", out=tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="--resume .* --overwrite"):
        run_study(Toy(), size="tiny", out=tmp_path, progress=False)
    first = json.loads((tmp_path / "verdict.json").read_text())
    assert first["mode"] == "tiny"  # nothing was lost
    (tmp_path / "runs" / "stale-s9").mkdir()
    fresh(Toy(), size="tiny", out=tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["base-s0", "shifted-s0"]


def test_two_runs_cannot_write_one_folder_at_once(tmp_path):
    from layerwise.monitor.runfolder import FolderLock

    other = FolderLock(tmp_path)
    other.acquire()
    try:
        with pytest.raises(RuntimeError, match="open by another writer"):
            run_study(Toy(), size="tiny", out=tmp_path, progress=False)
    finally:
        other.release()


def test_a_run_that_fails_leaves_no_folder_it_created(tmp_path):
    class Refused(Toy, registered=False):
        def trial(self, cfg, t):
            raise ValueError("d_model=64 is not divisible by n_head=3")

    with pytest.raises(ValueError, match="n_head=3"):
        run_study(Refused(), size="tiny", out=tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()
