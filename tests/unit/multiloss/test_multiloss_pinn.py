"""PINN pieces: gradient-statistics annealing, the gated MLP, the Helmholtz problem."""

import math

import pytest
import torch
from torch import nn

from layerwise.multiloss import GatedMLP, GradStatAnnealer, Helmholtz2D, lambda_hat


def test_lambda_hat_is_max_over_mean_of_layer_means():
    ref = [torch.tensor([[1.0, -4.0]]), torch.tensor([2.0])]
    term = [torch.tensor([[1.0, -1.0]]), torch.tensor([0.0, 0.0, 0.0, 3.0])]
    # max |ref| = 4; layer means of |term| = 1 and 0.75 -> 0.875
    assert math.isclose(float(lambda_hat(ref, term)), 4 / 0.875, rel_tol=1e-6)


class Toy(nn.Module):
    """Two linear terms with fixed gradients: dL_ref/dW = 100 u, dL_b/dW = v; a bias with a huge gradient."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, 4))
        self.b = nn.Parameter(torch.zeros(4))

    def losses(self):
        u = torch.tensor([[1.0, -2.0, 0.5, 0.0]])
        v = torch.tensor([[0.1, 0.1, -0.1, 0.1]])
        return [100 * (self.w * u).sum() + 1e6 * self.b.sum(), (self.w * v).sum()]


RATIO = 200 / 0.1  # max |100 u| / mean |v|


@pytest.mark.parametrize(("weighted", "fixed_point"), [(True, math.sqrt(RATIO)), (False, RATIO)])
def test_annealing_known_scales(weighted, fixed_point):
    toy = Toy()
    ann = GradStatAnnealer(toy, n_terms=2, weighted=weighted)
    assert ann.params == [toy.w]  # weights only: the bias is ignored
    ann.combine(toy.losses())
    assert math.isclose(float(ann.weights[1]), 0.9 + 0.1 * RATIO, rel_tol=1e-5)
    assert float(ann.weights[0]) == 1.0
    before = float(ann.weights[1])
    for _ in range(9):  # calls 1..9 do not update
        ann.combine(toy.losses())
    assert float(ann.weights[1]) == before
    for _ in range(300):
        ann.update(toy.losses())
    assert math.isclose(float(ann.weights[1]), fixed_point, rel_tol=1e-3)


def test_combine_returns_the_weighted_sum():
    toy = Toy()
    ann = GradStatAnnealer(toy, n_terms=2, every=10**9, ref=1)
    ann.calls = 1  # skip the first update
    ann.weights = torch.tensor([3.0, 1.0], dtype=torch.float64)
    losses = toy.losses()
    torch.testing.assert_close(ann.combine(losses), 3.0 * losses[0] + losses[1])


def test_gated_mlp_matches_its_formula():
    torch.manual_seed(0)
    net = GatedMLP(2, 1, width=6, depth=2)
    x = torch.randn(5, 2)
    u, v = torch.tanh(net.encoder_u(x)), torch.tanh(net.encoder_v(x))
    h = x
    for lin in net.hidden:
        z = torch.tanh(lin(h))
        h = z * u + (1 - z) * v
    torch.testing.assert_close(net(x), net.out(h))
    assert net.hidden[0].in_features == 2 and len(net.hidden) == 2


def test_helmholtz_forcing_matches_the_laplacian_of_the_exact_solution():
    prob = Helmholtz2D(a1=1.0, a2=4.0, k=1.0)
    x = prob.collocation(64, generator=torch.Generator().manual_seed(0)).double()
    res = prob.residual(prob.exact, x).detach()
    assert float(res.abs().max()) < 1e-9 * float(prob.forcing(x).abs().max())
    # and the forcing is not trivially consistent: a wrong wave number leaves a residual
    wrong = Helmholtz2D(a1=1.0, a2=3.0).residual(prob.exact, x).detach()
    assert float(wrong.abs().max()) > 1.0


def test_helmholtz_points_grid_and_error():
    prob = Helmholtz2D(a1=1.5, a2=4.0)
    xb, ub = prob.boundary(8, generator=torch.Generator().manual_seed(0))
    assert xb.shape == (32, 2) and ub.shape == (32, 1)
    on_edge = (xb.abs() == 1.0).any(dim=1)
    assert on_edge.all() and (xb.abs() <= 1.0).all()
    torch.testing.assert_close(ub, prob.exact(xb))
    assert float(ub.abs().max()) > 0.1  # non-integer a1: non-zero boundary data
    xy, u = prob.grid(10)
    assert xy.shape == (100, 2) and u.shape == (100, 1)
    assert prob.relative_l2(prob.exact, n=20) == 0.0
    assert math.isclose(prob.relative_l2(lambda p: torch.zeros(len(p), 1), n=20), 1.0)
