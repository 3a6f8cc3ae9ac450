"""replace_activations: every match replaced by a fresh module, outputs as the naive rewrite."""

import pytest
import torch
from torch import nn

from layerwise.models import MLP
from layerwise.nn.activation_edits import replace_activations


def test_replaces_relu_in_mlp_and_output_matches_handwritten_elu_forward():
    mlp = MLP(in_dim=5, out_dim=3, depth=3, width=8)
    names = replace_activations(mlp, "relu", nn.ELU)
    assert names == ["blocks.0.act", "blocks.1.act", "blocks.2.act"]
    acts = [b.act for b in mlp.blocks]
    assert len({id(a) for a in acts}) == 3 and all(isinstance(a, nn.ELU) for a in acts)
    x = torch.randn(4, 5)
    h = x
    for b in mlp.blocks:
        z = b.linear(h)
        h = torch.where(z > 0, z, torch.exp(z) - 1)
    torch.testing.assert_close(mlp(x), mlp.head(h))


def test_type_class_name_and_factory_name_forms():
    net = nn.Sequential(nn.ReLU6(), nn.Linear(2, 2), nn.GELU(), nn.ReLU())
    assert replace_activations(net, "ReLU6", "elu") == ["0"]
    assert replace_activations(net, (nn.GELU, nn.ReLU), lambda: nn.LeakyReLU(0.1)) == ["2", "3"]
    assert isinstance(net[0], nn.ELU) and net[3].negative_slope == 0.1
    with pytest.raises(LookupError):
        replace_activations(net, nn.Tanh, nn.ELU)
