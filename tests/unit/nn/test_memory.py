"""saved_tensor_bytes: exact counts on known graphs, unique storages, excluded weights, depth scaling."""

from __future__ import annotations

import torch
from torch import nn

from layerwise.nn.mbconv3d import mbconv3d_stack
from layerwise.nn.memory import saved_tensor_bytes


def test_counts_known_graph_and_excludes_module_weights():
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    x = torch.randn(4, 8, requires_grad=True)
    assert saved_tensor_bytes(net, x) == 2 * 4 * 8 * 4  # input and tanh output (shared by 2 ops)
    weights = sum(p.nelement() * 4 for n, p in net.named_parameters() if n.endswith("weight"))
    assert saved_tensor_bytes(net, x, exclude=()) == 2 * 4 * 8 * 4 + weights


def test_unique_storages_and_plain_callables():
    x = torch.randn(100, requires_grad=True)
    assert saved_tensor_bytes(lambda t: (t[:50] * t[50:]).sum(), x) == 400  # two views, one storage
    assert saved_tensor_bytes(lambda t: t.exp().sum(), x) == 400  # exp saves its output only
    with torch.no_grad():
        assert saved_tensor_bytes(lambda t: t.exp(), x) == 0


def test_plain_stack_grows_linearly_reversible_stays_flat():
    x = torch.randn(1, 8, 6, 6, 6, requires_grad=True)
    plain = {d: saved_tensor_bytes(mbconv3d_stack(8, d, expand=2, reversible=False), x) for d in (2, 8, 16)}
    rev = {d: saved_tensor_bytes(mbconv3d_stack(8, d, expand=2), x) for d in (2, 8, 16)}
    per_block = (plain[16] - plain[8]) / 8
    assert abs((plain[8] - plain[2]) / 6 - per_block) <= 0.01 * per_block  # linear in depth
    assert 6 < plain[16] / plain[2] <= 8
    assert rev[2] == rev[8] == rev[16] < per_block
