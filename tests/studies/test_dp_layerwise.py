"""dp-layerwise: user-level delta clipping (global vs per leaf), the 2x2 arms, shards, server LAMB."""

import math

import pytest
import torch

from layerwise import RunLog
from layerwise.data import digits
from layerwise.models import MLP
from layerwise.studies import get_study, run_study
from layerwise.studies.dp_layerwise import (
    DPLayerwiseConfig,
    ServerOptimizer,
    clip_deltas,
    local_deltas,
    make_shards,
)


def test_tiny_run_logs_both_noise_levels_and_user_level_epsilon(tmp_path):
    verdict = run_study("dp-layerwise", size="tiny", out=tmp_path, progress=False, report=False)
    for arm in ("global-adam", "global-lamb", "layer-adam", "layer-lamb"):
        assert 0.0 <= verdict.details["acc"][arm] <= 1.0 and 0.0 <= verdict.details["acc_clean"][arm] <= 1.0
        assert 0 < verdict.details["epsilon"][arm] < math.inf
    table = RunLog.read(tmp_path / "runs" / "layer-lamb-s0")
    metrics = set(table.column("metric").to_pylist())
    assert {"delta_norm", "test_acc@sigma=1", "test_acc@sigma=0"} <= metrics
    assert {"blocks.0.linear", "blocks.1.linear", "head"} <= set(table.column("layer").to_pylist())


def test_arms_are_the_2x2_factorial_and_the_claim_is_clipping_inside_lamb():
    study = get_study("dp-layerwise")
    assert study.config("full") == DPLayerwiseConfig()
    cells = {arm: (study.config("full", arm=arm).clipping, study.config("full", arm=arm).server)
             for arm in study.arms}
    assert cells == {"global-adam": ("global", "adam"), "global-lamb": ("global", "lamb"),
                     "layer-adam": ("layer", "adam"), "layer-lamb": ("layer", "lamb")}
    assert (study.rule.treatment, study.rule.baseline) == ("layer-lamb", "global-lamb")
    assert study.seeds["full"] >= 5


@pytest.mark.parametrize("clipping", ["global", "layer"])
def test_each_client_delta_is_clipped_to_c_and_per_layer_sets_every_leaf(clipping):
    cfg = DPLayerwiseConfig(clip=1.0, clipping=clipping)
    big = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([0.0, 0.01]), "c": torch.tensor([2.0])}
    small = {n: v * 0.01 for n, v in big.items()}
    total = clip_deltas([big], cfg)
    norms = {n: v.norm().item() for n, v in total.items()}
    assert math.sqrt(sum(v * v for v in norms.values())) == pytest.approx(1.0)  # at the bound C
    if clipping == "layer":  # every leaf set to C / sqrt(L): the tiny leaf "b" is amplified
        assert all(v == pytest.approx(1 / math.sqrt(3)) for v in norms.values())
    else:  # one factor for the whole delta: the direction is kept
        torch.testing.assert_close(total["a"] / total["c"], big["a"] / big["c"])
    below = clip_deltas([small, small], cfg)  # under C nothing changes; the cohort's deltas add up
    for n in big:
        torch.testing.assert_close(below[n], 2 * small[n])


def test_local_training_clips_each_step():
    cfg = DPLayerwiseConfig(local_steps=3, local_batch=8, client_lr=0.2, local_clip=1.0)
    split = digits(flat=True, seed=0)
    model = MLP(in_dim=64, out_dim=10, depth=2, width=16, init="kaiming")
    server = {n: p.detach().clone() for n, p in model.named_parameters()}
    picks = torch.randint(len(split.y_train), (2, 3, 8), generator=torch.Generator().manual_seed(0))
    deltas = local_deltas(model, server, split.x_train[picks], split.y_train[picks], cfg)
    assert len(deltas) == 2
    for delta in deltas:
        norm = math.sqrt(sum(float(d.square().sum()) for d in delta.values()))
        assert 0 < norm <= cfg.local_steps * cfg.client_lr * cfg.local_clip + 1e-6
    assert any((deltas[0][n] - deltas[1][n]).abs().max() > 0 for n in server)  # different data


def test_shards_are_non_iid_and_cover_the_data():
    y = digits(seed=0).y_train
    shards = make_shards(y, n_clients=50, labels_per_client=2, seed=0)
    assert sorted(torch.cat(shards).tolist()) == list(range(len(y)))
    assert max(len(torch.unique(y[s])) for s in shards) <= 4  # a piece may straddle two labels


def test_server_lamb_matches_a_naive_reference():
    torch.manual_seed(0)
    w = {"a": torch.randn(3, 4), "b": torch.randn(4)}
    ref = {n: p.clone() for n, p in w.items()}
    opt = ServerOptimizer(w, lr=0.1, lamb=True)
    m = {n: torch.zeros_like(p) for n, p in ref.items()}
    v = {n: torch.zeros_like(p) for n, p in ref.items()}
    for t in range(1, 4):
        grads = {n: torch.randn_like(p) for n, p in ref.items()}
        opt.step(grads)
        for n, g in grads.items():
            m[n] = 0.9 * m[n] + 0.1 * g
            v[n] = 0.999 * v[n] + 0.001 * g * g
            u = (m[n] / (1 - 0.9**t)) / ((v[n] / (1 - 0.999**t)).sqrt() + 1e-8)
            ref[n] = ref[n] - 0.1 * u * ref[n].norm() / u.norm()
    for n in w:
        torch.testing.assert_close(w[n], ref[n])
