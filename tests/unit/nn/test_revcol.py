"""RevCol columns: exact gradients on the engine, rebuilt column 0, flat memory, alpha clamp."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerwise._registry import get
from layerwise.nn.memory import saved_tensor_bytes
from layerwise.nn.revcol import ClampedScale, RevColumns, default_block

D = torch.float64


def _grads(net: RevColumns, x: torch.Tensor, seed: int = 3):
    torch.manual_seed(seed)
    net.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_()
    loss = sum((c * torch.cos(torch.arange(c.numel(), dtype=c.dtype)).view_as(c)).sum() for c in net(x))
    loss.backward()
    return [x.grad, *(p.grad for p in net.parameters())]


def _max_diff(a, b) -> float:
    return max((u - v).abs().max().item() for u, v in zip(a, b, strict=True))


def test_shapes_and_gradients_equal_plain_autograd_float64():
    net = RevColumns((4, 8, 8), n_columns=3).to(D)
    x = torch.randn(2, 4, 8, 8, dtype=D)
    assert [tuple(c.shape) for c in net(x)] == [(2, 4, 8, 8), (2, 8, 4, 4), (2, 8, 2, 2)]
    rev = _grads(net, x)
    net.reversible = False
    plain = _grads(net, x)
    assert all(g is not None for g in rev)  # alpha of every column and level gets a gradient
    assert _max_diff(rev, plain) < 1e-8


def test_dropout_in_level_blocks_is_replayed():
    def block(c, dims):
        return nn.Sequential(default_block(c, dims), nn.Dropout(0.2))

    net = RevColumns((4, 8), n_columns=3, block=block).to(D)
    x = torch.randn(2, 4, 4, 4, dtype=D)
    rev = _grads(net, x)
    net.reversible = False
    assert _max_diff(rev, _grads(net, x)) < 1e-8


def test_inverse_rebuilds_zero_column_and_error_grows_as_alpha_shrinks():
    x = torch.randn(2, 4, 8, 8, dtype=D)
    errors = []
    for alpha in (0.5, 0.05):
        torch.manual_seed(0)
        net = RevColumns((4, 8), n_columns=4, alpha_init=alpha).to(D).eval()
        with torch.no_grad():
            col0 = net.inverse(x, net(x))
        errors.append(max(c.abs().max().item() for c in col0))
    assert errors[0] < 1e-10
    assert errors[1] > errors[0]


def test_saved_bytes_flat_in_columns():
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    rev = [saved_tensor_bytes(RevColumns((4, 8), n), x) for n in (2, 4, 8)]
    plain = [saved_tensor_bytes(RevColumns((4, 8), n, reversible=False), x) for n in (2, 4, 8)]
    assert rev[0] == rev[1] == rev[2]
    assert plain[2] > 3.5 * plain[0] and plain[0] > rev[0]


def test_alpha_clamped_away_from_zero_with_straight_through_gradient():
    scale = ClampedScale(5, dims=1, eps=1e-3)
    with torch.no_grad():
        scale.alpha.copy_(torch.tensor([0.0, 1e-5, -1e-5, -0.3, 2.0]))
    value = scale()
    assert value.shape == (1, 5, 1)
    assert torch.allclose(value.flatten(), torch.tensor([1e-3, 1e-3, -1e-3, -0.3, 2.0]))
    assert value.abs().min() >= 1e-3
    value.sum().backward()
    assert torch.equal(scale.alpha.grad, torch.ones(5))
    net = RevColumns((4,), 2)
    assert all(s().abs().min() >= 1e-3 for s in net.modules() if isinstance(s, ClampedScale))


def test_bad_input_and_registry():
    with pytest.raises(ValueError, match="divisible"):
        RevColumns((4, 8, 8), 2)(torch.randn(1, 4, 6, 6))
    assert get("revcol", kind="module").arxiv == "2212.11696"
