"""Noise-adaptive layerwise Muon (LANTON): the scaling rule, the estimators, a toy problem."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerwise._registry import get
from layerwise.optim import Muon, NoiseAdaptiveMuon, noise_adaptive_param_groups
from layerwise.optim.noise_adaptive import dual_norm, noise_lr_ratios


def test_ratio_rule():
    noise = torch.tensor([1.0, 4.0, 16.0, 0.0])
    r = noise_lr_ratios(noise, (0.1, 10.0))
    mean = 7.0  # over the three layers with an estimate
    torch.testing.assert_close(r[:3], (mean / noise[:3]).sqrt())
    assert r[3] == 1.0
    assert r[0] > r[1] > r[2]  # noisier -> smaller learning rate
    torch.testing.assert_close(
        noise_lr_ratios(torch.tensor([1e-12, 1.0]), (0.1, 10.0))[0], torch.tensor(10.0)
    )
    torch.testing.assert_close(noise_lr_ratios(torch.zeros(3)), torch.ones(3))


def test_dual_norms():
    d = torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(dual_norm(d, "spectral"), torch.linalg.svdvals(d).sum())
    torch.testing.assert_close(dual_norm(d, "sign"), d.abs().sum())
    assert dual_norm(d, "spectral", bound=True) >= dual_norm(d, "spectral")


@pytest.mark.parametrize("estimator", ["diff", "momentum"])
def test_noisier_layer_gets_smaller_lr(estimator):
    gen = torch.Generator().manual_seed(0)
    quiet, noisy = nn.Parameter(torch.zeros(8, 8)), nn.Parameter(torch.zeros(8, 8))
    opt = NoiseAdaptiveMuon(
        [{"params": [quiet, noisy], "names": ["quiet", "noisy"]}], lr=0.01, estimator=estimator, beta2=0.9
    )
    signal = torch.randn(8, 8, generator=gen)
    for _ in range(30):
        quiet.grad = signal + 0.1 * torch.randn(8, 8, generator=gen)
        noisy.grad = signal + 1.0 * torch.randn(8, 8, generator=gen)
        opt.step()
    lr, noise = opt.layer_lr, opt.layer_noise
    assert noise["noisy"] > 3 * noise["quiet"]  # 10x the noise; "momentum" also sees the signal
    assert lr["noisy"] < lr["quiet"]
    # The rule as stated: lr_l = lr * clip(sqrt(mean N / N_l), 0.1, 10).
    mean = (noise["quiet"] + noise["noisy"]) / 2
    for name in ("quiet", "noisy"):
        expected = 0.01 * min(10.0, max(0.1, (mean / noise[name]) ** 0.5))
        assert lr[name] == pytest.approx(expected, rel=1e-5)


def test_equal_noise_reduces_to_muon():
    # With one layer per group the ratio is 1 and the update is Muon's (EMA momentum, Nesterov).
    w0 = torch.randn(6, 10)
    a, b = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    ours = NoiseAdaptiveMuon([a], lr=0.03, momentum=0.9)
    ref = Muon([b], lr=0.03, momentum=0.9)
    for _ in range(3):
        g = torch.randn(6, 10)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(a, b)


def test_solves_a_small_problem():
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    y = torch.tanh(x @ torch.randn(10, 16)) @ torch.randn(16, 3)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3))
    groups = noise_adaptive_param_groups(model, lr=0.05, sign_lr=1e-2)
    assert [g["lmo"] for g in groups] == ["spectral", "sign", "sign"]
    opt = NoiseAdaptiveMuon(groups, dual_norm="bound")
    losses = []
    for _ in range(40):
        idx = torch.randint(0, 64, (16,))
        loss = F.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(F.mse_loss(model(x), y).item())
    assert losses[-1] < 0.2 * losses[0]
    assert set(opt.layer_lr) == {n for n, _ in model.named_parameters()}
    assert get("noise_adaptive_muon").obj is NoiseAdaptiveMuon


def test_validation_and_docstring():
    with pytest.raises(ValueError):
        NoiseAdaptiveMuon([nn.Parameter(torch.ones(3))])  # spectral needs matrices
    with pytest.raises(ValueError):
        NoiseAdaptiveMuon([nn.Parameter(torch.ones(3, 3))], estimator="nope")
    assert doctest.testmod(importlib.import_module("layerwise.optim.noise_adaptive")).failed == 0
