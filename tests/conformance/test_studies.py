"""Every registered study runs at its tiny size: arms, rule metrics, run logs, verdict, report."""

import builtins
import math
import time

import pytest

from layerwise import RunLog, list_methods
from layerwise.studies import Deterministic, Study, Verdict, get_study, run_study

STUDIES = [e.name for e in list_methods(kind="study") if isinstance(e.obj(), Study)]


@pytest.fixture
def no_pandas(monkeypatch):
    """Studies run on a core install, where pandas (a [dev] extra) is absent."""
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is hidden: studies must not need it")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)


@pytest.mark.parametrize("name", STUDIES)
def test_every_study_runs_at_tiny_size(name, tmp_path, no_pandas):
    study = get_study(name)
    start = time.process_time()  # CPU time: the budget holds on a loaded machine too
    verdict = run_study(name, size="tiny", out=tmp_path, progress=False)
    seconds = time.process_time() - start
    assert verdict.verdict == "not-judged" and "tiny size" in verdict.reason
    assert list(verdict.arms) == list(study.arms)
    rule_metrics = ([c.metric for c in study.rule.checks] if isinstance(study.rule, Deterministic)
                    else [study.rule.metric])
    for metric in rule_metrics:
        assert metric in verdict.details, f"{name}: the rule's metric {metric} is not in the results"
    assert verdict.arms[next(iter(study.arms))].n_finite >= 1 or isinstance(study.rule, Deterministic)
    assert set(study.profiles) <= set(verdict.details)
    assert (tmp_path / "report.html").stat().st_size > 0
    saved = Verdict.load(tmp_path / "verdict.json")
    assert saved.verdict == verdict.verdict and saved.study == name
    for run_dir in verdict.run_dirs:
        assert RunLog.read(run_dir).num_rows > 0
    assert seconds < 3.0, f"{name} took {seconds:.1f} s of CPU at tiny size (budget 3 s)"


def test_studies_declare_what_learning_means():
    """Every study that trains has a sanity gate, or its rule is deterministic."""
    for name in STUDIES:
        study = get_study(name)
        assert study.gates or isinstance(study.rule, Deterministic) or getattr(study, "no_gate", ""), (
            f"{name}: declare gates (what 'learned' means) or a no_gate reason")


def test_full_sizes_use_five_seeds_or_say_why():
    for name in STUDIES:
        study = get_study(name)
        if study.seeds["full"] < 5 and not isinstance(study.rule, Deterministic):
            assert study.cost_note, f"{name}: fewer than 5 full seeds needs a cost_note"
        assert math.isfinite(study.seeds["full"])
