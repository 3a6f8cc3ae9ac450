"""pinn-helmholtz at a tiny size: verdict structure, lambda trajectory, the gradient imbalance."""

import json
import math

import torch

from layerwise import RunLog
from layerwise.multiloss import Helmholtz2D
from layerwise.studies import run_study
from layerwise.studies.pinn_helmholtz import PinnHelmholtzConfig, initial_imbalance, make_model, pinn_losses

TINY = dict(width="8", depth="2", steps="12", batch_size="16", anneal_every="5", every="4", grid="10")


def test_smoke_run_writes_verdict_and_lambda_trajectory(tmp_path):
    verdict = run_study("pinn-helmholtz", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["verdict"] == "not-judged" and saved["better"] == "lower"
    assert set(saved["arms"]) == {"plain", "annealed", "gated", "gated-annealed"}
    for arm in saved["arms"]:
        (value,) = saved["arms"][arm]["values"]
        assert math.isfinite(value) and 0.1 < value < 100.0  # untrained: error of order one
    lam = verdict["details"]["final_lambda"]
    assert lam["plain"] == 1.0 and lam["annealed"] != 1.0  # only annealed arms move lambda
    table = RunLog.read(tmp_path / "runs" / "gated-annealed-s0").to_pandas()
    assert (table.metric == "lam").sum() == 12  # lambda logged at every step
    layers = set(table.layer[table.metric == "res_over_bc"])
    assert {"encoder_u", "hidden.0", "out"} <= layers
    assert {"cos/res-bc", "gms/res-bc", "conflict_freq"} <= set(table.metric)


def test_residual_gradients_dwarf_boundary_gradients_at_init():
    # The paper's pathology: max |grad L_r| / mean |grad L_b| >> 1 at initialisation (a2 = 4).
    torch.manual_seed(0)
    model = make_model(PinnHelmholtzConfig(), "plain")
    res, bc = pinn_losses(Helmholtz2D(), model, 64, torch.Generator().manual_seed(0))
    assert initial_imbalance(model, res, bc) > 10.0
