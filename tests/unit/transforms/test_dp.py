"""DP-SGD: per-sample gradients against a loop, clipping bounds, noise statistics, toy problem."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerwise._registry import get
from layerwise.transforms.dp import (
    DPSGD,
    clip_and_sum,
    clip_per_sample,
    layer_budgets,
    per_sample_grads,
    per_sample_norms,
)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 3)).double()


def _batch(b: int = 8):
    return torch.randn(b, 5, dtype=torch.float64), torch.randint(0, 3, (b,))


def _loop_grads(model, x, y):
    out = {n: [] for n, _ in model.named_parameters()}
    for i in range(x.shape[0]):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        for n, p in model.named_parameters():
            out[n].append(p.grad.clone())
    return {n: torch.stack(v) for n, v in out.items()}


def test_per_sample_grads_match_loop():
    model = _model()
    x, y = _batch()
    fast = per_sample_grads(model, F.cross_entropy, x, y)
    slow = _loop_grads(model, x, y)
    assert fast.keys() == slow.keys()
    for n in fast:
        torch.testing.assert_close(fast[n], slow[n], rtol=1e-10, atol=1e-12)


def test_frozen_params_are_skipped_and_tuple_inputs_work():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, u, v):
            return self.a(u) + self.b(v)

    model = Two()
    model.b.weight.requires_grad_(False)
    grads = per_sample_grads(model, F.mse_loss, (torch.randn(4, 3), torch.randn(4, 3)), torch.randn(4, 2))
    assert "b.weight" not in grads and grads["a.weight"].shape == (4, 2, 3)


@pytest.mark.parametrize("per_layer", [False, "uniform", "per_dim"])
def test_clipped_norms_are_bounded(per_layer):
    model = _model()
    x, y = _batch()
    grads = {n: 50 * g for n, g in per_sample_grads(model, F.cross_entropy, x, y).items()}
    clip = 0.3
    clipped = clip_per_sample(grads, clip, per_layer)
    norms = per_sample_norms(clipped)
    assert (norms.pow(2).sum(0).sqrt() <= clip + 1e-6).all()
    if per_layer:
        budgets = layer_budgets(grads, clip, per_layer)
        assert math.isclose(sum(c * c for c in budgets.values()), clip**2)
        for i, n in enumerate(grads):
            assert (norms[i] <= budgets[n] + 1e-6).all()
    # The sum without materialising equals the sum of the clipped samples.
    summed = clip_and_sum(grads, clip, per_layer)
    for n in grads:
        torch.testing.assert_close(summed[n], clipped[n].sum(0))


def test_small_gradients_are_untouched():
    grads = {"w": torch.full((3, 2), 1e-3, dtype=torch.float64)}
    torch.testing.assert_close(clip_per_sample(grads, 1.0, "uniform")["w"], grads["w"])


@pytest.mark.parametrize("per_layer", [False, "uniform"])
def test_no_noise_huge_clip_is_the_mean_gradient(per_layer):
    model = _model()
    x, y = _batch()
    dp = DPSGD(model, F.cross_entropy, clip=1e9, noise_multiplier=0.0, per_layer=per_layer, seed=0)
    dp.step_grads(x, y)
    private = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(private[n], p.grad, rtol=1e-10, atol=1e-12)


def test_noise_std_is_sigma_c_over_b():
    model = nn.Linear(50, 20, bias=False).double()
    nn.init.zeros_(model.weight)
    x, y = torch.zeros(4, 50, dtype=torch.float64), torch.zeros(4, 20, dtype=torch.float64)
    dp = DPSGD(model, F.mse_loss, clip=2.0, noise_multiplier=1.5, seed=0, expected_batch_size=4)
    grads = per_sample_grads(model, F.mse_loss, x, y)  # all zero: the private grad is pure noise
    assert grads["weight"].abs().max() == 0
    draws = torch.stack([dp.private_grads(x, y)["weight"] for _ in range(10)])  # 10,000 noise values
    # Standard error of a sample std over 10,000 draws is 0.7%: allow 4 of them.
    assert abs(draws.std().item() / (1.5 * 2.0 / 4) - 1) < 0.03
    assert abs(draws.mean().item()) < 4 * 0.75 / 100
    # Independent across draws and entries: no two draws agree.
    assert not torch.equal(draws[0], draws[1])


def test_seed_reproduces_noise():
    model = _model()
    x, y = _batch()
    a = DPSGD(model, F.cross_entropy, clip=1.0, noise_multiplier=1.0, seed=3).private_grads(x, y)
    b = DPSGD(model, F.cross_entropy, clip=1.0, noise_multiplier=1.0, seed=3).private_grads(x, y)
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=0, atol=0)


def test_dpsgd_solves_a_toy_problem_and_accounts():
    torch.manual_seed(0)
    x = torch.randn(64, 5, dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(5, 2)).double()
    dp = DPSGD(
        model, F.cross_entropy, clip=1.0, noise_multiplier=0.5, per_layer=True, seed=0, sample_rate=0.1
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = F.cross_entropy(model(x), y).item()
    for _ in range(5):
        dp.step_grads(x, y)
        opt.step()
    assert F.cross_entropy(model(x), y).item() < before
    assert 0 < dp.epsilon(1e-5) < math.inf
    assert get("dp_sgd").obj is DPSGD


def test_dp_aggregate_transform_adapter():
    pytest.importorskip("layerwise.transforms.base", reason="the transform API is not there yet")
    from layerwise.transforms.base import chain, identity
    from layerwise.transforms.dp import dp_aggregate

    model = _model()
    x, y = _batch()
    grads = per_sample_grads(model, F.cross_entropy, x, y)
    params = dict(model.named_parameters())
    exact = dp_aggregate(clip=0.5, noise_multiplier=0.0, per_layer="per_dim")
    out, state = exact.update(grads, exact.init(params), params)
    for n, s in clip_and_sum(grads, 0.5, "per_dim").items():
        torch.testing.assert_close(out[n], s / 8)
    assert state["t"] == 1
    noisy = chain(dp_aggregate(clip=0.5, noise_multiplier=1.0, seed=7), identity())
    s0 = noisy.init(params)
    a, s1 = noisy.update(grads, s0, params)
    b, _ = noisy.update(grads, s0, params)  # same state -> same noise (checkpoint reload)
    c, _ = noisy.update(grads, s1, params)  # next step -> fresh noise
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])


def test_docstring_example():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.transforms.dp")).failed == 0
