"""Committed study results (results/<study>/verdict.json) must describe the registered study."""

import json
from pathlib import Path

import pytest

from layerwise import list_methods
from layerwise.studies import claim_rows, claims_markdown, get_study, run_study, stale_reasons

RESULTS = Path(__file__).resolve().parents[2] / "results"
COMMITTED = sorted(RESULTS.glob("*/verdict.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.parent.name for p in COMMITTED])
def test_committed_result_is_not_stale(path):
    data = json.loads(path.read_text())
    study = get_study(data["study"])
    assert path.parent.name == study.name
    assert stale_reasons(study, data) == [], (
        f"{path} no longer matches the registered study; rerun `make claims STUDY={study.name}`")
    if data["verdict"] == "not-judged":
        assert data["reason"], "a not-judged verdict must say why"


def test_claims_table_marks_missing_stale_and_judged_results(tmp_path):
    run_study("curse-of-depth", size="tiny", out=tmp_path / "curse-of-depth", progress=False,
              report=False)
    rows = {r["study"]: r for r in claim_rows(tmp_path)}
    assert set(rows) == {e.name for e in list_methods(kind="study")}  # one row per study
    assert rows["elu"]["verdict"] == "missing"
    cod = rows["curse-of-depth"]
    assert cod["verdict"] == "not-judged" and "tiny size" in cod["reason"]
    assert any("mode is 'tiny'" in s for s in cod["stale"])
    table = claims_markdown(list(rows.values()))
    assert "| `curse-of-depth` | 2502.05795 | **not-judged** |" in table and "STALE" in table
