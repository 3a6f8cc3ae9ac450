"""FGSM, PGD and the PGD training step: exact steps on a linear model, the eps-ball and [0, 1], errors."""

import doctest

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import layerwise.analysis.attacks as attacks
from layerwise import list_methods
from layerwise.analysis import fgsm, pgd, pgd_training_step


def _linear() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(6, 3).double()


def _loss(model, x, y) -> float:
    return F.cross_entropy(model(x), y).item()


def test_fgsm_is_eps_times_the_sign_of_the_analytic_gradient_on_a_linear_model():
    model = _linear()
    g = torch.Generator().manual_seed(1)
    x = 0.3 + 0.4 * torch.rand(5, 6, generator=g, dtype=torch.float64)  # no clipping at eps 0.1
    y = torch.tensor([0, 1, 2, 0, 1])
    p = (x @ model.weight.T + model.bias).softmax(1)
    grad = (p - F.one_hot(y, 3).double()) @ model.weight  # d CE / d x for logits W x + b
    out = fgsm(model, x, y, eps=0.1)
    assert (grad.abs() > 1e-6).all()  # no zero gradient entries whose sign would be 0
    assert torch.equal(out, x + 0.1 * grad.sign())  # exactly the step, bit for bit
    assert all(p.grad is None for p in model.parameters())  # the input is attacked, not the weights


def test_fgsm_clips_to_the_unit_box_and_eps_zero_is_the_identity():
    model = _linear()
    x = torch.tensor([[0.0, 1.0, 0.02, 0.98, 0.5, 0.5]], dtype=torch.float64)
    y = torch.tensor([2])
    out = fgsm(model, x, y, eps=0.5)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(fgsm(model, x, y, eps=0.0), x)


def test_pgd_stays_in_the_ball_and_the_box_and_raises_the_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    g = torch.Generator().manual_seed(3)
    x = torch.rand(32, 8, generator=g)
    x[:, 0] = 0.0  # rows on the box's faces
    x[:, 1] = 1.0
    y = torch.randint(0, 4, (32,), generator=g)
    out = pgd(model, x, y, eps=0.25, steps=7, generator=torch.Generator().manual_seed(0))
    assert (out - x).abs().max() <= 0.25 + 1e-6
    assert out.min() >= 0 and out.max() <= 1
    clean, attacked = _loss(model, x, y), _loss(model, out, y)
    assert attacked > clean + 0.05
    assert attacked >= _loss(model, fgsm(model, x, y, eps=0.25), y) - 1e-3  # iterating does not lose


def test_attacks_restore_the_mode_and_run_in_eval_mode():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).train()
    x, y = torch.rand(1, 4), torch.tensor([1])  # one row: train-mode BatchNorm would raise
    fgsm(model, x, y, eps=0.1)
    assert model.training


def test_pgd_training_step_at_eps_zero_is_a_plain_step_and_raises_on_bad_eps():
    torch.manual_seed(0)
    a = nn.Linear(4, 3)
    b = nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    x, y = torch.rand(8, 4), torch.randint(0, 3, (8,))
    before = F.cross_entropy(b(x), y).item()
    loss = pgd_training_step(a, torch.optim.SGD(a.parameters(), lr=0.1), x, y, eps=0.0)
    opt = torch.optim.SGD(b.parameters(), lr=0.1)
    F.cross_entropy(b(x), y).backward()
    opt.step()
    assert loss == pytest.approx(before, rel=1e-6) and torch.equal(a.weight, b.weight)
    robust = pgd_training_step(a, torch.optim.SGD(a.parameters(), lr=0.1), x, y, eps=0.1, steps=3)
    assert robust > 0
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\]"):
        pgd_training_step(a, opt, x, y, eps=-0.1)


@pytest.mark.parametrize("eps", [-0.01, 1.5, float("nan")])
def test_eps_outside_the_unit_interval_is_refused(eps):
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\] for inputs in \[0, 1\]"):
        fgsm(_linear(), torch.rand(2, 6, dtype=torch.float64), torch.tensor([0, 1]), eps=eps)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\]"):
        pgd(_linear(), torch.rand(2, 6, dtype=torch.float64), torch.tensor([0, 1]), eps=eps)


def test_empty_inputs_bad_labels_and_steps_are_refused():
    model = _linear()
    with pytest.raises(ValueError, match="non-empty batch"):
        fgsm(model, torch.rand(0, 6, dtype=torch.float64), torch.zeros(0, dtype=torch.long), eps=0.1)
    with pytest.raises(ValueError, match=r"y must be int64 of shape \(2,\)"):
        fgsm(model, torch.rand(2, 6, dtype=torch.float64), torch.tensor([0.0, 1.0]), eps=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        fgsm(model, torch.ones(2, 6, dtype=torch.long), torch.tensor([0, 1]), eps=0.1)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        pgd(model, torch.rand(2, 6, dtype=torch.float64), torch.tensor([0, 1]), eps=0.1, steps=0)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        pgd(model, torch.rand(2, 6, dtype=torch.float64), torch.tensor([0, 1]), eps=0.1, alpha=2.0)


def test_registered_and_the_example_runs():
    names = {e.name for e in list_methods(kind="diagnostic")}
    assert {"fgsm", "pgd", "pgd_training_step"} <= names
    assert doctest.testmod(attacks).failed == 0
