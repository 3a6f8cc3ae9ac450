"""shampoo(): the package's optimizer with the spec's names, checked against a naive first step."""

from __future__ import annotations

import sys

import pytest
import torch

from layerwise._registry import _ENTRIES
from layerwise.optim import shampoo

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")


def _inv_root(m: torch.Tensor, p: int) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m.double())
    return (vecs * vals.pow(-1.0 / p)) @ vecs.T


def test_factory_returns_the_package_optimizer_with_mapped_settings():
    w = torch.nn.Parameter(torch.zeros(3, 2))
    opt = shampoo([w], lr=0.05, eps=1e-3, update_every=4, momentum=0.5, weight_decay=0.01)
    assert type(opt) is pytorch_optimizer.Shampoo
    group = opt.param_groups[0]
    assert (group["lr"], group["matrix_eps"], group["momentum"], group["weight_decay"]) == (
        0.05, 1e-3, 0.5, 0.01)
    assert opt.preconditioning_compute_steps == 4
    entry = _ENTRIES[("optimizer", "shampoo")]  # not get(): it would import every provider
    assert entry.obj is shampoo and entry.arxiv == "1802.09568"


def test_first_step_is_left_and_right_inverse_fourth_roots():
    """W <- W - lr (eps I + G G^T)^(-1/4) G (eps I + G^T G)^(-1/4), computed naively in float64."""
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(5, 3, generator=g)
    grad = torch.randn(5, 3, generator=g)
    w = torch.nn.Parameter(w0.clone())
    opt = shampoo([w], lr=0.1, eps=1e-2)
    w.grad = grad.clone()
    opt.step()
    gd = grad.double()
    left = _inv_root(1e-2 * torch.eye(5, dtype=torch.float64) + gd @ gd.T, 4)
    right = _inv_root(1e-2 * torch.eye(3, dtype=torch.float64) + gd.T @ gd, 4)
    expected = w0.double() - 0.1 * left @ gd @ right
    torch.testing.assert_close(w.detach().double(), expected, rtol=1e-4, atol=1e-5)


def test_update_every_leaves_the_first_steps_unpreconditioned_zero():
    w = torch.nn.Parameter(torch.ones(4))
    opt = shampoo([w], lr=0.1, update_every=3)
    for _ in range(2):
        w.grad = torch.ones(4)
        opt.step()
    assert torch.equal(w.detach(), torch.ones(4))  # the inverse roots are computed at step 3
    w.grad = torch.ones(4)
    opt.step()
    assert bool((w.detach() < 1).all())


def test_solves_a_least_squares_problem():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 6, generator=g)
    target = torch.randn(6, 3, generator=g)
    y = x @ target
    w = torch.nn.Parameter(torch.zeros(6, 3))
    opt = shampoo([w], lr=0.3)
    first = None
    for _ in range(300):
        loss = (x @ w - y).square().mean()
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert (x @ w - y).square().mean().item() < 1e-3 * first


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"lr": 0.0}, "lr"), ({"eps": -1.0}, "eps"), ({"update_every": 0}, "update_every"),
    ({"update_every": 1.5}, "update_every"), ({"momentum": 1.0}, "momentum"),
    ({"weight_decay": -0.1}, "weight_decay"),
])
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        shampoo([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_optimizer", None)
    with pytest.raises(ImportError, match=r"layerwise\[shampoo\]"):
        shampoo([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
