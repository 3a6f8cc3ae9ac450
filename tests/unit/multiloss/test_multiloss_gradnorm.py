"""GradNorm against the paper's literal formulation (double backward through w_i L_i)."""

import torch
from torch import nn

from layerwise.multiloss import GradNorm


def _setup():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8))
    heads = nn.ModuleList([nn.Linear(8, 1), nn.Linear(8, 1)])
    x = torch.randn(16, 4)
    return trunk, heads, x


def _losses(trunk, heads, x, scale=10.0):
    h = trunk(x)
    return [heads[0](h).pow(2).mean(), scale * (heads[1](h) - 1).pow(2).mean()]


def naive_step(weights, losses, initial, W, alpha, lr, k):
    w = weights.clone().requires_grad_(True)
    norms = torch.stack([
        torch.autograd.grad(w[i] * losses[i], W, retain_graph=True, create_graph=True)[0].norm()
        for i in range(k)
    ])
    current = torch.stack([loss.detach() for loss in losses])
    ratio = current / initial
    target = (norms.mean() * (ratio / ratio.mean()) ** alpha).detach()
    (dw,) = torch.autograd.grad((norms - target).abs().sum(), w)
    new = (weights - lr * dw).clamp_min(1e-3)
    return new * k / new.sum()


def test_weight_update_matches_literal_formulation_over_two_steps():
    trunk, heads, x = _setup()
    last = trunk[2]
    gn = GradNorm(last, n_tasks=2, alpha=1.5, lr=0.1)
    initial = None
    for step in range(2):
        losses = _losses(trunk, heads, x * (1 + step))
        if initial is None:
            initial = torch.stack([loss.detach() for loss in losses])
        want = naive_step(gn.weights.clone(), losses, initial, last.weight, 1.5, 0.1, 2)
        stats = gn.backward(losses)
        torch.testing.assert_close(gn.weights, want)
        assert torch.isclose(stats["weights"].sum(), torch.tensor(2.0))
    assert trunk[0].weight.grad is not None and heads[1].weight.grad is not None


def test_network_gradient_uses_the_weights_before_the_update():
    trunk, heads, x = _setup()
    gn = GradNorm(trunk[2], n_tasks=2)
    gn.weights = torch.tensor([0.5, 1.5])
    gn.backward(_losses(trunk, heads, x))
    got = heads[1].weight.grad.clone()
    heads.zero_grad()
    (1.5 * _losses(trunk, heads, x)[1]).backward()
    torch.testing.assert_close(got, heads[1].weight.grad)


def test_the_task_with_the_larger_gradient_loses_weight():
    trunk, heads, x = _setup()
    gn = GradNorm(trunk[2], n_tasks=2, alpha=0.0, lr=0.05)
    for _ in range(5):
        trunk.zero_grad()
        heads.zero_grad()
        gn.backward(_losses(trunk, heads, x, scale=10.0))
    assert gn.weights[1] < 1.0 < gn.weights[0]
    state = gn.state_dict()
    other = GradNorm(trunk[2], n_tasks=2)
    other.load_state_dict(state)
    torch.testing.assert_close(other.weights, gn.weights)
