"""SkipNonfinite: a finite step is the wrapped optimizer's step exactly; a non-finite one changes
no parameter, optimizer state or (given the model) BatchNorm statistic."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from layerwise.transforms import SkipNonfinite, TransformedOptimizer, clip_per_layer


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def _backward(model: nn.Module, x: torch.Tensor) -> None:
    model(x).pow(2).mean().backward()


def test_a_finite_step_is_the_plain_step():
    plain, guarded = _net(), _net()
    opt_a = torch.optim.Adam(plain.parameters(), lr=0.1)
    opt_b = SkipNonfinite(torch.optim.Adam(guarded.parameters(), lr=0.1), guarded)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        _backward(plain, x), _backward(guarded, x)
        opt_a.step(), opt_a.zero_grad()
        assert opt_b.step() is True
        opt_b.zero_grad()
    for a, b in zip(plain.state_dict().values(), guarded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert opt_b.skipped == [] and opt_b.calls == 3


def test_a_nan_batch_changes_nothing_and_is_counted():
    model = _net()
    opt = SkipNonfinite(torch.optim.Adam(model.parameters(), lr=0.1), model)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(2))
    _backward(model, x)
    opt.step(), opt.zero_grad()
    weights, state = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    bad = x.clone()
    bad[0, 0] = float("inf")
    _backward(model, bad)  # the forward pass writes inf/NaN into the BatchNorm running mean
    assert not torch.isfinite(model[1].running_mean).all()
    assert opt.step() is False
    opt.zero_grad()
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert opt.skipped == [1]
    exp_avg = opt.state_dict()["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(exp_avg, state["optimizer"]["state"][0]["exp_avg"])


def test_it_wraps_a_transformed_optimizer():
    model = _net()
    inner = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), clip_per_layer(C=1.0),
                                 model.named_parameters())
    opt = SkipNonfinite(inner)
    before = model[0].weight.detach().clone()
    _backward(model, torch.full((4, 3), float("nan")))
    assert opt.step() is False and torch.equal(model[0].weight, before) and inner.steps == 0


def test_not_an_optimizer_is_refused():
    with pytest.raises(TypeError, match="wraps an optimizer"):
        SkipNonfinite(nn.Linear(2, 2))


def test_the_monitor_reads_the_torch_optimizer_inside_nested_wrappers():
    from layerwise import Monitor
    from layerwise.monitor.monitor import unwrap_optimizer

    model = _net()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    opt = SkipNonfinite(TransformedOptimizer(sgd, clip_per_layer(C=1.0), model.named_parameters()), model)
    assert unwrap_optimizer(opt) is sgd
    with Monitor(model, optimizer=opt, metrics=["update_ratio"]) as mon:
        with mon.step(0):
            _backward(model, torch.randn(8, 3))
        opt.step()
        opt.zero_grad()
        rows = [r for r in mon.table().to_pylist() if r["metric"] == "update_ratio"]
    assert rows and all(r["value"] > 0 for r in rows)
