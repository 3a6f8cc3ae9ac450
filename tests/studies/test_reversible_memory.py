"""Smoke test of the reversible-memory study: memory per depth, the largest cube and its search."""

import json

from layerwise import RunLog
from layerwise.studies import run_study
from layerwise.studies.reversible_memory import MIB, largest_side, step_bytes

TINY = dict(channels="4", expand="2", side="4", depths="1,2,4", cube_depth="2", budget_mib="0.5",
            fit_sides="3,4", max_side="64")


def test_smoke_run_memory_flat_for_reversible_linear_for_plain(tmp_path):
    verdict = run_study("reversible-memory", out=tmp_path, overrides=TINY, progress=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["study"] == "reversible-memory" and saved["verdict"] == "not-judged"
    assert saved["baseline"] == "plain" and saved["treatment"] == "reversible"
    (plain,), (rev,) = saved["arms"]["plain"]["values"], saved["arms"]["reversible"]["values"]
    assert 2 <= plain < rev <= 64
    per_depth = verdict["details"]["memory_mib_per_depth"]
    assert per_depth["reversible"][1] == per_depth["reversible"][4] > 0  # flat in depth
    assert 3.6 < per_depth["plain"][4] / per_depth["plain"][1] < 4.4  # linear in depth
    table = RunLog.read(tmp_path / "runs" / "plain-s0")
    assert "memory_mib" in set(table.column("metric").to_pylist())


def test_largest_side_is_the_exact_boundary():
    def measure(side):
        return step_bytes(4, 2, side, expand=2, reversible=False)

    budget = 0.5 * MIB
    side, seen = largest_side(measure, budget=budget, fit_sides=(3, 4), max_side=64)
    assert measure(side) <= budget < measure(side + 1)
    # bytes are affine in the voxel count: the fit from sides 3 and 4 predicts side 6
    slope = (seen[4] - seen[3]) / (4**3 - 3**3)
    assert abs(seen[3] + slope * (6**3 - 3**3) - measure(6)) / measure(6) < 0.01
