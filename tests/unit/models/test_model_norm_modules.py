"""layerwise.nn building blocks used by the reference models: RMSNorm, DepthScaledNorm, factories."""

import math

import pytest
import torch
from torch import nn

from layerwise._registry import get
from layerwise.nn import ACTIVATIONS, DepthScaledNorm, RMSNorm, make_activation, make_norm


def test_rmsnorm_matches_formula_and_has_one_gain():
    norm = RMSNorm(6, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
    x = torch.randn(3, 4, 6) * 5 + 1
    want = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * torch.arange(1.0, 7.0)
    torch.testing.assert_close(norm(x), want)
    assert sum(p.numel() for p in norm.parameters()) == 6
    norm.reset_parameters()
    assert torch.equal(norm.weight, torch.ones(6))


def test_rmsnorm_keeps_dtype_and_supports_no_affine():
    x = torch.randn(2, 8, dtype=torch.bfloat16)
    assert RMSNorm(8).to(torch.bfloat16)(x).dtype == torch.bfloat16
    norm = RMSNorm(8, elementwise_affine=False)
    assert list(norm.parameters()) == []
    y = norm(torch.randn(4, 8))
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(4), atol=1e-4, rtol=0)


@pytest.mark.parametrize("layer_index", [1, 2, 9])
def test_depth_scaled_norm_divides_by_sqrt_index(layer_index):
    inner = nn.LayerNorm(5)
    norm = DepthScaledNorm(inner, layer_index)
    assert norm.norm is inner
    assert norm.scale == pytest.approx(1 / math.sqrt(layer_index))
    x = torch.randn(3, 5)
    torch.testing.assert_close(norm(x), inner(x) / math.sqrt(layer_index))
    # parameter-free: only the wrapped norm's parameters
    assert [p for p in norm.parameters()] == [p for p in inner.parameters()]


def test_depth_scaled_norm_rejects_zero_index():
    with pytest.raises(ValueError, match="1-indexed"):
        DepthScaledNorm(nn.LayerNorm(4), 0)


def test_factories_build_and_reject_unknown_names():
    assert isinstance(make_norm("layer", 4), nn.LayerNorm)
    assert isinstance(make_norm("rms", 4), RMSNorm)
    with pytest.raises(ValueError, match="layer, rms"):
        make_norm("batch", 4)
    x = torch.linspace(-2, 2, 9)
    for name in ACTIVATIONS:
        assert make_activation(name)(x).shape == x.shape
    with pytest.raises(ValueError, match="relu.*leaky_relu.*identity"):
        make_activation("swish")


def test_modules_are_registered():
    assert get("rms_norm").obj is RMSNorm
    assert get("depth_scaled_norm").arxiv == "2502.05795"
