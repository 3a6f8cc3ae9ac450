"""MLP reference model: shapes, parameter count, knobs, init schemes, depth pathology, training."""

import pytest
import torch
from torch import nn

from layerwise._registry import get
from layerwise.layers import block_names
from layerwise.models import MLP
from layerwise.nn import ACTIVATIONS


def mlp_params(in_dim, out_dim, depth, width, *, norm=None, bias=True):
    """Closed form: block 0 in->w, depth-1 blocks w->w, head w->out; norms add 2w per block."""
    b = 1 if bias else 0
    blocks = (in_dim * width + b * width) + (depth - 1) * (width * width + b * width)
    norms = 2 * width * depth if norm is not None else 0
    return blocks + norms + width * out_dim + b * out_dim


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_count(norm, bias):
    model = MLP(in_dim=12, out_dim=5, depth=3, width=7, norm=norm, bias=bias)
    n = sum(p.numel() for p in model.parameters())
    assert n == mlp_params(12, 5, 3, 7, norm=norm, bias=bias)


@pytest.mark.parametrize("shape", [(4, 64), (4, 1, 8, 8), (4, 4, 16)])
def test_flattens_any_input_shape(shape, no_activation_refs):
    model = MLP(in_dim=64, out_dim=3, depth=2, width=16)
    assert model(torch.randn(shape)).shape == (4, 3)
    no_activation_refs(model)
    assert block_names(model) == ["blocks.0", "blocks.1"]
    with pytest.raises(ValueError, match="64 features"):
        model(torch.randn(4, 63))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_activation(act):
    assert MLP(in_dim=4, out_dim=2, depth=2, width=8, act=act)(torch.randn(3, 4)).shape == (3, 2)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="relu"):
        MLP(in_dim=4, out_dim=2, act="swish")
    with pytest.raises(ValueError, match="batch"):
        MLP(in_dim=4, out_dim=2, norm="group")
    with pytest.raises(ValueError, match="kaiming"):
        MLP(in_dim=4, out_dim=2, init="he")


def test_residual_adds_input_where_shapes_match():
    model = MLP(in_dim=4, out_dim=2, depth=3, width=8, residual=True)
    assert [b.residual for b in model.blocks] == [False, True, True]
    block = model.blocks[1]
    x = torch.randn(5, 8)
    torch.testing.assert_close(block(x), x + block.act(block.linear(x)))


def test_inits():
    k = MLP(in_dim=512, out_dim=2, depth=2, width=512, init="kaiming")
    w = k.blocks[1].linear.weight
    assert w.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.05)
    assert torch.count_nonzero(k.blocks[1].linear.bias) == 0
    f = MLP(in_dim=64, out_dim=2, depth=2, width=256, init=0.1)
    assert f.blocks[1].linear.weight.std().item() == pytest.approx(0.1, rel=0.05)
    o = MLP(in_dim=8, out_dim=2, depth=2, width=16, init="orthogonal").blocks[1].linear.weight
    torch.testing.assert_close(o @ o.T, torch.eye(16), atol=1e-5, rtol=0)
    x = MLP(in_dim=256, out_dim=2, depth=2, width=256, init="xavier").blocks[1].linear.weight
    assert x.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.05)
    d = MLP(in_dim=8, out_dim=2, depth=1, width=16)
    assert torch.count_nonzero(d.blocks[0].linear.bias) > 0  # PyTorch's default keeps biases


def _spread_ratio(model, block_outputs):
    # spread across inputs: std over the batch per unit, averaged over units. (With biases the
    # std over all entries stalls near 0.02 because the bias is the same for every input.)
    outs = block_outputs(model, torch.randn(128, 256))
    stds = [o.std(dim=0).mean().item() for o in outs]
    return stds[-1] / stds[0]


def test_default_init_deep_relu_mlp_collapses_and_kaiming_does_not(block_outputs):
    # Measured (seeds 0-2): default 0.33 -> 2e-7 (ratio 6e-7..7e-7); kaiming ratio 0.28..0.32.
    default = MLP(in_dim=256, out_dim=10, depth=16, width=256)
    assert _spread_ratio(default, block_outputs) < 1e-3
    kaiming = MLP(in_dim=256, out_dim=10, depth=16, width=256, init="kaiming")
    assert 0.1 <= _spread_ratio(kaiming, block_outputs) <= 10


@pytest.mark.parametrize("norm", [None, "batch"])
def test_loss_falls_on_a_fixed_batch(fit, norm):
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    first, last = fit(MLP(in_dim=16, out_dim=4, depth=3, width=32, norm=norm), x, y)
    assert last < 0.5 * first


def test_registered():
    assert get("mlp").obj is MLP
    assert get("mlp").kind == "model"
    assert isinstance(MLP(in_dim=2, out_dim=2).head, nn.Linear)


def test_act_kwargs_reach_every_block_activation():
    leaky = MLP(in_dim=4, out_dim=2, depth=3, width=8, act="leaky_relu", act_kwargs={"negative_slope": 0.1})
    assert all(isinstance(b.act, nn.LeakyReLU) and b.act.negative_slope == 0.1 for b in leaky.blocks)
    elu = MLP(in_dim=4, out_dim=2, depth=2, width=8, act="elu", act_kwargs={"alpha": 0.5})
    assert all(isinstance(b.act, nn.ELU) and b.act.alpha == 0.5 for b in elu.blocks)
    x = torch.full((1, 8), -100.0)
    torch.testing.assert_close(elu.blocks[1].act(x), torch.full((1, 8), -0.5))  # saturates at -alpha
    assert MLP(in_dim=4, out_dim=2, depth=1, width=8, act="elu").blocks[0].act.alpha == 1.0
    with pytest.raises(TypeError):
        MLP(in_dim=4, out_dim=2, act="relu", act_kwargs={"alpha": 1.0})
