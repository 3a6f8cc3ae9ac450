"""ScaledLR: each step at factor x the rate the schedule set, the schedule's rate left in place."""

from __future__ import annotations

import pytest
import torch

from layerwise.transforms import ScaledLR, SkipNonfinite


def _sgd_pair(factor: float):
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    wrapped = ScaledLR(torch.optim.SGD(b.parameters(), lr=0.5), factor)
    return a, b, torch.optim.SGD(a.parameters(), lr=0.5), wrapped


def _step(model, opt, lr, x):
    opt.param_groups[0]["lr"] = lr  # a schedule's write before the step
    model(x).pow(2).sum().backward()
    opt.step()
    opt.zero_grad()


def test_every_step_runs_at_factor_times_the_scheduled_rate():
    plain, scaled, opt, wrapped = _sgd_pair(0.25)
    x = torch.randn(4, 3)
    for rate in (0.4, 0.8, 1.6):  # a warm-up: the plain run at 0.25 x the rates matches the wrapped one
        _step(plain, opt, 0.25 * rate, x)
        _step(scaled, wrapped, rate, x)
        assert wrapped.param_groups[0]["lr"] == rate  # the schedule's own rate, restored after the step
    for p, q in zip(plain.parameters(), scaled.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7)


def test_adam_state_and_the_rate_survive_a_checkpoint_and_the_factor_is_checked():
    w = torch.nn.Parameter(torch.ones(2))
    opt = ScaledLR(torch.optim.Adam([w], lr=0.1), 0.5)
    w.grad = torch.ones(2)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((2,), 0.95))  # Adam's first step: the rate, 0.05
    state = opt.state_dict()
    again = ScaledLR(torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], lr=0.1), 1.0)
    again.load_state_dict(state)
    assert again.factor == 0.5 and again.optimizer.state_dict()["state"][0]["step"] == 1
    for bad in (-1.0, float("nan"), float("inf"), "0.5"):
        with pytest.raises(ValueError, match="finite number >= 0"):
            ScaledLR(torch.optim.SGD([w], lr=0.1), bad)
    with pytest.raises(TypeError, match="wraps an optimizer"):
        ScaledLR(object(), 0.5)


def test_a_guard_inside_still_skips_and_says_so():
    w = torch.nn.Parameter(torch.ones(1))
    opt = ScaledLR(SkipNonfinite(torch.optim.SGD([w], lr=1.0)), 0.1)
    assert opt.skips_nonfinite
    w.grad = torch.tensor([float("nan")])
    assert opt.step() is False and w.item() == 1.0
    w.grad = torch.ones(1)
    assert opt.step() is True and w.item() == pytest.approx(0.9)
    assert not ScaledLR(torch.optim.SGD([w], lr=1.0), 0.1).skips_nonfinite
