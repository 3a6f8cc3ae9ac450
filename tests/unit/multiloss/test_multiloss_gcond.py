"""GCond: angle map, pair resolution zone by zone, arbitration, momentum, the accumulating trainer."""

import math

import pytest
import torch
from torch import nn

from layerwise.multiloss import GCond, GCondTrainer, effective_angle, resolve_pair

PI = math.pi


@pytest.mark.parametrize(("cos", "angle"), [
    (0.5, 0.0), (0.0, 0.0), (-0.25, PI / 4), (-0.5, PI / 2),
    (-0.65, PI / 2 + PI / 2 * 0.25), (-0.8, PI), (-1.0, PI),
])
def test_effective_angle_zones(cos, angle):
    assert math.isclose(effective_angle(cos), angle, abs_tol=1e-6)


def _pair(cos):
    """Unit winner e1 and a loser of norm 2 at the given cosine."""
    return torch.tensor([1.0, 0.0]).double(), 2 * torch.tensor([cos, math.sqrt(1 - cos**2)]).double()


def test_no_change_without_conflict():
    for cos in (0.0, 0.3, 1.0):
        g_w, g_l = _pair(cos)
        w, lo = resolve_pair(g_w, g_l, cos)
        torch.testing.assert_close(w, g_w)
        torch.testing.assert_close(lo, g_l)


def test_critical_conflict_keeps_winner_and_projects_loser():
    g_w, g_l = _pair(-0.9)
    w, lo = resolve_pair(g_w, g_l, -0.9)
    torch.testing.assert_close(w, g_w, atol=1e-12, rtol=0)
    assert abs(float(lo @ g_w)) < 1e-7
    torch.testing.assert_close(lo, torch.tensor([0.0, 2 * math.sqrt(1 - 0.81)]).double())


def test_main_threshold_projects_both_symmetrically():
    g_w, g_l = _pair(-0.5)
    w, lo = resolve_pair(g_w, g_l, -0.5)  # angle pi/2: both sines are 1
    dot = float(g_w @ g_l)
    torch.testing.assert_close(w, g_w - dot / float(g_l @ g_l) * g_l)
    torch.testing.assert_close(lo, g_l - dot * g_w)
    assert abs(float(w @ g_l)) < 1e-7 and abs(float(lo @ g_w)) < 1e-7


def test_between_zones_scales_the_winner_projection():
    g_w, g_l = _pair(-0.65)
    a = PI / 2 + PI / 2 * 0.25
    w, lo = resolve_pair(g_w, g_l, -0.65)
    dot = float(g_w @ g_l)
    torch.testing.assert_close(w, g_w - math.sin(a) * dot / float(g_l @ g_l) * g_l)
    torch.testing.assert_close(lo, g_l - dot * g_w)  # sin(min(a, pi/2)) = 1


@pytest.mark.parametrize(("cos", "zone"), [(-0.9, "zero"), (-0.6, "pcgrad"), (-0.2, "sym"), (0.1, "none")])
def test_legacy_four_zones(cos, zone):
    g_w, g_l = _pair(cos)
    w, lo = resolve_pair(g_w, g_l, cos, smooth=False)
    dot = float(g_w @ g_l)
    projected = g_l - dot * g_w
    want_l = {"zero": torch.zeros(2).double(), "pcgrad": projected, "sym": projected, "none": g_l}[zone]
    want_w = g_w - dot / float(g_l @ g_l) * g_l if zone == "sym" else g_w
    torch.testing.assert_close(lo, want_l)
    torch.testing.assert_close(w, want_w)


def test_aggregator_without_conflict_is_the_sum():
    g = torch.tensor([[1.0, 0.5], [0.2, 1.0], [0.3, 0.1]])
    agg = GCond(momentum_beta=None)
    torch.testing.assert_close(agg(g), g.sum(0))
    assert agg.last_stats["proj_iters"] == 0 and agg.last_stats["winners"] == []


def test_strength_decides_then_dominance_hands_over():
    agg = GCond(momentum_beta=None)
    strong = torch.tensor([[3.0, 0.0], [-1.0, 0.05]])
    winners = []
    for _ in range(4):
        agg(strong)
        winners += agg.last_stats["winners"]
    # task 0 wins on strength three times (its resolved previous gradient also agrees with it:
    # stability); after a window of 3 straight wins, the dominance rule hands the 4th to task 1
    assert winners == [0, 0, 0, 1]


def test_stability_outweighs_strength():
    agg = GCond(momentum_beta=None, dominance_window=0)
    agg.norm_ema = [1.0, 1.0]
    agg.prev = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # task 1 kept its direction, task 0 did not
    agg(torch.tensor([[1.5, 0.0], [-1.0, 0.1]]))
    assert agg.last_stats["winners"] == [1]


def test_momentum_is_bias_corrected_and_state_round_trips():
    g1, g2 = torch.tensor([[1.0, 0.0], [0.5, 1.0]]), torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    agg = GCond()
    torch.testing.assert_close(agg(g1), g1.sum(0))  # m_hat = g at step 1
    clone = GCond()
    clone.load_state_dict(agg.state_dict())
    want = (0.85 * 0.15 * g1.sum(0) + 0.15 * g2.sum(0)) / (1 - 0.85**2)
    torch.testing.assert_close(agg(g2), want)
    torch.testing.assert_close(clone(g2), want)


class _Drop(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.drop = nn.Dropout(0.5)
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        return self.drop(self.lin(x))


def _task_losses():
    return [lambda out, y: (out[:, 0] - y).pow(2).mean(), lambda out, y: (out[:, 1] + y).abs().mean()]


@pytest.mark.parametrize(("stochastic", "passes"), [(True, 4), (False, 8)])
def test_trainer_counts_backward_passes_and_uses_eval_mode(stochastic, passes):
    model = _Drop()
    gen = torch.Generator().manual_seed(0)
    data = lambda: (torch.randn(4, 3, generator=gen), torch.randn(4, generator=gen))  # noqa: E731
    trainer = GCondTrainer(model, _task_losses(), accumulation_steps=4, stochastic=stochastic)
    stats = trainer.step(data)
    assert stats["backward_passes"] == passes and trainer.backward_passes == passes
    assert model.training and not any(model.modes)
    assert model.lin.weight.grad is not None


def test_classical_accumulation_matches_naive_mean_of_batch_gradients():
    model = _Drop()
    batches = [(torch.randn(4, 3), torch.randn(4)) for _ in range(3)]
    it = iter(batches)
    trainer = GCondTrainer(model, _task_losses(), accumulation_steps=3, stochastic=False, lambdas=[1.0, 0.5])
    got, mean_losses = trainer.accumulate(lambda: next(it))
    model.eval()
    with torch.no_grad():
        want_mean = sum(float(_task_losses()[0](model(x), y)) for x, y in batches) / 3
    assert abs(mean_losses[0] - want_mean) < 1e-6
    rows = []
    for fn, lam in zip(_task_losses(), [1.0, 0.5], strict=True):
        total = sum(fn(model(x), y) for x, y in batches) * lam / 3
        model.zero_grad()
        total.backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(got, torch.stack(rows))


def test_trainer_rejects_indivisible_stochastic_steps():
    with pytest.raises(ValueError, match="divisible"):
        GCondTrainer(nn.Linear(2, 2), _task_losses(), accumulation_steps=3)
