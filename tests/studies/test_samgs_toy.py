"""samgs-toy at a tiny size: verdict structure, per-start logs, and the Pareto criterion itself."""

import json
import math

import torch

from layerwise import RunLog
from layerwise.studies import get_recipe, run_study
from layerwise.studies.samgs_toy import objectives, pareto_gap, reached

TINY = dict(n_starts="2", steps="40", lr="0.05", every="10")


def test_smoke_run_writes_verdict_and_per_start_logs(tmp_path):
    verdict = run_study("samgs-toy", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["verdict"] == "not-judged" and saved["arxiv"] == "2506.06130"
    assert set(saved["arms"]) == {"ls", "pcgrad", "samgs"} and saved["treatment"] == "samgs"
    for arm in saved["arms"]:
        (value,) = saved["arms"][arm]["values"]
        assert 0.0 <= value <= 1.0
        assert math.isfinite(verdict["details"]["imbalance"][arm])
    table = RunLog.read(tmp_path / "runs" / "samgs-s0")
    layers = set(table.column("layer").to_pylist())
    assert {"start0", "start1"} <= layers
    metrics = set(table.column("metric").to_pylist())
    assert {"f1", "f2", "cos/f1-f2", "gms/f1-f2", "conflict_freq", "pareto"} <= metrics


def test_pareto_criterion_separates_the_segment_from_the_plateau():
    # On the lower basin's Pareto set (x2 ~ -8, -7 < x1 < 7) the gradients are opposed and cancel.
    on_set = torch.tensor([[0.0, -8.0], [3.0, -8.0], [-6.5, -8.0]])
    assert bool(reached(on_set, 0.05).all())
    off = torch.tensor([[0.0, -4.0], [9.0, -8.0], [0.0, 3.0]])  # too high, outside the segment, upper half
    assert not bool(reached(off, 0.05).any())
    assert float(pareto_gap(torch.tensor([[9.0, -8.0]]))) > 0.1


def test_objectives_match_a_pointwise_formula():
    x1, x2 = 2.0, -3.0
    lower = math.tanh(-x2 / 2)
    want1 = lower * (((x1 - 7) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20)
    f1, f2 = objectives(torch.tensor([[x1, x2]]))
    assert math.isclose(float(f1), want1, rel_tol=1e-5) and float(f2) > float(f1)
    assert get_recipe("samgs-toy").make_config("full").steps == 20000
