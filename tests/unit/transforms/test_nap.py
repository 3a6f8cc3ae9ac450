"""Normalize-and-Project: the model edit, scale invariance, exact norms, constant effective LR."""

import pytest
import torch
from torch import nn

from layerwise.models import MLP
from layerwise.nn import RMSNorm
from layerwise.transforms import (
    TransformedOptimizer,
    effective_lr,
    identity,
    insert_norm_before_activations,
    project_to_init_norm,
)


def _seq_mlp(bias=True):
    return nn.Sequential(nn.Linear(4, 8, bias=bias), nn.ReLU(), nn.Linear(8, 8, bias=bias), nn.Tanh(),
                         nn.Linear(8, 2))


def _tiny_eps(model):
    """Scale invariance is exact up to the norm's epsilon: make it negligible in float64."""
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.eps = 1e-30
    return model.double()


def test_edit_sequential_and_nested():
    inner = nn.Sequential(nn.Linear(8, 6), nn.GELU())
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), inner, nn.Linear(6, 1))
    insert_norm_before_activations(model)
    assert [type(m).__name__ for m in model] == ["Linear", "LayerNorm", "ReLU", "Sequential", "Linear"]
    assert [type(m).__name__ for m in model[3]] == ["Linear", "LayerNorm", "GELU"]
    assert model[1].normalized_shape == (8,) and model[3][1].normalized_shape == (6,)
    assert model(torch.randn(3, 4)).shape == (3, 1)
    with pytest.raises(LookupError, match="no activation"):
        insert_norm_before_activations(model)  # norms already there: nothing left to insert


def test_edit_layerwise_mlp_and_rms():
    model = MLP(in_dim=4, out_dim=2, depth=3, width=8)
    assert insert_norm_before_activations(model, norm="rms") is model
    assert all(isinstance(b.norm, RMSNorm) for b in model.blocks)
    model = insert_norm_before_activations(MLP(in_dim=4, out_dim=2, depth=2, width=8))
    assert all(isinstance(b.norm, nn.LayerNorm) for b in model.blocks)
    with pytest.raises(LookupError):
        insert_norm_before_activations(nn.Linear(3, 3))


def test_edit_convs_with_one_group_norms_scale_invariant():
    from layerwise.models import CNN

    cnn = CNN(in_channels=1, channels=(4, 6), image_size=8)
    cnn.blocks[1].bn = nn.Identity()  # one block lost its batch norm: only that slot is filled
    insert_norm_before_activations(cnn)
    assert isinstance(cnn.blocks[0].bn, nn.BatchNorm2d)
    gn = cnn.blocks[1].bn
    assert (type(gn), gn.num_groups, gn.num_channels) == (nn.GroupNorm, 1, 6)
    seq = nn.Sequential(nn.Conv1d(2, 5, 3, bias=False), nn.Tanh(), nn.Flatten(), nn.Linear(15, 2))
    _tiny_eps(insert_norm_before_activations(seq))
    for m in seq.modules():
        if isinstance(m, nn.GroupNorm):
            m.eps = 1e-30
    assert [type(m).__name__ for m in seq] == ["Conv1d", "GroupNorm", "Tanh", "Flatten", "Linear"]
    x = torch.randn(3, 2, 5, dtype=torch.float64)
    ref = seq(x)
    seq[0].weight.detach().mul_(30.0)  # a conv 30x too large: the norm undoes it exactly
    torch.testing.assert_close(seq(x), ref, rtol=1e-6, atol=1e-6)
    # per sample over channels and positions: zero mean, unit variance before the activation
    h = seq[1](seq[0](x))
    zeros, ones = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(h.mean(dim=(1, 2)), zeros, atol=1e-9, rtol=0)
    torch.testing.assert_close(h.var(dim=(1, 2), unbiased=False), ones, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="no conv form"):
        insert_norm_before_activations(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), norm="rms")


@pytest.mark.parametrize("c", [0.05, 3.0, 40.0])
def test_normalised_layer_is_scale_invariant(c):
    model = _tiny_eps(insert_norm_before_activations(_seq_mlp(bias=False)))
    x = torch.randn(16, 4, dtype=torch.float64)
    ref = model(x)
    w = model[3].weight  # the second hidden layer, followed by its LayerNorm
    w.detach().mul_(c)
    torch.testing.assert_close(model(x), ref, rtol=1e-6, atol=1e-6)
    # the gradient scales as 1/c
    model.zero_grad()
    model(x).square().mean().backward()
    g_scaled = w.grad.clone()
    w.detach().div_(c)
    model.zero_grad()
    model(x).square().mean().backward()
    torch.testing.assert_close(g_scaled, w.grad / c, rtol=1e-6, atol=1e-9)


def test_scale_invariance_with_bias_scaled_too():
    model = _tiny_eps(insert_norm_before_activations(MLP(in_dim=4, out_dim=2, depth=2, width=8)))
    x = torch.randn(8, 4, dtype=torch.float64)
    ref = model(x)
    lin = model.blocks[1].linear
    with torch.no_grad():
        lin.weight.mul_(7.0)
        lin.bias.mul_(7.0)
    torch.testing.assert_close(model(x), ref, rtol=1e-6, atol=1e-6)


def _train(project, steps=5, lr=0.05):
    torch.manual_seed(0)
    model = insert_norm_before_activations(_seq_mlp())
    adam = torch.optim.Adam(model.parameters(), lr=lr)
    opt = TransformedOptimizer(adam, identity(), model.named_parameters())
    if project:
        opt.add_post_step_hook(project_to_init_norm(model.named_parameters()))
    norms0 = {n: p.detach().norm().item() for n, p in model.named_parameters() if p.dim() >= 2}
    elr0 = effective_lr(opt, model.named_parameters())
    x, y = torch.randn(32, 4), torch.randn(32, 2)
    for _ in range(steps):
        opt.zero_grad()
        (model(x) - y).square().mean().backward()
        opt.step()
    norms = {n: p.detach().norm().item() for n, p in model.named_parameters() if p.dim() >= 2}
    return norms0, norms, elr0, effective_lr(opt, model.named_parameters())


def test_projection_keeps_norms_and_effective_lr_constant():
    norms0, norms, elr0, elr = _train(project=True)
    assert set(norms) == {"0.weight", "3.weight", "6.weight"} == set(elr)
    for n in norms0:
        assert norms[n] == pytest.approx(norms0[n], rel=1e-6)
        assert elr[n] == pytest.approx(elr0[n], rel=1e-5)
        assert elr0[n] == pytest.approx(0.05 / norms0[n] ** 2)
    free0, free, felr0, felr = _train(project=False)  # control: without projection both move
    assert all(abs(free[n] / free0[n] - 1) > 1e-3 for n in free0)
    assert all(abs(felr[n] / felr0[n] - 1) > 2e-3 for n in free0)


def test_hook_works_with_a_plain_torch_optimizer():
    model = nn.Linear(3, 3)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    hook = project_to_init_norm(model.named_parameters())
    opt.register_step_post_hook(hook)
    w0 = model.weight.detach().norm()
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    assert model.weight.norm().item() == pytest.approx(w0.item(), rel=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        project_to_init_norm([("b", model.bias)])
    with pytest.raises(ValueError, match="not held"):
        effective_lr(opt, [("w", nn.Parameter(torch.ones(2, 2)))])
