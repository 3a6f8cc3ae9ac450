import math

import pytest
import torch
from torch import nn

from layerwise.transforms import GradientReversal, GradReverse, dann_lambda, grad_reverse


def test_dann_lambda_schedule():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(0.5) == pytest.approx(0.98661429815)
    values = [dann_lambda(p / 10) for p in range(11)]
    assert values == sorted(values) and values[-1] < 1
    assert dann_lambda(0.1, gamma=1.0) == pytest.approx(2 / (1 + math.exp(-0.1)) - 1)


@pytest.mark.parametrize("lam", [1.0, 0.25, 3.0, 0.0])
def test_forward_is_identity_backward_is_minus_lambda(lam):
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(4, 3)
    y = grad_reverse(x, lam)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, -lam * w)


def test_reversed_gradient_equals_minus_lambda_times_plain_through_a_network():
    torch.manual_seed(0)
    feat, head = nn.Linear(3, 5), nn.Linear(5, 2)
    x = torch.randn(6, 3)

    def grads(reverse):
        feat.zero_grad()
        head.zero_grad()
        h = feat(x)
        h = GradReverse(0.7)(h) if reverse else h
        head(h).logsumexp(-1).mean().backward()
        return feat.weight.grad.clone(), head.weight.grad.clone()

    (f_plain, h_plain), (f_rev, h_rev) = grads(False), grads(True)
    torch.testing.assert_close(f_rev, -0.7 * f_plain)  # layers below: reversed and scaled
    torch.testing.assert_close(h_rev, h_plain)  # layers above: untouched


def test_module_with_schedule_follows_progress():
    grl = GradReverse(dann_lambda)
    x = torch.ones(2, requires_grad=True)
    grl(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(2))  # progress 0: lambda 0
    grl.progress = 0.3
    assert grl.current_lambda == pytest.approx(dann_lambda(0.3))
    x.grad = None
    grl(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), -dann_lambda(0.3)))
    assert "dann_lambda" in repr(grl) and "0.3" in repr(grl)
    assert GradReverse(2.0).current_lambda == 2.0


def test_gradcheck_double():
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: GradientReversal.apply(t, -1.0), (x,))  # lambda -1: identity
