"""bench/faults/calibrate.py: which splits it reads, and its per-symptom, per-remedy counts."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from faults import calibrate, run  # noqa: E402


def test_the_newest_held_out_split_stays_out_of_the_calibration():
    splits = calibrate.calibration_splits()
    newest = [s for s in run.SPLITS if s.startswith("held_out")][-1]
    assert splits[0] == "tuned" and newest not in splits
    assert set(splits) | {newest, "all"} == set(run.SPLITS) | {"tuned"}


def _case(symptom, *verdicts):
    return {"symptom": symptom, "checks": [{"component": c, "verdict": v} for c, v in verdicts]}


def test_summary_counts_each_remedys_verdicts_per_symptom():
    cases = [_case("saturation", ("init", "harm"), ("insert_norm_before_activations", "confirmed")),
             _case("saturation", ("init", "confirmed"), ("insert_norm_before_activations", "confirmed")),
             _case("dead units", ("init", "not fixed"))]
    table = calibrate.summary(cases)
    assert table == {"saturation": {"init": {"harm": 1, "confirmed": 1},
                                    "insert_norm_before_activations": {"confirmed": 2}},
                     "dead units": {"init": {"not fixed": 1}}}
    text = calibrate.summary_text(table).splitlines()
    assert text[0].split()[:3] == ["symptom", "remedy", "confirmed"]
    row = next(line for line in text if "insert_norm" in line).split()
    assert row[:3] == ["saturation", "insert_norm_before_activations", "2"] and row[-1] == "0"
