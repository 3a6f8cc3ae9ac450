"""LateFusion: frozen streams, the exact foreground limit, the fused sum, and bad input."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from layerwise.analysis import fgsm
from layerwise.nn import LateFusion


def streams():
    torch.manual_seed(0)
    fg = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    ctx = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
    return fg, ctx


def test_streams_stay_frozen_across_a_training_step_of_the_head():
    fg, ctx = streams()
    fusion = LateFusion(fg, ctx, context_dim=4, num_classes=3).train()
    before = {k: v.clone() for k, v in {**fg.state_dict(), **ctx.state_dict()}.items()}
    head_before = fusion.head.weight.clone()
    opt = torch.optim.SGD(fusion.parameters(), lr=0.5)  # every parameter offered, even frozen ones
    x, y = torch.randn(16, 6), torch.arange(16) % 3
    F.cross_entropy(fusion(x), y).backward()
    opt.step()
    after = {**fg.state_dict(), **ctx.state_dict()}
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN running stats
    assert all(p.grad is None for p in (*fg.parameters(), *ctx.parameters()))
    assert not torch.equal(fusion.head.weight, head_before)
    assert not fg.training and not ctx.training and fusion.head.training


def test_context_weight_zero_is_the_foreground_stream_exactly_and_the_sum_otherwise():
    fg, ctx = streams()
    fusion = LateFusion(fg, ctx, context_dim=4, num_classes=3, context_weight=0)
    x = torch.randn(7, 6)
    assert torch.equal(fusion(x), fg.eval()(x))
    fusion.context_weight = 2.5
    expected = fg(x) + 2.5 * (ctx(x) @ fusion.head.weight.T + fusion.head.bias)
    torch.testing.assert_close(fusion(x), expected, rtol=1e-6, atol=1e-6)


def test_foreground_attack_goes_through_one_stream_only():
    fg, ctx = streams()
    fusion = LateFusion(fg, ctx, context_dim=4, num_classes=3)
    x, y = torch.rand(9, 6), torch.arange(9) % 3
    assert fusion.foreground_classifier() is fg
    assert torch.equal(fgsm(fusion.foreground_classifier(), x, y, eps=0.1),
                       fgsm(fg, x, y, eps=0.1))
    with torch.no_grad():
        fusion.head.weight.mul_(50)  # a strong context changes the whole-model gradient
    assert not torch.equal(fgsm(fusion, x, y, eps=0.1), fgsm(fg, x, y, eps=0.1))


def test_bad_arguments_and_shapes_name_the_argument():
    fg, ctx = streams()
    with pytest.raises(ValueError, match="context_dim"):
        LateFusion(fg, ctx, context_dim=0, num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        LateFusion(fg, ctx, context_dim=4, num_classes=2.0)
    with pytest.raises(ValueError, match="context_weight"):
        LateFusion(fg, ctx, context_dim=4, num_classes=3, context_weight=-0.1)
    with pytest.raises(ValueError, match="context_weight"):
        LateFusion(fg, ctx, context_dim=4, num_classes=3).context_weight = float("nan")
    with pytest.raises(TypeError, match="context"):
        LateFusion(fg, lambda x: x, context_dim=4, num_classes=3)
    with pytest.raises(ValueError, match="num_classes=4"):
        LateFusion(fg, ctx, context_dim=4, num_classes=4)(torch.randn(2, 6))
    with pytest.raises(ValueError, match="context_dim=5"):
        LateFusion(fg, ctx, context_dim=5, num_classes=3)(torch.randn(2, 6))
