"""top_hessian_eigenvalue: exact on quadratics, equal to the explicit Hessian's on a small MLP."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from layerwise.analysis import top_hessian_eigenvalue


def _quadratic(a: torch.Tensor):
    x = torch.randn(a.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                    requires_grad=True)
    return (lambda: 0.5 * x @ a @ x), [x]


def test_quadratic_top_eigenvalue_is_max_eig_of_a():
    g = torch.Generator().manual_seed(0)
    b = torch.randn(8, 8, dtype=torch.float64, generator=g)
    a = b @ b.T / 8 + torch.diag(torch.tensor([0.0, 1, 2, 3, 4, 5, 6, 12], dtype=torch.float64))  # PSD
    fn, params = _quadratic(a)
    result = top_hessian_eigenvalue(fn, params, iters=2000, tol=1e-13)
    assert result.converged
    assert abs(result.value - torch.linalg.eigvalsh(a).max().item()) < 1e-6
    v = result.vector[0]
    assert torch.allclose(a @ v, result.value * v, atol=1e-5)  # an eigenvector
    assert float(result) == result.value


def test_indefinite_quadratic_returns_the_largest_not_the_largest_magnitude():
    a = torch.diag(torch.tensor([-5.0, -1.0, 0.5, 2.0], dtype=torch.float64))
    fn, params = _quadratic(a)
    value = top_hessian_eigenvalue(fn, params, iters=3000, tol=1e-14).value
    assert abs(value - 2.0) < 1e-6


def test_small_mlp_matches_the_explicit_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    x = torch.randn(16, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(theta):
        parts = torch.split(theta, [s.numel() for s in shapes])
        params = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss_of, flat)
    expected = torch.linalg.eigvalsh(hessian).max().item()
    result = top_hessian_eigenvalue(lambda: F.cross_entropy(model(x), y), model, iters=5000, tol=1e-14)
    assert abs(result.value - expected) < 1e-6
    assert len(result.vector) == len(shapes)


def test_warm_start_converges_at_once_and_linear_loss_has_zero_hessian():
    a = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    fn, params = _quadratic(a)
    first = top_hessian_eigenvalue(fn, params, iters=500, tol=1e-12)
    again = top_hessian_eigenvalue(fn, params, iters=500, tol=1e-12, init=first.vector)
    assert again.iterations <= 2 and abs(again.value - 4.0) < 1e-9
    w = torch.ones(3, requires_grad=True)
    assert top_hessian_eigenvalue(lambda: (2 * w).sum(), [w]).value == 0.0


def test_bad_input_names_the_argument():
    fn, params = _quadratic(torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="iters"):
        top_hessian_eigenvalue(fn, params, iters=0)
    with pytest.raises(ValueError, match="tol"):
        top_hessian_eigenvalue(fn, params, tol=0.0)
    with pytest.raises(ValueError, match="params"):
        top_hessian_eigenvalue(fn, nn.ReLU())
    with pytest.raises(ValueError, match="scalar"):
        top_hessian_eigenvalue(lambda: params[0] * 2, params)
    with pytest.raises(ValueError, match="init"):
        top_hessian_eigenvalue(fn, params, init=[torch.ones(3)])
