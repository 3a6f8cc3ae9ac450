"""Per-loss gradients, the per-layer layout, writing gradients back, the full multi-loss step."""

import pytest
import torch
from torch import nn

from layerwise.multiloss import ParamLayout, PerLayer, aggregate_backward, per_loss_grads, write_grad


def _net():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4))
    heads = nn.ModuleList([nn.Linear(4, 1), nn.Linear(4, 2)])
    return trunk, heads


def _losses(trunk, heads, x):
    h = trunk(x)
    return [heads[0](h).pow(2).mean(), (heads[1](h) - 1).abs().mean()]


def _naive(trunk, heads, x):
    rows = []
    for k in range(2):
        trunk.zero_grad()
        _losses(trunk, heads, x)[k].backward()
        rows.append(torch.cat([p.grad.reshape(-1).clone() for p in trunk.parameters()]))
    trunk.zero_grad()
    return torch.stack(rows)


@pytest.mark.parametrize("batched", [False, True])
def test_per_loss_grads_match_one_backward_per_loss(batched):
    trunk, heads = _net()
    x = torch.randn(6, 3)
    got = per_loss_grads(_losses(trunk, heads, x), trunk, batched=batched)
    assert got.shape == (2, sum(p.numel() for p in trunk.parameters()))
    torch.testing.assert_close(got, _naive(trunk, heads, x))


def test_unreached_parameters_get_zero_rows():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(3))
    g = per_loss_grads([(2 * a).sum(), (3 * b).sum()], [a, b])
    torch.testing.assert_close(g, torch.tensor([[2.0, 2, 0, 0, 0], [0, 0, 3, 3, 3]]))


def test_layout_splits_columns_by_layer_and_unflattens():
    trunk, _ = _net()
    layout = ParamLayout.from_module(trunk)
    assert layout.layer_slices() == {"0": slice(0, 20), "2": slice(20, 44)}
    flat = torch.arange(44.0)
    parts = layout.split(torch.stack([flat, -flat]))
    assert parts["2"].shape == (2, 24) and parts["0"][1, 3] == -3
    tensors = layout.unflatten(flat)
    assert [t.shape for t in tensors] == [p.shape for p in trunk.parameters()]
    with pytest.raises(ValueError, match="44"):
        layout.split(torch.zeros(2, 5))
    named = [("a.w", torch.zeros(2)), ("b.w", torch.zeros(1)), ("a.b", torch.zeros(1))]
    scrambled = ParamLayout.from_named(named)
    with pytest.raises(ValueError, match="not contiguous"):
        scrambled.layer_slices()


def test_write_grad_sets_and_accumulates():
    lin = nn.Linear(2, 2)
    flat = torch.arange(6.0)
    write_grad(lin, flat)
    torch.testing.assert_close(lin.weight.grad, torch.tensor([[0.0, 1], [2, 3]]))
    write_grad(lin, flat, accumulate=True)
    torch.testing.assert_close(lin.bias.grad, torch.tensor([8.0, 10.0]))


def test_aggregate_backward_with_sum_equals_plain_training():
    trunk, heads = _net()
    x = torch.randn(6, 3)
    sum(_losses(trunk, heads, x)).backward()
    plain = [p.grad.clone() for p in [*trunk.parameters(), *heads.parameters()]]
    trunk.zero_grad()
    heads.zero_grad()
    out = aggregate_backward(_losses(trunk, heads, x), trunk, lambda g: g.sum(0), task_params=heads)
    got = [p.grad for p in [*trunk.parameters(), *heads.parameters()]]
    for a, b in zip(plain, got, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(out.grads, _naive(trunk, heads, x))


def test_per_layer_applies_one_aggregator_per_block():
    trunk, _ = _net()
    layout = ParamLayout.from_module(trunk)
    calls = []

    class Recorder:
        def __call__(self, g):
            calls.append(g.shape)
            return g[0] * 2

    g = torch.randn(2, layout.numel)
    out = PerLayer(Recorder, layout)(g)
    assert calls == [(2, 20), (2, 24)]
    torch.testing.assert_close(out, 2 * g[0])
