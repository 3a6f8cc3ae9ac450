"""dcdm: arms are solver deltas, CG and Jacobi-PCG agree on the constant-diagonal Laplacian, the
metrics are log-iterations on the training grid and the transfer grid."""

import math

import numpy as np
import pytest

from layerwise import RunLog
from layerwise.analysis import SolveResult
from layerwise.studies import get_study, run_study
from layerwise.studies.dcdm import DcdmConfig, eval_rhs, solve, summarise


def test_config_arms_and_rules():
    study = get_study("dcdm")
    assert study.config("full") == DcdmConfig()
    assert (DcdmConfig().grid, DcdmConfig().transfer_grid, DcdmConfig().n_orth) == (32, 48, 2)
    assert {a: study.config("full", arm=a).solver for a in study.arms} == {
        "cg": "cg", "jacobi_pcg": "jacobi_pcg", "dcdm": "dcdm"}
    assert study.rule.baselines == ("cg", "jacobi_pcg") and study.rule.min_effect == math.log(2)
    transfer, growth = study.also
    assert transfer.metric == "log_iterations_transfer" and growth.metric == "log_growth"
    assert study.gates[0].arms == ("dcdm",)


def test_eval_rhs_are_seeded_random_then_smooth_columns():
    cfg = DcdmConfig(test_random=3, test_smooth=2)
    b = eval_rhs(cfg, 8, seed=1)
    assert b.shape == (64, 5) and np.allclose(np.linalg.norm(b, axis=0), 1.0)
    assert np.array_equal(b, eval_rhs(cfg, 8, seed=1)) and not np.array_equal(b, eval_rhs(cfg, 8, seed=2))
    rough = [np.abs(np.diff(col.reshape(8, 8), axis=0)).mean() for col in b.T]
    assert min(rough[:3]) > 2 * max(rough[3:])  # white noise is rougher than the smooth fields


def test_summarise_reads_log_iterations_per_kind():
    res = SolveResult(np.zeros((4, 4)), np.array([10, 20, 5, 0]), np.ones((21, 4)),
                      np.array([True, True, True, True]))
    out = summarise(res, DcdmConfig(test_random=2, test_smooth=2), "_x")
    assert math.isclose(out["log_iterations_x"], np.log([10, 20, 5, 1]).mean())  # 0 counts as 1
    assert out["iterations_random_x"] == 15 and out["iterations_smooth_x"] == 3 and out["converged_x"] == 1


def test_unknown_solver_is_refused():
    with pytest.raises(ValueError, match="solver must be one of cg, jacobi_pcg, dcdm"):
        solve(DcdmConfig(solver="gmres"), None, 4, np.ones((16, 1)))


def test_tiny_run_produces_the_metrics_and_logs(tmp_path):
    verdict = run_study("dcdm", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert d["iterations"]["cg"] == d["iterations"]["jacobi_pcg"] > 1  # constant diagonal: identical
    assert d["converged"]["cg"] == d["converged_transfer"]["cg"] == 1.0
    assert d["iterations_transfer"]["cg"] > d["iterations"]["cg"]  # CG needs more on the larger grid
    for arm in verdict.arms:
        growth = d["log_iterations_transfer"][arm] - d["log_iterations"][arm]
        assert math.isclose(d["log_growth"][arm], growth)
    assert d["loss_ratio"]["dcdm"] > 0 and d["log_max_iter"]["dcdm"] == math.log(50)
    table = RunLog.read(tmp_path / "runs" / "dcdm-s0")
    assert {"train_loss", "log10_rel_residual"} <= set(table.column("metric").to_pylist())
    assert {"grid8", "grid12"} <= set(table.column("layer").to_pylist())
