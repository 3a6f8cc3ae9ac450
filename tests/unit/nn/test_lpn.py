"""LearnedProximalNetwork and the proximal-matching loss: convexity, monotonicity, the clamp, the
regulariser recovered by inversion (an exact case and the prox inequality), the loss's limits."""

import math

import pytest
import torch

from layerwise import list_methods
from layerwise.nn import LearnedProximalNetwork, ProximalMatchingLoss, proximal_matching_loss


def _wild(dim, *, seed=0, alpha=0.0, sign=1.0, hidden=16, layers=3):
    """An LPN with large random weights (a strongly non-linear potential); ``sign=-1`` flips the
    constrained weights negative (what the clamp forbids)."""
    torch.manual_seed(seed)
    net = LearnedProximalNetwork(dim, hidden=hidden, layers=layers, beta=3.0, alpha=alpha)
    with torch.no_grad():
        for w in net.nonnegative():
            w.copy_(sign * torch.rand_like(w))
        for lin in [net.first, *net.skips]:
            lin.weight.normal_(0, 2.0)
            lin.bias.normal_(0, 1.0)
    return net


def _slopes(net, grid):
    y = grid.clone().requires_grad_(True)
    f = net(y)
    (d,) = torch.autograd.grad(f.sum(), y)  # f'(y) = psi''(y) in 1-D
    return d.squeeze(1)


def test_registered():
    assert {e.name for e in list_methods("lpn", kind="module")} == {"lpn"}
    assert {e.name for e in list_methods("proximal_matching", kind="module")} == {"proximal_matching"}


def test_output_is_monotone_on_a_grid_and_a_negative_weight_breaks_it():
    grid = torch.linspace(-4, 4, 801, dtype=torch.float64).unsqueeze(1)
    net = _wild(1).double()
    f = net(grid).detach().squeeze(1)
    assert torch.diff(f).min() >= -1e-12
    assert _slopes(net, grid).min() >= -1e-10
    assert f.max() - f.min() > 1.0  # not a constant map
    bad = _wild(1, sign=-1.0).double()  # concave hidden part: the test above can fail
    assert _slopes(bad, grid).min() < -1e-3


def test_potential_is_convex_along_random_lines_and_its_hessian_is_symmetric_psd():
    torch.manual_seed(1)
    net = _wild(3).double()
    t = torch.linspace(-3, 3, 301, dtype=torch.float64)
    for _ in range(8):
        x0, d = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
        psi = net.potential(x0 + t[:, None] * d).detach()
        assert (psi[2:] - 2 * psi[1:-1] + psi[:-2]).min() >= -1e-10
    x = torch.randn(1, 3, dtype=torch.float64)
    hess = torch.autograd.functional.jacobian(lambda z: net(z.unsqueeze(0)).squeeze(0), x[0])
    torch.testing.assert_close(hess, hess.T)
    assert torch.linalg.eigvalsh(hess).min() >= -1e-10
    torch.testing.assert_close(net(x), torch.autograd.functional.jacobian(
        lambda z: net.potential(z.unsqueeze(0)).sum(), x[0]).unsqueeze(0))  # f = grad psi


def test_clamp_keeps_constrained_weights_nonnegative_as_a_post_step_hook():
    net = LearnedProximalNetwork(2, hidden=6, layers=2, init_log_mean=None)
    assert all(bool((w >= 0).all()) for w in net.nonnegative())  # clamped at construction
    opt = torch.optim.SGD(net.parameters(), lr=10.0)
    x = torch.randn(8, 2)
    sum(w.sum() for w in net.nonnegative()).backward()  # pushes every constrained weight down
    net(x).sum().backward()  # the first layer gets a gradient too
    first = net.first.weight.detach().clone()
    opt.step()
    assert any(bool((w < 0).any()) for w in net.nonnegative())  # without the clamp: negative
    handle = opt.register_step_post_hook(net.clamp_weights)
    opt.step()
    handle.remove()
    assert all(bool((w >= 0).all()) for w in net.nonnegative())
    assert (net.first.weight < 0).any() and not torch.equal(net.first.weight, first)  # unconstrained


def test_training_graph_reaches_every_parameter_and_no_grad_builds_none():
    torch.manual_seed(0)
    net = LearnedProximalNetwork(1, hidden=8, layers=2, beta=3.0, init_log_mean=None)
    net(torch.randn(5, 1)).pow(2).sum().backward()
    named = dict(net.named_parameters())
    const = named.pop("out_skip.bias").grad
    assert const is None or const.abs().sum() == 0  # psi's constant does not move f
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in named.values())
    with torch.no_grad():
        assert net(torch.randn(5, 1)).grad_fn is None


def test_regularizer_of_a_quadratic_potential_is_exact():
    # psi = x^2 / 4 (constrained and skip weights zero, alpha 1/4): f(x) = x / 2 = prox of R = x^2 / 2
    net = LearnedProximalNetwork(1, hidden=4, layers=1, alpha=0.25)
    with torch.no_grad():
        for w in net.nonnegative():
            w.zero_()
        net.out_skip.weight.zero_()
        net.out_skip.bias.zero_()
    x = torch.linspace(-2, 2, 9, dtype=torch.float64).unsqueeze(1)
    net = net.double()
    torch.testing.assert_close(net(x), x / 2)
    torch.testing.assert_close(net.invert(x, steps=300, lr=2e-2), 2 * x, atol=5e-3, rtol=0)
    torch.testing.assert_close(net.regularizer(x, steps=300, lr=2e-2), x.squeeze(1) ** 2 / 2,
                               atol=1e-4, rtol=0)


def test_inversion_recovers_the_prox_input_and_r_satisfies_the_prox_inequality():
    torch.manual_seed(3)  # f(y) spans [-4.9, 4.2] on [-4, 4], slope >= 1 (alpha = 0.5)
    net = LearnedProximalNetwork(1, hidden=8, layers=2, beta=3.0, alpha=0.5, init_log_mean=None).double()
    y = torch.tensor([[-1.3], [-0.4], [0.2], [0.9]], dtype=torch.float64)
    x = net(y).detach()  # prox_R(y)
    u = torch.linspace(-4, 4, 81, dtype=torch.float64).unsqueeze(1)
    pts = torch.cat([x, u])
    y_hat = net.invert(pts, steps=300, lr=2e-2)
    torch.testing.assert_close(net(y_hat).detach(), pts, atol=2e-3, rtol=0)  # f(f^-1(x)) = x
    torch.testing.assert_close(y_hat[:4], y, atol=5e-3, rtol=0)  # f is strictly monotone here
    with torch.no_grad():
        r = (y_hat * pts).sum(1) - 0.5 * pts.pow(2).sum(1) - net.potential(y_hat)
    r_x, r_u = r[:4], r[4:]
    # x minimises 1/2 (u - y)^2 + R(u): R is the regulariser whose prox the network is
    objective = 0.5 * (u.T - y) ** 2 + r_u  # (4, 81)
    best = 0.5 * (x - y) ** 2 + r_x.unsqueeze(1)
    assert (objective - best).min() >= -1e-4
    assert (objective - best).max() > 0.1  # not flat


def test_proximal_matching_limits_and_a_naive_reference():
    torch.manual_seed(0)
    pred, target = torch.randn(6, 3), torch.randn(6, 3)
    naive = sum(1 - math.exp(-float((p - q).norm()) ** 2 / 0.7**2) for p, q in zip(pred, target, strict=True))
    assert float(proximal_matching_loss(pred, target, 0.7)) == pytest.approx(naive / 6, rel=1e-6)
    assert float(proximal_matching_loss(target, target, 0.1)) == 0.0
    assert float(proximal_matching_loss(target + 10, target, 0.1)) == 1.0
    big = 1e3
    mse_sum = float((pred - target).pow(2).sum(1).mean())
    assert big**2 * float(proximal_matching_loss(pred, target, big)) == pytest.approx(mse_sum, rel=1e-3)
    loss = ProximalMatchingLoss(0.5)
    loss.gamma = 0.7
    assert float(loss(pred, target)) == pytest.approx(naive / 6, rel=1e-6)


@pytest.mark.parametrize("kwargs, word", [
    (dict(dim=0), "dim"), (dict(dim=1, hidden=0), "hidden"), (dict(dim=1, layers=0), "layers"),
    (dict(dim=1, beta=0.0), "beta"), (dict(dim=1, alpha=-0.1), "alpha"),
    (dict(dim=1, hidden=2.5), "hidden"), (dict(dim=1, init_log_std=-1.0), "init_log_std"),
])
def test_bad_settings_name_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        LearnedProximalNetwork(**kwargs)


def test_bad_inputs_name_the_argument_and_range():
    net = LearnedProximalNetwork(2, hidden=4, layers=1)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        net(torch.randn(3))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        net.potential(torch.randn(3, 1))
    with pytest.raises(TypeError, match="floating-point"):
        net(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="steps"):
        net.invert(torch.randn(3, 2), steps=0)
    with pytest.raises(ValueError, match="lr"):
        net.regularizer(torch.randn(3, 2), lr=-1.0)
    for gamma in (0.0, -0.5, True):
        with pytest.raises(ValueError, match="gamma must be a number > 0"):
            proximal_matching_loss(torch.zeros(2, 1), torch.zeros(2, 1), gamma)
    with pytest.raises(ValueError, match="gamma must be a number > 0"):
        ProximalMatchingLoss(-1.0)
    with pytest.raises(ValueError, match="same shape"):
        proximal_matching_loss(torch.zeros(2, 1), torch.zeros(2, 2), 0.5)
