"""Cross-model ridge maps: R^2 against sklearn's Ridge, and the relative-depth diagonal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise.analysis import linear_map_r2


def test_matches_sklearn_ridge_on_the_same_split():
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    x = torch.randn(200, 5, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(5, 4, dtype=torch.float64))
    r2 = linear_map_r2([x], [y], alpha=3.0, seed=7)[0, 0]
    order = np.random.default_rng(7).permutation(200)
    test, train = order[:50], order[50:]
    xs = (x.numpy() - x.numpy()[train].mean(0)) / x.numpy()[train].std(0, ddof=1)
    ys = (y.numpy() - y.numpy()[train].mean(0)) / y.numpy()[train].std(0, ddof=1)
    pred = Ridge(alpha=3.0, fit_intercept=False).fit(xs[train], ys[train]).predict(xs[test])
    ref = r2_score(ys[test], pred, multioutput="variance_weighted")
    assert r2 == pytest.approx(ref, abs=1e-10)


def test_diagonal_in_relative_depth():
    z1, z2 = torch.randn(500, 6), torch.randn(500, 6)
    shallow = [z1, z2]  # layer 0 computes z1, layer 1 computes z2
    deep = [z @ torch.randn(6, 10) for z in (z1, z1, z2, z2)]
    r2 = linear_map_r2(shallow, deep)
    assert r2.shape == (2, 4)
    assert r2[0, :2].min() > 0.99 and r2[1, 2:].min() > 0.99
    assert np.abs(r2[0, 2:]).max() < 0.1 and np.abs(r2[1, :2]).max() < 0.1
    assert r2.argmax(1).tolist() in ([0, 2], [0, 3], [1, 2], [1, 3])


def test_bad_inputs():
    x = torch.randn(20, 3)
    with pytest.raises(ValueError, match="same samples"):
        linear_map_r2([x], [torch.randn(19, 3)])
    with pytest.raises(ValueError):
        linear_map_r2([x], [x], test_fraction=1.0)
    r2 = linear_map_r2([x], [torch.ones(20, 2)])  # a constant target has no variance to explain
    assert np.isnan(r2).all()
