"""lpn: the exact reference denoisers, the data, the arms' schedules, and a tiny run's metrics."""

import math

import pytest
import torch

from layerwise import RunLog
from layerwise.studies import get_study, run_study
from layerwise.studies.lpn import LpnConfig, references, sample, soft_threshold


def test_sample_is_laplacian_plus_gaussian_noise():
    cfg = LpnConfig(b=2.0, sigma=0.5)
    y, x = sample(cfg, 200_000, torch.Generator().manual_seed(0))
    assert abs(float(x.abs().mean()) - 2.0) < 0.02  # E|x| = b
    assert abs(float(x.var()) - 8.0) < 0.15  # Var x = 2 b^2
    assert abs(float((y - x).std()) - 0.5) < 0.005
    assert abs(float(x.median())) < 0.02


def test_sample_stays_finite_at_the_ends_of_the_uniform_draw(monkeypatch):
    # an inverse-CDF Laplace sampler gives -inf at U = 0, which torch.rand draws with p = 2^-24
    cfg = LpnConfig()
    for u in (0.0, 1.0 - 2.0**-24):
        monkeypatch.setattr(torch, "rand", lambda *a, u=u, **k: torch.full((4, 1), u))
        y, x = sample(cfg, 4, torch.Generator().manual_seed(0))
        assert torch.isfinite(x).all() and torch.isfinite(y).all()
        assert float(x.abs().max()) == (0.0 if u == 0 else pytest.approx(24 * math.log(2), rel=1e-3))


def test_reference_denoisers_are_the_known_estimators():
    cfg = LpnConfig()
    y = torch.linspace(-4, 4, 161).unsqueeze(1)  # step 0.05
    ref = references(cfg, y)
    yy = y.squeeze(1).double()
    torch.testing.assert_close(ref["map"], soft_threshold(yy, 1.0))
    assert abs(float(ref["density"].sum()) - 1) < 1e-9
    for key in ("mmse", "median"):
        f = ref[key]
        torch.testing.assert_close(f, -f.flip(0), atol=5e-3, rtol=0)  # odd
        assert torch.diff(f).min() >= 0 and (f.abs() <= yy.abs() + 1e-9).all()  # monotone shrinkage
        assert abs(float(f[-1]) - 3.0) < 0.08  # -> y - sigma^2 / b in the tails
        assert float(f[80 + 10].abs()) > 0.05  # no dead zone at |y| = 0.5 (soft thresholding: 0)
    dist = {k: float(((ref[k] - ref["map"]).abs() * ref["density"]).sum()) for k in ("mmse", "median")}
    assert 0.20 < dist["mmse"] < 0.26 and 0.16 < dist["median"] < 0.21  # the values in the docstring
    assert dist["median"] < dist["mmse"]


def test_arms_are_loss_deltas_and_the_rule_is_pm_against_both():
    study = get_study("lpn")
    assert study.config("full") == LpnConfig()
    assert {a: study.config("full", arm=a).loss for a in study.arms} == {"l2": "l2", "l1": "l1", "pm": "pm"}
    assert study.rule.treatment == "pm" and study.rule.baselines == ("l2", "l1")
    assert study.rule.min_effect == 0.05 and study.rule.better == "lower"
    cfg = LpnConfig()
    assert len(cfg.gammas) == len(cfg.gamma_lrs) and list(cfg.gammas) == sorted(cfg.gammas, reverse=True)


def test_tiny_run_reports_every_metric_and_the_pm_schedule_anneals_gamma(tmp_path):
    verdict = run_study("lpn", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    for key in ("st_dist", "identity_dist", "dist_to_mmse", "dist_to_median", "sup_dist", "dead_zone",
                "min_slope", "test_mse", "reg_error", "prox_at"):
        assert set(d[key]) == {"l2", "l1", "pm"}
    for arm in verdict.arms:
        assert d["min_slope"][arm] >= -1e-4  # a trained LPN is still monotone
        assert 0 <= d["dead_zone"][arm] <= 1 and math.isfinite(d["reg_error"][arm])
        assert len(d["prox_at"][arm]) == 17
    table = RunLog.read(tmp_path / "runs" / "pm-s0").to_pylist()
    gammas = [r["value"] for r in table if r["metric"] == "gamma"]
    assert gammas[:2] == [0.0, 0.0] and gammas[2] == 0.5 and gammas[-1] == 0.1  # l1, then annealing
    assert gammas[2:] == sorted(gammas[2:], reverse=True)
    l2 = RunLog.read(tmp_path / "runs" / "l2-s0").to_pylist()
    assert {r["value"] for r in l2 if r["metric"] == "gamma"} == {0.0}
