"""verify: paired re-runs of a recipe with prescriptions; the verdict follows the interval."""

from __future__ import annotations

import json

import pytest
import torch

from layerwise.doctor import Diagnosis, Finding, Prescription, train_baseline, verify
from tests.unit.doctor import recipes

RECIPES = "tests.unit.doctor.recipes"


def finding(symptom: str, *prescriptions: Prescription) -> Diagnosis:
    f = Finding(symptom, ("blocks.1",), 0, {}, "high", "test", "test", prescriptions)
    return Diagnosis("given", [f])


def test_a_no_op_prescription_reproduces_the_baseline_exactly(tmp_path):
    same = Prescription("learning_rate", {"factor": 1.0}, "no change")
    v = verify(recipes.dead, finding("dead units", same), seeds=(0, 1), top_k=1, out=tmp_path)
    check = v.checks[0]
    assert check.treated == v.baseline  # same seed, same init, same data: the pairing is exact
    assert check.diff == 0.0 and check.ci == (0.0, 0.0)
    assert check.verdict == "not fixed" and check.gone == [False, False] and v.reproduced == [True, True]


def test_reinitialising_a_dead_block_is_confirmed_and_freezing_is_harm(tmp_path):
    fixes = Prescription("init", {"scheme": "kaiming"}, "fresh weights")
    frozen = Prescription("learning_rate", {"factor": 0.0}, "no step at all")
    v = verify(f"{RECIPES}:dead", finding("dead units", fixes), seeds=(0, 1, 2), top_k=1, out=tmp_path / "a")
    assert v.checks[0].verdict == "confirmed", v.text()
    assert v.checks[0].gone == [True] * 3 and v.checks[0].ci[1] < 0
    h = verify(f"{RECIPES}:saturated", finding("saturation", frozen), seeds=range(5), top_k=1,
               out=tmp_path / "b")
    assert h.checks[0].verdict == "harm" and h.checks[0].ci[0] > 0, h.text()
    # a frozen network keeps its untrained loss, which is the cap: treated = untrained, per seed
    assert all(t > b for t, b in zip(h.checks[0].treated, h.baseline, strict=True))


def test_runs_and_the_verification_are_written_under_out(tmp_path):
    p = Prescription("learning_rate", {"factor": 1.0}, "")
    verify(recipes.dead, finding("dead units", p, p, p), seeds=(0, 1), top_k=2, out=tmp_path)
    names = {q.name for q in tmp_path.iterdir()}
    assert names == {"baseline-s0", "baseline-s1", "rx1-learning_rate", "rx2-learning_rate",
                     "verification.json"}
    saved = json.loads((tmp_path / "verification.json").read_text())
    assert saved["symptom"] == "dead units" and len(saved["checks"]) == 2


def test_a_remedy_the_model_cannot_take_is_not_applicable(tmp_path):
    p = Prescription("norm_placement", {"placement": "peri"}, "")
    q = Prescription("replace_activations", {"old": "tanh", "new_factory": "elu"}, "")
    v = verify(recipes.dead, finding("dead units", p, q), seeds=(0, 1), top_k=2, out=tmp_path)
    assert [c.verdict for c in v.checks] == ["not applicable"] * 2
    assert "by hand" in v.checks[0].reason and "no tanh activation" in v.checks[1].reason


def test_the_diagnosis_defaults_to_the_first_baseline_run(tmp_path):
    v = verify(recipes.dead, seeds=(0, 1), top_k=1, out=tmp_path)
    assert v.symptom == "dead units" and v.checks[0].prescription.component == "init"  # dead from step 0


def test_baselines_trained_before_give_the_verdict_of_baselines_trained_here(tmp_path):
    fixes = Prescription("init", {"scheme": "kaiming"}, "fresh weights")
    here = verify(recipes.dead, finding("dead units", fixes), seeds=(0, 1, 2), top_k=1, out=tmp_path / "a")
    given = {seed: (tmp_path / f"b{seed}", train_baseline(recipes.dead, seed, tmp_path / f"b{seed}"))
             for seed in (0, 2)}
    reused = verify(recipes.dead, finding("dead units", fixes), seeds=(0, 1, 2), top_k=1, out=tmp_path / "c",
                    baselines=given)
    assert reused.baseline == here.baseline and reused.reproduced == here.reproduced
    assert (reused.checks[0].verdict, reused.checks[0].diff) == (here.checks[0].verdict, here.checks[0].diff)
    written = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert written == ["baseline-s1", "rx1-init", "verification.json"]  # seeds 0 and 2 were not trained
    with pytest.raises(ValueError, match="restart='scratch'"):
        verify(recipes.dead, seeds=(0, 1), restart="checkpoint", out=tmp_path / "d", baselines=given)
    with pytest.raises(ValueError, match=r"seeds \[1\] do not exist"):
        verify(recipes.dead, seeds=(0, 1), out=tmp_path / "e", baselines={1: (tmp_path / "none", 2.0)})


@pytest.mark.parametrize("kwargs, message", [
    (dict(seeds=(0,)), "at least 2 distinct seeds"),
    (dict(seeds=(1, 1)), "at least 2 distinct seeds"),
    (dict(top_k=0), "top_k must be at least 1"),
    (dict(recipe="nodots"), "'package.module:function'"),
    (dict(recipe="no_such_module:f"), "cannot be imported"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    args = dict(recipe=recipes.dead, diagnosis=finding("dead units", Prescription("init", {}, "")),
                out=tmp_path) | kwargs
    with pytest.raises(ValueError, match=message):
        verify(args.pop("recipe"), **args)


def test_a_recipe_that_does_not_reproduce_the_symptom_is_not_judged(tmp_path):
    p = Prescription("learning_rate", {"factor": 0.0}, "")
    v = verify(recipes.healthy, finding("dead units", p, p), seeds=(0, 1), top_k=2, out=tmp_path)
    assert v.reproduced == [False, False]
    assert [c.verdict for c in v.checks] == ["not judged"] * 2 and "does not reproduce" in v.checks[0].reason
    assert sorted(q.name for q in tmp_path.iterdir()) == ["baseline-s0", "baseline-s1", "verification.json"]


def test_a_loss_that_is_never_finite_leaves_every_remedy_not_judged(tmp_path):
    p = Prescription("skip_nonfinite", {}, "")
    v = verify(recipes.nan_loss, seeds=(0, 1), top_k=1, out=tmp_path)
    assert v.symptom == "non-finite values" and v.reproduced == [True, True]
    assert [c.verdict for c in v.checks] == ["not judged"]
    assert "not finite even before training (seeds [0, 1])" in v.checks[0].reason
    assert p.component == v.checks[0].prescription.component


def test_a_healthy_diagnosis_has_nothing_to_verify(tmp_path):
    with pytest.raises(ValueError, match="nothing to verify"):
        verify(recipes.dead, Diagnosis("ok"), seeds=(0, 1), out=tmp_path)


def test_cli_verify_reads_the_recipe_from_the_run(tmp_path):
    from typer.testing import CliRunner

    from layerwise.cli import app
    from layerwise.doctor import train

    run = tmp_path / "dead"
    train(recipes.dead(0), run, meta={"recipe": f"{RECIPES}:dead"})
    report = tmp_path / "dead.html"
    result = CliRunner().invoke(app, ["doctor", str(run), "--verify", "--seeds", "2", "--top-k", "1",
                                      "--report", str(report)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "verify dead units: baseline re-run shows it in 2/2 seeds" in text
    assert "init(scheme=kaiming):" in text
    assert (tmp_path / "dead-verify" / "verification.json").is_file()
    html = report.read_text()
    assert "Doctor" in html and "Verify" in html and "verify dead units: baseline re-run shows it" in html
    bare = tmp_path / "bare"
    train(recipes.dead(0), bare)
    result = CliRunner().invoke(app, ["doctor", str(bare), "--verify"])
    assert result.exit_code == 2 and "pass --recipe module:function" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["doctor", str(run), "--verify", "--restart", "rollback"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "restart must be 'scratch' or 'checkpoint'" in said


def test_cli_verify_restarts_from_checkpoints(tmp_path):
    from typer.testing import CliRunner

    from layerwise.cli import app
    from layerwise.doctor import train

    run = tmp_path / "dies"
    train(recipes.dies_at_60(0), run)
    result = CliRunner().invoke(app, ["doctor", str(run), "--verify", "--recipe", f"{RECIPES}:dies_at_60",
                                      "--seeds", "2", "--top-k", "2", "--restart", "checkpoint",
                                      "--checkpoint-every", "25"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "(from steps 50, 50)" in text
    assert sorted(p.name for p in (tmp_path / "dies-verify" / "baseline-s0" / "checkpoints").iterdir()) == [
        "step-000025.pt", "step-000050.pt", "step-000075.pt", "step-000100.pt", "step-000125.pt"]


def test_the_built_in_example_recipes(tmp_path):
    import doctest

    from layerwise.doctor import diagnose, examples, train

    assert doctest.testmod(examples).failed == 0
    a, b = examples.dead_block(3), examples.dead_block(3)
    assert all(torch_equal(b.batch(s), a.batch(s)) for s in (0, 299))  # a recipe is a function of the seed
    train(examples.dead_block(0), tmp_path / "dead")
    top = diagnose(tmp_path / "dead").top
    assert (top.symptom, top.onset_step, top.prescriptions[0].component) == ("dead units", 0, "init")


def torch_equal(x, y) -> bool:
    import torch

    return all(torch.equal(p, q) for p, q in zip(x, y, strict=True))


def test_a_run_restored_from_its_checkpoint_ends_exactly_as_the_straight_run(tmp_path):
    from layerwise.doctor._checkpoint import checkpoints, restore
    from layerwise.doctor._setup import train

    straight = recipes.healthy(0)
    straight.checkpoint_every = 40
    train(straight, tmp_path / "straight")
    saved = checkpoints(tmp_path / "straight")
    assert sorted(saved) == [40, 80, 120]
    resumed = recipes.healthy(0)
    assert restore(resumed, saved[80]) == 80
    train(resumed, tmp_path / "resumed", start=80)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_verify_from_checkpoint_restarts_at_the_last_healthy_one(tmp_path):
    same = Prescription("learning_rate", {"factor": 1.0}, "no change")
    init = Prescription("init", {"scheme": "kaiming"}, "fresh weights")
    dies = Finding("dead units", ("blocks.1",), 60, {}, "high", "test", "test", (same, init))
    v = verify(recipes.dies_at_60, Diagnosis("given", [dies]), seeds=(0, 1), top_k=2, out=tmp_path,
               restart="checkpoint", checkpoint_every=25)
    assert v.reproduced == [True, True]
    no_op, reinit = v.checks
    assert no_op.starts == [50, 50]  # checkpoints at 25, 50, 75...; the block dies at step 60
    assert no_op.treated == v.baseline  # restored state + the same later steps: the same run
    assert reinit.verdict == "not applicable" and "from scratch" in reinit.reason
    with pytest.raises(ValueError, match="restart must be"):
        verify(recipes.dead, seeds=(0, 1), restart="rollback", out=tmp_path / "x")


def test_the_effects_figure_draws_each_judged_prescription_at_its_interval():
    from layerwise.doctor._report import effects_figure
    from layerwise.doctor._verify import Check, Verification

    rx = Prescription("init", {}, "")
    v = Verification("dead units", [0, 1], [2.3, 2.3], [True, True], [
        Check(rx, "confirmed", [True, True], [0.3, 0.4], -1.95, (-2.6, -1.3)),
        Check(Prescription("qk_norm", {}, ""), "not applicable", reason="no attention")])
    fig = effects_figure(v)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["init: confirmed"]  # only the judged one
    (line,) = [c for c in ax.containers]
    x_lo, x_hi = line[2][0].get_segments()[0][:, 0]
    assert (x_lo, x_hi) == pytest.approx((-2.6, -1.3))
    assert effects_figure(Verification("dead units", [0, 1], [2.3, 2.3], [False, False])) is None


def test_a_nan_batch_is_diagnosed_and_the_guard_that_skips_it_is_confirmed(tmp_path):
    v = verify(recipes.nan_batch, seeds=range(5), top_k=1, out=tmp_path)
    assert v.symptom == "non-finite values" and v.reproduced == [True] * 5
    check = v.checks[0]
    assert check.prescription.component == "skip_nonfinite"
    assert check.verdict == "confirmed", v.text()
    from layerwise.doctor import diagnose

    treated = diagnose(tmp_path / "rx1-skip_nonfinite" / "s0")
    assert [(f.symptom, f.onset_step) for f in treated.findings] == [("transient non-finite values", 40)]


def test_a_shard_of_wrong_labels_is_a_data_spike_and_skipping_its_batches_is_confirmed(tmp_path):
    v = verify(recipes.bad_shard, seeds=range(5), top_k=1, out=tmp_path)
    from layerwise.doctor import diagnose

    (spike,) = diagnose(tmp_path / "baseline-s0").findings
    assert (spike.symptom, spike.onset_step, spike.evidence["cause"]) == ("loss spike", 80, "data")
    check = v.checks[0]
    assert (check.prescription.component, check.prescription.settings) == (
        "skip_batches", {"start": 76, "stop": 88})
    assert check.gone == [True] * 5 and check.verdict == "confirmed", v.text()
    assert diagnose(tmp_path / "rx1-skip_batches" / "s0").findings == []  # no spike left
    from layerwise.doctor import load

    steps, _ = load(tmp_path / "rx1-skip_batches" / "s0").scalars["loss"]
    assert steps.tolist() == list(range(150))  # every step trained: the skipped batches were replaced
