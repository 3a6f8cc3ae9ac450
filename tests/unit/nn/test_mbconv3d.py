"""MBConv3d: layout, shape, options, linearity without norm/activation, use inside a reversible stack."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerwise._registry import get
from layerwise.nn.mbconv3d import MBConv3d, mbconv3d_stack


def test_layout_expand_depthwise_project():
    block = MBConv3d(4, expand=3, out_channels=6, dropout=0.1)
    expand, depthwise, project = block.expand[0], block.depthwise[0], block.project
    assert (expand.in_channels, expand.out_channels, expand.kernel_size) == (4, 12, (1, 1, 1))
    assert (depthwise.groups, depthwise.out_channels, depthwise.kernel_size) == (12, 12, (3, 3, 3))
    assert (project.in_channels, project.out_channels, project.kernel_size) == (12, 6, (1, 1, 1))
    assert isinstance(block.expand[1], nn.GroupNorm) and isinstance(block.depthwise[3], nn.Dropout)
    assert block(torch.randn(2, 4, 5, 6, 7)).shape == (2, 6, 5, 6, 7)


def test_linear_without_norm_and_activation():
    block = MBConv3d(3, expand=2, norm="none", activation="identity").double()
    a, b = torch.randn(2, 1, 3, 4, 4, 4, dtype=torch.float64)
    zero = block(torch.zeros_like(a))
    assert torch.allclose(block(a + b), block(a) + block(b) - zero, atol=1e-12)


def test_options_and_errors():
    assert isinstance(MBConv3d(2, norm="batch").expand[1], nn.BatchNorm3d)
    with pytest.raises(ValueError, match="unknown norm"):
        MBConv3d(2, norm="layer")
    with pytest.raises(ValueError, match="odd"):
        MBConv3d(2, kernel_size=2)
    with pytest.raises(ValueError, match="even"):
        mbconv3d_stack(5, depth=2)
    assert get("mbconv3d").arxiv == "2104.09648"


def test_batchnorm_blocks_keep_exact_gradients_in_a_reversible_stack():
    stack = mbconv3d_stack(4, depth=2, expand=2, norm="batch").double()
    x = torch.randn(2, 4, 4, 4, 4, dtype=torch.float64)

    def grads():
        stack.zero_grad(set_to_none=True)
        stack(x).pow(2).sum().backward()
        return [p.grad for p in stack.parameters()]

    rev = grads()
    stack.reversible = False
    plain = grads()
    assert max((a - b).abs().max().item() for a, b in zip(rev, plain, strict=True)) < 1e-8
