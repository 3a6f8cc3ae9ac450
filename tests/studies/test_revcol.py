"""Smoke test of the revcol study: memory against columns, gradient equality, alpha sweep."""

import json

from layerwise import RunLog
from layerwise.studies import run_study

TINY = dict(channels="4,8", columns="2,4", grad_columns="2", batch_size="4")


def test_smoke_run_memory_gradients_and_alpha_sweep(tmp_path):
    verdict = run_study("revcol", out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "revcol" and saved["arxiv"] == "2212.11696"
    assert saved["verdict"] == "not-judged" and saved["metric"] == "memory_growth"
    (plain,), (rev,) = saved["arms"]["plain"]["values"], saved["arms"]["reversible"]["values"]
    assert 1.8 < plain < 2.2  # plain autograd stores every column: twice the columns, twice the bytes
    assert rev == 1.0  # reversible: only the last column and one unit's working set
    details = verdict["details"]
    assert details["grad_rel_diff"] < 1e-8  # float64: the engine's gradients equal plain autograd's
    errors = details["recon_error_per_alpha"]
    assert errors[0.5] < 1e-4 < errors[0.005]
    assert errors[0.5] < errors[0.05] < errors[0.005]
    table = RunLog.read(tmp_path / "runs" / "reversible-s0")
    assert {"level0", "level1"} <= set(table.column("layer").to_pylist())
