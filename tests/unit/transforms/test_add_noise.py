"""Annealed Gaussian gradient noise: statistics over many draws, annealing, reproducibility."""

import pytest
import torch

from layerwise.transforms import add_noise, noise_variance

N = 200_000  # draws per check: the sample variance has a relative standard error of sqrt(2/N) = 0.3%


def _noise_at(t_step, eta=0.3, gamma=0.55, seed=0, n=N):
    tr = add_noise(eta=eta, gamma=gamma, seed=seed)
    g = {"w": torch.zeros(n)}
    out, state = tr.update(g, {"t": t_step, "seed": seed}, g)
    assert state == {"t": t_step + 1, "seed": seed}
    return out["w"].double()


def test_variance_formula():
    assert noise_variance(0) == pytest.approx(0.3)
    assert noise_variance(99, eta=1.0, gamma=0.55) == pytest.approx(100**-0.55)


@pytest.mark.parametrize(("eta", "t"), [(0.3, 0), (0.3, 99), (1.0, 10), (0.01, 5000)])
def test_noise_mean_zero_and_variance_eta_over_1_plus_t_to_gamma(eta, t):
    noise = _noise_at(t, eta=eta)
    var = eta / (1 + t) ** 0.55
    assert abs(noise.mean().item()) < 5 * (var / N) ** 0.5
    assert noise.var().item() == pytest.approx(var, rel=0.015)  # ~5 standard errors
    # Gaussian: the 4th standardized moment is 3 (a uniform would give 1.8)
    assert (noise.pow(4).mean() / noise.var() ** 2).item() == pytest.approx(3.0, abs=0.1)


def test_annealing_over_steps_and_noise_added_to_gradient():
    tr = add_noise(eta=1.0, gamma=0.55, seed=4)
    g = {"w": torch.full((50_000,), 2.0)}
    state = tr.init(g)
    variances = []
    for _ in range(30):
        out, state = tr.update(g, state, g)
        variances.append((out["w"] - 2.0).double().var().item())
    assert state["t"] == 30
    expected = [(1 + t) ** -0.55 for t in range(30)]
    for v, e in zip(variances, expected, strict=True):
        assert v == pytest.approx(e, rel=0.03)
    assert variances[-1] < variances[0] / 5  # 31^0.55 ~ 6.6


def test_reproducible_and_independent():
    a, b = _noise_at(7, n=1000), _noise_at(7, n=1000)
    assert torch.equal(a, b)  # same seed and step: same noise (e.g. after a checkpoint reload)
    others = [_noise_at(8, n=1000), _noise_at(7, seed=1, n=1000)]
    for other in others:
        corr = torch.corrcoef(torch.stack([a, other]))[0, 1].item()
        assert abs(corr) < 0.15
    tr = add_noise(seed=0)
    g = {"p": torch.zeros(1000), "q": torch.zeros(1000)}
    out, _ = tr.update(g, tr.init(g), g)
    assert abs(torch.corrcoef(torch.stack([out["p"], out["q"]]))[0, 1].item()) < 0.15
    assert torch.equal(g["p"], torch.zeros(1000))  # inputs untouched


def test_global_rng_untouched_and_dtype_kept():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tr = add_noise()
    g = {"w": torch.zeros(5, dtype=torch.float64)}
    out, _ = tr.update(g, tr.init(g), g)
    assert out["w"].dtype == torch.float64
    assert torch.equal(torch.rand(3), expected)


def test_rejects_negative_hyperparameters():
    with pytest.raises(ValueError):
        add_noise(eta=-1.0)
