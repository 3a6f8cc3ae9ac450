"""contextual-fusion: the readings from fixed attack rows, and a tiny run end to end."""

import math

import pytest

from layerwise.studies import get_study, run_study
from layerwise.studies.contextual_fusion import ContextualFusionConfig, ContextualFusionStudy


def row(fg_adv, fused_adv, fg_clean=0.9, fused_clean=0.95):
    r = {"fg_clean": fg_clean, "fused_clean": fused_clean, "matched": 0.85, "white_fused": 0.2,
         "pgd_fg": 0.0, "pgd_fused": 0.3}
    for e in ("0.1", "0.05"):
        r[f"fgsm{e}_fg"], r[f"fgsm{e}_fused"] = fg_adv, fused_adv
    return r


def test_readings_give_gain_growth_slope_and_clean_cost():
    cfg = ContextualFusionConfig(correlations=(0.0, 0.5, 1.0), eps_extra=(0.05,))
    rows = [row(0.1, 0.1), row(0.1, 0.3), row(0.1, 0.5, fused_clean=0.88)]
    out = ContextualFusionStudy.readings(cfg, rows)
    assert out["gain_by_rho"] == pytest.approx([0.0, 0.2, 0.4])
    assert out["gain_growth"] == pytest.approx(0.4) and out["gain_high"] == pytest.approx(0.4)
    assert out["gain_slope"] == pytest.approx(0.4)  # gains on a line of slope 0.4 per unit rho
    assert out["clean_diff_high"] == pytest.approx(-0.02)
    assert out["pgd_gain_high"] == pytest.approx(0.3)
    assert out["white_gain_high"] == pytest.approx(0.1)
    assert out["gain_high_eps0.05"] == pytest.approx(0.4)
    assert out["fused_clean_high"] == pytest.approx(0.88)


def test_tiny_run_reports_every_reading(tmp_path):
    study = get_study("contextual-fusion")
    assert study.config("full") == ContextualFusionConfig()
    verdict = run_study("contextual-fusion", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert verdict.arms == ["fusion"] or list(verdict.arms) == ["fusion"]
    for key in ("gain_growth", "gain_high", "gain_zero", "gain_slope", "clean_diff_high",
                "pgd_gain_high", "white_gain_high", "texture_acc"):
        assert math.isfinite(d[key]["fusion"]), key
    assert len(d["gain_by_rho"]["fusion"]) == 2
    for key in ("fg_clean", "fused_clean_high", "matched_high", "texture_acc"):
        assert 0.0 <= d[key]["fusion"] <= 1.0
    assert -1.0 <= d["gain_growth"]["fusion"] <= 2.0
