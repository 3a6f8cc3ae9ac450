"""Effective rank, SPINAL contraction on known power laws, Fisher-Rao transport."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layerwise.analysis import (
    DegenerateActivationWarning,
    contraction_score,
    effective_rank,
    fisher_rao_distance,
    transport_score,
)


def _with_spectrum(sigma: torch.Tensor, n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(n, sigma.numel(), dtype=torch.float64, generator=g))
    v, _ = torch.linalg.qr(torch.randn(sigma.numel(), sigma.numel(), dtype=torch.float64, generator=g))
    return (u * sigma) @ v.T


@pytest.mark.parametrize("k", [1, 3, 10])
def test_effective_rank_of_k_equal_singular_values_is_k(k):
    sigma = torch.cat([torch.full((k,), 2.5, dtype=torch.float64), torch.zeros(20 - k, dtype=torch.float64)])
    assert effective_rank(_with_spectrum(sigma)) == pytest.approx(k, abs=1e-9)


def test_effective_rank_between_one_and_full_and_zero_matrix():
    sigma = torch.tensor([10.0, 1.0, 0.1, 0.01], dtype=torch.float64)
    assert 1.0 < effective_rank(_with_spectrum(sigma)) < 4.0
    # golden: sigma (3, 1) -> p = (3/4, 1/4), exp(entropy) = 4 / 3**0.75 (singular values, not squares)
    assert effective_rank(_with_spectrum(torch.tensor([3.0, 1.0], dtype=torch.float64))) == pytest.approx(
        4 / 3**0.75, abs=1e-12
    )
    with pytest.warns(DegenerateActivationWarning):
        assert math.isnan(effective_rank(torch.zeros(5, 3)))


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0])
def test_contraction_recovers_the_power_law_exponent(exponent):
    ranks = torch.arange(1, 101, dtype=torch.float64)
    h = _with_spectrum(ranks.pow(-exponent))
    assert contraction_score(h) == pytest.approx(exponent, abs=0.05)
    assert contraction_score(h, tail=(0.3, 0.99)) == pytest.approx(exponent, abs=0.05)


@pytest.mark.parametrize("exponent", [0.5, 1.0])
def test_contraction_on_noisy_gaussian_features(exponent):
    """Gaussian samples with feature scales k^-a: the spectrum only approximates the power law."""
    g = torch.Generator().manual_seed(1)
    scales = torch.arange(1, 41, dtype=torch.float64).pow(-exponent)
    h = torch.randn(8000, 40, dtype=torch.float64, generator=g) * scales
    assert contraction_score(h) == pytest.approx(exponent, abs=0.05)


def test_contraction_folds_tokens_and_rejects_degenerate():
    h = torch.randn(4, 50, 16) * torch.arange(1, 17).pow(-1.0)
    assert contraction_score(h) == pytest.approx(contraction_score(h.reshape(200, 16)))
    with pytest.warns(DegenerateActivationWarning):
        assert math.isnan(contraction_score(torch.ones(10, 1)))
    with pytest.raises(ValueError):
        contraction_score(h, tail=(0.9, 0.5))


def test_fisher_rao_properties():
    p = torch.softmax(torch.randn(6, 32, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(6, 32, dtype=torch.float64), -1)
    r = torch.softmax(torch.randn(6, 32, dtype=torch.float64), -1)
    assert (fisher_rao_distance(p, p) == 0).all()
    disjoint = fisher_rao_distance(torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.2, 0.8]))
    assert float(disjoint) == pytest.approx(math.pi, abs=1e-12)
    bc = (p * q).sqrt().sum(-1)
    assert torch.allclose(fisher_rao_distance(p, q), 2 * torch.arccos(bc), atol=1e-10)
    assert torch.allclose(fisher_rao_distance(p, q), fisher_rao_distance(q, p))
    assert (fisher_rao_distance(p, r) <= fisher_rao_distance(p, q) + fisher_rao_distance(q, r) + 1e-12).all()


def test_transport_score():
    probs = torch.softmax(torch.randn(5, 3, 7, 16), -1)  # layers, batch, tokens, vocab
    t = transport_score(probs)
    assert t.steps.shape == (4,) and t.length == pytest.approx(t.steps.sum())
    expected = fisher_rao_distance(probs[1], probs[2]).mean()
    assert t.steps[1] == pytest.approx(float(expected))
    same = transport_score(probs[:1].expand(4, 3, 7, 16))
    assert same.length == 0.0 and np.all(same.steps == 0)
    with pytest.raises(ValueError, match="softmax"):
        transport_score(torch.randn(3, 7, 16))
    with pytest.raises(ValueError, match="layers"):
        transport_score(probs[:1])
