"""uat-capacity: the tiny run trains the grid (PE) and one row (no-PE control) on the same target."""

import math

from layerwise.studies import Descriptive, Superiority, get_study, run_study
from layerwise.studies.uat_capacity import UATCapacityConfig


def test_declaration_matches_the_registered_full_size():
    study = get_study("uat-capacity")
    cfg = study.config("full")
    assert cfg == UATCapacityConfig() and cfg.heads == (1, 2, 4) and cfg.widths == (8, 16, 32, 64)
    assert all(w % h == 0 for h in cfg.heads for w in cfg.widths)
    assert study.config("full", arm="no-pe").positional is False
    assert isinstance(study.rule, Descriptive) and study.rule.arm == "pe" and study.rule.min_effect == 0.25
    control = next(r for r in study.also if isinstance(r, Superiority))
    assert (control.treatment, control.baseline) == ("pe", "no-pe")
    assert math.isclose(control.min_effect, math.log(2))


def test_tiny_run_reports_the_grid_the_control_row_and_the_floor(tmp_path):
    study = get_study("uat-capacity")
    cfg = study.config("tiny")
    verdict = run_study("uat-capacity", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert len(d["rel_rmse_grid"]["pe"]) == len(cfg.heads) * len(cfg.widths)
    assert len(d["rel_rmse_grid"]["no-pe"]) == len(cfg.widths)  # the control: largest heads only
    assert math.isfinite(d["heads_slope"]["pe"]) and math.isnan(d["heads_slope"]["no-pe"])
    assert d["rel_floor"]["pe"] == d["rel_floor"]["no-pe"] > 0.05  # same seeded target in both arms
    assert d["target_rms"]["pe"] == d["target_rms"]["no-pe"]
    for arm in ("pe", "no-pe"):
        grid = d["rel_rmse_grid"][arm]
        assert math.isclose(d["rel_rmse_top"][arm], grid[-1])  # the largest cell is the last
        assert math.isclose(d["log_rmse_top"][arm], math.log(grid[-1] * d["target_rms"][arm]))
        assert d["max_error_top"][arm] >= d["rel_rmse_top"][arm] * d["target_rms"][arm]
