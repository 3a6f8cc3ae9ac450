"""mtl-digits: Delta-m against the seed's single-task models, the magnitude conflict, the arms."""

import math

import torch

from layerwise import RunLog
from layerwise.multiloss import ParamLayout, magnitude_similarity, per_loss_grads
from layerwise.studies import get_study, mtl_digits, run_study
from layerwise.studies.mtl_digits import (
    MtlDigitsConfig,
    TwoHeads,
    delta_m,
    evaluate,
    losses,
    single_task,
)


def test_delta_m_is_the_mean_relative_change_with_signs():
    ref = {"val_acc": 0.8, "val_mse": 0.02}
    assert delta_m(0.8, 0.02, ref) == 0.0
    assert math.isclose(delta_m(0.72, 0.02, ref), 5.0)  # 10% lower accuracy: +10 / 2 tasks
    assert math.isclose(delta_m(0.8, 0.01, ref), -25.0)  # half the error: -50 / 2
    assert math.isnan(delta_m(math.nan, 0.02, ref))  # a diverged model is scored by the rule's worst


def test_single_task_reference_does_not_depend_on_where_it_is_computed():
    cfg = MtlDigitsConfig(width=8, steps=5, batch_size=8)
    torch.manual_seed(123)
    first = single_task(cfg, seed=7)
    mtl_digits._SINGLE.clear()  # recompute, from another global random state
    torch.manual_seed(456)
    before = torch.get_rng_state()
    second = single_task(cfg, seed=7)
    assert first == second and torch.equal(torch.get_rng_state(), before)  # the global stream is untouched


def test_tiny_run_pairs_every_multi_task_arm_with_the_seeds_single_task_models(tmp_path):
    verdict = run_study("mtl-digits", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert d["delta_m"]["single-task"] == 0.0
    for arm in ("sum", "samgs", "pcgrad", "mgda", "sum-sgd", "samgs-sgd"):
        assert d["single_acc"][arm] == d["val_acc"]["single-task"]
        assert d["single_mse"][arm] == d["val_mse"]["single-task"]
        want = delta_m(d["val_acc"][arm], d["val_mse"][arm], {"val_acc": d["single_acc"][arm],
                                                             "val_mse": d["single_mse"][arm]})
        assert math.isclose(d["delta_m"][arm], want, rel_tol=1e-9) or math.isnan(want)
    table = RunLog.read(tmp_path / "runs" / "pcgrad-s0")
    assert {"trunk.0", "trunk.2"} <= set(table.column("layer").to_pylist())
    assert {"cos/cls-reg", "gms/cls-reg", "conflict_freq", "loss_reg", "val_acc"} <= set(
        table.column("metric").to_pylist())


def test_arms_are_deltas_and_the_sgd_arms_clip_the_trunk():
    study = get_study("mtl-digits")
    assert study.config("full") == MtlDigitsConfig() and study.seeds["full"] >= 5
    sgd = study.config("full", arm="samgs-sgd")
    assert (sgd.aggregator, sgd.optimizer, sgd.clip) == ("samgs", "sgd", 1.0)
    assert study.config("full", arm="samgs").optimizer == "adam"
    assert (study.rule.treatment, study.rule.baseline, study.rule.better) == ("samgs", "sum", "lower")


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
    assert 0.0 <= scores["val_acc"] <= 1.0 and scores["val_mse"] > 0
