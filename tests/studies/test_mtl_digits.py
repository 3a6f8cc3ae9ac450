"""mtl-digits at a tiny size: verdict structure, per-layer conflict logs, the magnitude conflict."""

import json

import torch

from layerwise import RunLog
from layerwise.multiloss import ParamLayout, magnitude_similarity, per_loss_grads
from layerwise.studies import run_study
from layerwise.studies.mtl_digits import TwoHeads, evaluate, losses

TINY = dict(width="16", steps="6", batch_size="16", every="2")


def test_smoke_run_writes_verdict_and_conflict_heatmap_rows(tmp_path):
    verdict = run_study("mtl-digits", out=tmp_path, overrides=TINY, progress=False, report=False)
    saved = json.loads((tmp_path / "verdict.json").read_text())
    assert saved["verdict"] == "not-judged" and saved["metric"] == "mean_perf"
    assert set(saved["arms"]) == {"sum", "pcgrad", "samgs", "mgda"} and saved["treatment"] == "samgs"
    for arm in saved["arms"]:
        (value,) = saved["arms"][arm]["values"]
        assert -5.0 < value <= 1.0  # R^2 can be negative after 6 steps; accuracy is in [0, 1]
        assert 0.0 <= verdict["details"]["conflict_freq"][arm] <= 1.0
    table = RunLog.read(tmp_path / "runs" / "pcgrad-s0")
    assert {"trunk.0", "trunk.2"} <= set(table.column("layer").to_pylist())
    metrics = set(table.column("metric").to_pylist())
    assert {"cos/cls-reg", "gms/cls-reg", "conflict_freq", "loss_reg", "val_acc"} <= metrics


def test_the_scaled_regression_dominates_the_trunk_gradients():
    torch.manual_seed(0)
    model = TwoHeads(16)
    x, y = torch.rand(8, 64), torch.arange(8)
    grads = per_loss_grads(list(losses(model, x, y, 100.0)), list(model.trunk.parameters()))
    norms = grads.norm(dim=1)
    assert norms[1] > 3 * norms[0]  # a magnitude conflict: the x100 MSE outweighs the cross-entropy
    assert float(magnitude_similarity(grads)[0, 1]) < 0.7  # SAM-GS's equalisation branch would fire
    layout = ParamLayout.from_named(model.trunk.named_parameters(prefix="trunk"))
    assert list(layout.layer_slices()) == ["trunk.0", "trunk.2"]
    scores = evaluate(model, x, y)
    assert 0.0 <= scores["val_acc"] <= 1.0 and scores["mean_perf"] <= 1.0
