"""The first NaN/Inf is located by layer, step and tensor, in forward and backward order."""

import pytest
import torch
from torch import nn

from layerwise import Monitor, NonFiniteError


class Poison(nn.Module):
    """Identity that turns its output (or the gradient through it) into NaN from step `at` on."""

    def __init__(self, where: str):
        super().__init__()
        self.where, self.on = where, False

    def forward(self, x):
        if self.on and self.where == "forward":
            return x * float("nan")
        if self.on and self.where == "backward":
            return _NanGrad.apply(x)
        return x


class _NanGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("inf")


def model_with_poison(where):
    torch.manual_seed(0)
    poison = Poison(where)
    blocks = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), poison),
                           nn.Linear(4, 4), nn.Linear(4, 2))
    return blocks, poison


def test_forward_nan_raises_naming_first_layer_and_step():
    model, poison = model_with_poison("forward")
    x = torch.randn(3, 4)
    with Monitor(model) as mon:
        with mon.step(0):
            model(x).sum().backward()
        poison.on = True
        with (pytest.raises(NonFiniteError, match=r"step 1 in the forward pass.*layer '2'") as err,
              mon.step(1)):
            model(x).sum().backward()
    assert err.value.event.layer == "2" and err.value.event.direction == "forward"


def test_backward_inf_is_located_in_backward_order_and_recorded():
    model, poison = model_with_poison("backward")
    poison.on = True
    with Monitor(model, on_nonfinite="record") as mon:
        with mon.step(5):
            model(torch.randn(3, 4)).sum().backward()
        events = list(mon.events)
        table = mon.table().to_pylist()
    # the poisoned gradient leaves layer 2 towards layer 1: layer 1's output gradient is first
    assert [(e.direction, e.layer, e.step) for e in events] == [("backward", "1", 5)]
    assert {"step": 5, "layer": "1", "metric": "nonfinite_backward", "value": 1.0} in table


def test_finite_training_records_no_event():
    model, _ = model_with_poison("forward")
    with Monitor(model, on_nonfinite="record") as mon:
        with mon.step(0):
            model(torch.randn(3, 4)).sum().backward()
        assert mon.events == []
