"""parallelize reproduces the sum of branches; higher_order_ratio against a naive reference."""

import torch
from torch import nn

from layerwise.models import MLP
from layerwise.nn.parallel import SequentialResidual, higher_order_ratio, parallelize


def _stack(n, d=6):
    return SequentialResidual(nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, d)) for _ in range(n))


def test_parallel_is_input_plus_sum_of_branches_and_shares_parameters():
    stack = _stack(4)
    par = parallelize(stack)
    x = torch.randn(5, 6, dtype=torch.float64)
    stack.double()
    ref = x + sum(b(x) for b in stack.branches)
    torch.testing.assert_close(par(x), ref, rtol=1e-12, atol=1e-12)
    assert sum(p.numel() for p in par.parameters()) == sum(p.numel() for p in stack.parameters())
    assert all(a is b for a, b in zip(par.parameters(), stack.parameters(), strict=True))


def test_one_branch_is_exactly_sequential_and_ratio_zero():
    stack = _stack(1)
    x = torch.randn(5, 6)
    assert torch.equal(parallelize(stack)(x), stack(x))
    assert higher_order_ratio(stack, x) == 0.0


def test_ratio_matches_naive_formula_and_grows_with_branch_scale():
    stack = _stack(3).double()
    x = torch.randn(7, 6, dtype=torch.float64)
    seq = x
    for b in stack.branches:
        seq = seq + b(seq)
    par = x + sum(b(x) for b in stack.branches)
    naive = ((seq - par).norm() / (seq - x).norm()).item()
    assert abs(higher_order_ratio(stack, x) - naive) < 1e-12
    small = _stack(3)
    with torch.no_grad():
        for p in small.parameters():
            p.mul_(0.05)
    # tiny branches: the cross terms J_j F_i are second order in the scale, so the ratio is small
    assert higher_order_ratio(small, x.float()) < 0.05 < higher_order_ratio(stack, x)


def test_list_of_residual_blocks_from_the_mlp_model():
    mlp = MLP(in_dim=6, out_dim=2, depth=4, width=6, residual=True)
    blocks = nn.Sequential(*list(mlp.blocks)[1:])  # residual blocks x + act(linear(x))
    x = torch.randn(3, 6, dtype=torch.float64)
    blocks.double()
    par = parallelize(blocks)
    ref = x + sum(b(x) - x for b in blocks)
    torch.testing.assert_close(par(x), ref)
    assert higher_order_ratio(blocks, x) > 0
