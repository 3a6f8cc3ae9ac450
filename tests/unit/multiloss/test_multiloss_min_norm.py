"""MGDA's min-norm point against an independent exact reference, on random and degenerate Jacobians.

The reference enumerates every support S, solves the equality-constrained problem on S by least
squares and keeps the candidate that is feasible and passes the KKT check ``(G w)_i >= w^T G w``
for every i (Sener & Koltun 2018, arXiv 1810.04650; the min-norm point is MGDA's direction).
"""

import itertools
import warnings

import numpy as np
import pytest
import torch

from layerwise.multiloss import MGDA, min_norm_weights


def kkt_reference(jac: np.ndarray) -> np.ndarray:
    """The exact min-norm point of the rows' convex hull, by support enumeration with a KKT check."""
    g = jac @ jac.T
    g = g / max(g.diagonal().max(), 1e-300)
    k = len(g)
    for r in range(1, k + 1):
        for support in map(list, itertools.combinations(range(k), r)):
            kkt = np.block([[g[np.ix_(support, support)], np.ones((r, 1))],
                            [np.ones((1, r)), np.zeros((1, 1))]])
            v = np.linalg.lstsq(kkt, np.eye(r + 1)[r], rcond=None)[0][:r]
            if (v < -1e-12).any():
                continue
            w = np.zeros(k)
            w[support] = np.clip(v, 0, None) / np.clip(v, 0, None).sum()
            gw = g @ w
            if (gw >= w @ gw - 1e-11).all():
                return w @ jac
    raise AssertionError("no support satisfies the KKT conditions")


def random_jacobians(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield rng.standard_normal((int(rng.integers(3, 9)), 50)) * 10 ** rng.uniform(-4, 4)


def degenerate_jacobians():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 20))
    zero = base.copy()
    zero[2] = 0
    dup = base.copy()
    dup[3] = dup[1]
    opposite = np.stack([base[0], -2.5 * base[0], base[1]])
    rank2 = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 20))
    midpoint = base.copy()
    midpoint[4] = 0.5 * (base[0] + base[1])
    same_side = base + 5 * rng.standard_normal(20)
    k_over_dim = rng.standard_normal((7, 3))  # 0 lies inside the hull
    return {"zero": zero, "duplicate": dup, "opposite": opposite, "rank2": rank2, "midpoint": midpoint,
            "same_side": same_side, "k>dim": k_over_dim, "all_zero": np.zeros((4, 5))}


@pytest.mark.parametrize("seed", range(4))
def test_mgda_is_the_exact_min_norm_point_on_random_jacobians(seed):
    for jac in random_jacobians(seed, 10):
        ours = MGDA()(torch.from_numpy(jac)).numpy()
        exact = kkt_reference(jac)
        assert np.linalg.norm(ours - exact) <= 1e-9 * np.linalg.norm(exact)


@pytest.mark.parametrize("name", list(degenerate_jacobians()))
def test_mgda_is_exact_on_degenerate_jacobians(name):
    jac = degenerate_jacobians()[name]
    agg = MGDA()
    ours = agg(torch.from_numpy(jac)).numpy()
    w = agg.last_weights.numpy()
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
    scale = max(np.linalg.norm(jac, axis=1).max(), 1e-300)
    assert np.linalg.norm(ours - kkt_reference(jac)) <= 1e-10 * scale


def test_reference_agrees_with_scipy():
    optimize = pytest.importorskip("scipy.optimize")
    jac = next(random_jacobians(9, 1))
    k = len(jac)
    g = jac @ jac.T / (jac @ jac.T).diagonal().max()
    res = optimize.minimize(lambda w: w @ g @ w, np.full(k, 1 / k), jac=lambda w: 2 * g @ w, method="SLSQP",
                            bounds=[(0, 1)] * k, constraints={"type": "eq", "fun": lambda w: w.sum() - 1},
                            options={"ftol": 1e-15, "maxiter": 1000})
    exact = kkt_reference(jac)
    assert np.linalg.norm(res.x @ jac - exact) <= 1e-6 * np.linalg.norm(exact)


def test_frank_wolfe_warns_when_max_iter_ends_it():
    jac = torch.from_numpy(next(random_jacobians(3, 1)))
    with pytest.warns(RuntimeWarning, match=r"max_iter=3 .*exact_max_k"):
        MGDA(exact_max_k=2, max_iter=3)(jac)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MGDA(exact_max_k=2, max_iter=100_000, tol=1e-3)(jac)  # converges: silent
        MGDA()(jac)


def test_min_norm_weights_takes_a_float32_gram():
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    w = min_norm_weights(g @ g.T)
    assert w.dtype == torch.float64
    torch.testing.assert_close(w, torch.tensor([0.2, 0.8, 0.0], dtype=torch.float64))
