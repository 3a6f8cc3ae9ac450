"""pinn-helmholtz: arms change the network and the loss weight, the gradient imbalance, the log scale."""

import math

import torch

from layerwise import RunLog
from layerwise.multiloss import GatedMLP, Helmholtz2D
from layerwise.studies import get_study, run_study
from layerwise.studies.pinn_helmholtz import (
    PinnHelmholtzConfig,
    PlainMLP,
    initial_imbalance,
    make_model,
    pinn_losses,
)


def test_arms_are_deltas_of_the_network_and_the_annealing():
    study = get_study("pinn-helmholtz")
    assert study.config("full") == PinnHelmholtzConfig() and PinnHelmholtzConfig().steps == 5000
    m1, m4 = study.config("full", arm="plain"), study.config("full", arm="gated-annealed")
    assert isinstance(make_model(m1), PlainMLP) and isinstance(make_model(m4), GatedMLP)
    assert m4.annealed and not m1.annealed
    assert study.rule.metric == "log10_rel_l2" and study.rule.min_effect == 1.0  # a factor of 10


def test_tiny_run_moves_lambda_only_when_annealed_and_logs_the_imbalance(tmp_path):
    verdict = run_study("pinn-helmholtz", size="tiny", out=tmp_path, progress=False, report=False)
    lam = verdict.details["final_lambda"]
    assert lam["plain"] == 1.0 and lam["annealed"] != 1.0 and lam["gated-annealed"] != 1.0
    for arm in verdict.arms:
        err = verdict.details["rel_l2"][arm]
        assert math.isclose(verdict.details["log10_rel_l2"][arm], math.log10(err), rel_tol=1e-9)
    table = RunLog.read(tmp_path / "runs" / "gated-annealed-s0")
    metric, step = table.column("metric").to_pylist(), table.column("step").to_pylist()
    assert sorted({s for m, s in zip(metric, step, strict=True) if m == "res_over_bc"}) == [0, 4]  # every=4
    layers = set(table.column("layer").to_pylist())
    assert {"encoder_u", "hidden.0", "out"} <= layers
    assert {"cos/res-bc", "gms/res-bc", "conflict_freq", "lam", "rel_l2"} <= set(metric)


def test_residual_gradients_dwarf_boundary_gradients_at_init():
    # The paper's pathology: max |grad L_r| / mean |grad L_b| >> 1 at initialisation (a2 = 4).
    torch.manual_seed(0)
    model = make_model(PinnHelmholtzConfig())
    res, bc = pinn_losses(Helmholtz2D(), model, 64, torch.Generator().manual_seed(0))
    assert initial_imbalance(model, res, bc) > 10.0
