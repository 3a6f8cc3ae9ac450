"""PCGrad and MGDA against naive references, golden values and their defining invariants."""

import itertools

import pytest
import torch

from layerwise.multiloss import MGDA, SAMGS, GCond, ParamLayout, PCGrad, PerLayer


def naive_pcgrad(g: torch.Tensor, seed: int) -> torch.Tensor:
    """Algorithm 1 of the paper on the vectors themselves, drawing orders like PCGrad does."""
    gen = torch.Generator().manual_seed(seed)
    g = g.double()
    out = torch.zeros(g.shape[1], dtype=torch.float64)
    for i in range(g.shape[0]):
        gi = g[i].clone()
        for j in torch.randperm(g.shape[0], generator=gen).tolist():
            if j != i and gi @ g[j] < 0:
                gi = gi - (gi @ g[j]) / (g[j] @ g[j]) * g[j]
        out += gi
    return out


def test_pcgrad_golden_k2():
    g = torch.tensor([[1.0, 1.0], [-1.0, 0.0]])
    # g1' = g1 - (-1/1) g2 = (0, 1); g2' = g2 - (-1/2) g1 = (-0.5, 0.5)
    torch.testing.assert_close(PCGrad()(g), torch.tensor([-0.5, 1.5]))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_pcgrad_matches_naive_reference(k):
    g = torch.randn(k, 7, generator=torch.Generator().manual_seed(k))
    got = PCGrad(seed=3)(g)
    torch.testing.assert_close(got.double(), naive_pcgrad(g, seed=3), rtol=1e-5, atol=1e-6)


def test_pcgrad_no_conflict_is_the_sum_and_k2_removes_negative_components():
    g = torch.tensor([[1.0, 0.5, 0.0], [0.2, 1.0, 3.0]])
    torch.testing.assert_close(PCGrad()(g), g.sum(0))
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        g = torch.randn(2, 6, generator=gen)
        out = PCGrad()(g)
        assert (g @ out >= -1e-5).all()


def test_pcgrad_state_dict_replays_the_order():
    g = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    a = PCGrad(seed=7)
    a(g)
    state = a.state_dict()
    first = a(g)
    b = PCGrad(seed=99)
    b.load_state_dict(state)
    torch.testing.assert_close(b(g), first)


def test_mgda_golden_k2():
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    # weight on g2: (4 - 0) / (4 + 1) = 0.8
    torch.testing.assert_close(MGDA()(g), torch.tensor([0.4, 0.8]))
    same_side = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # g1 is already the min-norm point
    torch.testing.assert_close(MGDA()(same_side), torch.tensor([1.0, 0.0]))


def test_mgda_k2_is_the_min_norm_point_of_a_grid():
    gen = torch.Generator().manual_seed(2)
    gammas = torch.linspace(0, 1, 20001, dtype=torch.float64)
    for _ in range(20):
        g = torch.randn(2, 5, generator=gen).double()
        points = (1 - gammas)[:, None] * g[0] + gammas[:, None] * g[1]
        best = points[points.norm(dim=1).argmin()]
        torch.testing.assert_close(MGDA()(g), best, atol=1e-4, rtol=0)


@pytest.mark.parametrize("k", [3, 4])
def test_mgda_frank_wolfe_satisfies_min_norm_optimality(k):
    gen = torch.Generator().manual_seed(k)
    g = torch.randn(k, 6, generator=gen).double()
    agg = MGDA(max_iter=5000, tol=1e-12)
    d = agg(g)
    w = agg.last_weights
    assert torch.isclose(w.sum(), torch.tensor(1.0, dtype=torch.float64)) and (w >= -1e-12).all()
    # KKT: <d, g_i> >= |d|^2 for every task (equality on the support)
    assert (g @ d >= d @ d - 1e-3).all()
    # and no point of a coarse simplex grid is shorter
    steps = torch.linspace(0, 1, 21, dtype=torch.float64)
    for combo in itertools.product(steps, repeat=k - 1):
        if sum(combo) <= 1:
            a = torch.tensor([*combo, 1 - sum(combo)], dtype=torch.float64)
            assert (a @ g).norm() >= d.norm() - 1e-3


@pytest.mark.parametrize("factory", [PCGrad, MGDA, SAMGS, GCond])
def test_per_layer_equals_aggregating_each_block(factory):
    named = [("a.w", torch.zeros(3)), ("a.b", torch.zeros(1)), ("b.w", torch.zeros(4))]
    layout = ParamLayout.from_named(named)
    g = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    got = PerLayer(factory, layout)(g)
    want = torch.cat([factory()(g[:, :4]), factory()(g[:, 4:])])
    torch.testing.assert_close(got, want)
