"""Convergent Learning unit matching: Hungarian against brute force, semi-matching, Lasso, clustering."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from layerwise.analysis import (
    DegenerateActivationWarning,
    cluster_units,
    match_units,
    matched_correlation,
    sparse_prediction,
    unit_correlation,
)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(5, 5), (4, 6)])
def test_bipartite_equals_brute_force(seed, shape):
    corr = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    best = max(
        itertools.permutations(range(shape[1]), shape[0]),
        key=lambda cols: corr[np.arange(shape[0]), list(cols)].sum(),
    )
    m = match_units(corr, "bipartite")
    assert m.partner.tolist() == list(best)
    assert m.corr.sum() == pytest.approx(corr[np.arange(shape[0]), list(best)].sum())
    assert len(set(m.partner.tolist())) == shape[0]  # one-to-one


def test_more_units_in_a_leaves_some_unmatched_and_semi_takes_the_row_max():
    corr = np.random.default_rng(0).uniform(-1, 1, size=(6, 4))
    m = match_units(corr, "bipartite")
    assert (m.partner == -1).sum() == 2 and np.isnan(m.corr).sum() == 2
    semi = match_units(corr, "semi")
    assert semi.partner.tolist() == corr.argmax(1).tolist() and np.allclose(semi.corr, corr.max(1))
    assert semi.mean >= match_units(corr[:4], "bipartite").mean
    with pytest.raises(ValueError, match="method"):
        match_units(corr, "greedy")
    with pytest.raises(ValueError, match="NaN"):
        match_units(np.full((2, 2), np.nan))


def test_correlation_matches_numpy_and_dead_units_are_zero():
    a, b = torch.randn(200, 4), torch.randn(200, 3)
    b[:, 0] = a[:, 2] * 2 + 1
    ref = np.corrcoef(a.T.double().numpy(), b.T.double().numpy())[:4, 4:]
    assert np.allclose(unit_correlation(a, b), ref, atol=1e-10)
    b[:, 1] = 0.0
    with pytest.warns(DegenerateActivationWarning, match="1 unit"):
        corr = unit_correlation(a, b)
    assert (corr[:, 1] == 0).all() and corr[2, 0] == pytest.approx(1.0)


def test_conv_layers_treat_positions_as_samples():
    a = torch.randn(10, 3, 4, 4)  # (B, C, H, W)
    b = a[:, [2, 0, 1]] * 1.5
    assert unit_correlation(a, b, unit_dim=1).shape == (3, 3)
    assert match_units(unit_correlation(a, b, unit_dim=1)).partner.tolist() == [1, 2, 0]


def test_permuted_copy_and_many_to_one_code():
    a = torch.randn(500, 6)
    perm = torch.randperm(6)
    scores = matched_correlation({"fc": a}, {"fc": a[:, perm] + 0.05 * torch.randn(500, 6)})
    assert scores["fc"]["bipartite"] > 0.99
    # B copies A's first unit three times: semi-matching finds partners that one-to-one matching cannot
    b = torch.stack([a[:, 0], a[:, 0], a[:, 0], a[:, 1], a[:, 2], a[:, 3]], 1) + 0.05 * torch.randn(500, 6)
    s = matched_correlation([b], [a])[0]
    assert s["semi"] > 0.99 and s["bipartite"] < 0.75
    with pytest.raises(ValueError, match="layers differ"):
        matched_correlation({"fc": a}, {"conv": a})


def test_sparse_prediction_finds_one_to_one_codes():
    a = torch.randn(400, 8, dtype=torch.float64)
    b = a[:, torch.randperm(8)] + 0.1 * torch.randn(400, 8, dtype=torch.float64)
    points = sparse_prediction(a, b, alphas=(2.0, 0.3, 0.05))
    assert [p.alpha for p in points] == [2.0, 0.3, 0.05]
    assert points[0].nonzeros == 0 and points[0].r2 < 0.05  # strongest L1: nothing kept
    assert points[1].nonzeros == pytest.approx(1.0) and points[1].r2 > 0.4  # one input per target unit
    assert points[2].r2 > 0.9 and points[2].nonzeros <= 2


def test_spectral_clustering_groups_units_by_shared_latent():
    z = torch.randn(600, 2, dtype=torch.float64)

    def net():
        w = torch.rand(3, dtype=torch.float64) + 0.5
        noise = 0.3 * torch.randn(600, 6, dtype=torch.float64)
        return torch.cat([z[:, :1] * w, z[:, 1:] * w], 1) + noise  # units 0-2 follow z0, units 3-5 z1

    la, lb = cluster_units(net(), net(), 2)
    assert len(set(la[:3])) == 1 and len(set(la[3:])) == 1 and la[0] != la[3]
    assert lb[:3].tolist() == la[:3].tolist() and lb[3:].tolist() == la[3:].tolist()  # shared across nets
