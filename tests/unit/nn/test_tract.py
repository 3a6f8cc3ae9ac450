"""TrAct: both branches agree, ridge normal equations, lambda limit, unchanged bias/input grads."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerwise._registry import get
from layerwise.nn.tract import TrAct, tract_weight_grad


@pytest.mark.parametrize(("big_n", "n"), [(12, 5), (5, 12), (9, 9)])
def test_branches_agree_and_solve_the_ridge_problem(big_n, n):
    a, g = torch.randn(big_n, n, dtype=torch.float64), torch.randn(big_n, 3, dtype=torch.float64)
    l = 0.1
    primal = tract_weight_grad(a, g, l, branch="primal")
    woodbury = tract_weight_grad(a, g, l, branch="woodbury")
    torch.testing.assert_close(primal, woodbury, rtol=1e-6, atol=1e-6)
    # Normal equations (A^T A / N + l I) grad^T = A^T G, checked with a plain solve.
    lhs = a.T @ a / big_n + l * torch.eye(n, dtype=torch.float64)
    torch.testing.assert_close(lhs @ primal.T, a.T @ g, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(primal.T, torch.linalg.solve(lhs, a.T @ g), rtol=1e-9, atol=1e-9)


def test_large_lambda_recovers_the_standard_gradient():
    a, g = torch.randn(20, 6, dtype=torch.float64), torch.randn(20, 4, dtype=torch.float64)
    for l, tol in [(1e4, 1e-3), (1e8, 1e-7)]:
        for branch in ("primal", "woodbury"):
            torch.testing.assert_close(
                l * tract_weight_grad(a, g, l, branch=branch), g.T @ a, rtol=tol, atol=tol
            )


def _grads(module, x):
    x = x.clone().requires_grad_(True)
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
    return out, x.grad


@pytest.mark.parametrize("branch", ["primal", "woodbury"])
def test_linear_wrapper(branch):
    plain = nn.Linear(6, 4).double()
    wrapped = TrAct(nn.Linear(6, 4).double(), l=0.5, branch=branch)
    wrapped.layer.load_state_dict(plain.state_dict())
    x = torch.randn(3, 5, 6, dtype=torch.float64)  # extra leading dims are rows too
    out_p, gx_p = _grads(plain, x)
    out_w, gx_w = _grads(wrapped, x)
    torch.testing.assert_close(out_w, out_p)
    torch.testing.assert_close(gx_w, gx_p)
    torch.testing.assert_close(wrapped.layer.bias.grad, plain.bias.grad)
    g = torch.linspace(-1, 1, out_p.numel(), dtype=torch.float64).view(-1, 4)
    expected = tract_weight_grad(x.reshape(-1, 6), g, 0.5, branch="primal")
    torch.testing.assert_close(wrapped.layer.weight.grad, expected)


@pytest.mark.parametrize(("stride", "padding", "branch"), [(1, 1, "auto"), (2, 0, "woodbury")])
def test_conv_wrapper(stride, padding, branch):
    plain = nn.Conv2d(2, 3, 3, stride=stride, padding=padding).double()
    wrapped = TrAct(nn.Conv2d(2, 3, 3, stride=stride, padding=padding).double(), l=0.1, branch=branch)
    wrapped.layer.load_state_dict(plain.state_dict())
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64)
    out_p, gx_p = _grads(plain, x)
    out_w, gx_w = _grads(wrapped, x)
    torch.testing.assert_close(out_w, out_p)
    torch.testing.assert_close(gx_w, gx_p)
    torch.testing.assert_close(wrapped.layer.bias.grad, plain.bias.grad)
    a = F.unfold(x, 3, padding=padding, stride=stride).transpose(1, 2).reshape(-1, 18)
    g = torch.linspace(-1, 1, out_p.numel(), dtype=torch.float64).view_as(out_p)
    g = g.flatten(2).transpose(1, 2).reshape(-1, 3)
    torch.testing.assert_close(wrapped.layer.weight.grad.reshape(3, -1), tract_weight_grad(a, g, 0.1))
    # Sanity: the standard weight gradient is G^T A on the same rows.
    torch.testing.assert_close(plain.weight.grad.reshape(3, -1), g.T @ a)


def test_rejects_unsupported_layers_and_trains():
    with pytest.raises(TypeError):
        TrAct(nn.Conv1d(1, 1, 3))
    with pytest.raises(ValueError):
        TrAct(nn.Conv2d(4, 4, 3, groups=2))
    torch.manual_seed(0)
    x = torch.randn(32, 4) * torch.rand(32, 1) * 5
    y = x @ torch.randn(4, 2)
    model = TrAct(nn.Linear(4, 2), l=0.1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        loss = F.mse_loss(model(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < losses[0]
    assert get("tract", kind="module").obj is TrAct


def test_docstring_example():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.nn.tract")).failed == 0
