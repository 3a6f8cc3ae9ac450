"""Linear CKA against naive HSIC references, its invariances, degenerate inputs and the mini-batch mode."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch

from layerwise.analysis import (
    DegenerateActivationWarning,
    MinibatchCKA,
    cka_matrix,
    linear_cka,
    minibatch_cka,
    streamed_cka,
)
from layerwise.layers import block_outputs
from layerwise.models import MLP


def _naive_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. eq. (biased HSIC): tr(K H L H) with explicit n x n Gram and centring matrices."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(k, l_) / math.sqrt(hsic(k, k) * hsic(l_, l_))


def _u_statistic_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC as the U-statistic over ordered distinct 4-tuples (Song et al., 2012), no closed form."""
    k, l_ = x @ x.T, y @ y.T
    terms = [
        k[i, j] * l_[i, j] + k[i, j] * l_[q, r] - 2.0 * k[i, j] * l_[i, q]
        for i, j, q, r in itertools.permutations(range(x.shape[0]), 4)
    ]
    return float(np.mean(terms))


@pytest.mark.parametrize(("n", "d1", "d2"), [(20, 5, 7), (6, 30, 40)])  # feature side; kernel side
def test_matches_naive_hsic_formula(n, d1, d2):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d1))
    y = x @ rng.normal(size=(d1, d2)) + rng.normal(size=(n, d2))
    assert linear_cka(x, y) == pytest.approx(_naive_cka(x, y), abs=1e-12)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    assert linear_cka(torch.from_numpy(x32), torch.from_numpy(y32)) == pytest.approx(
        _naive_cka(x32.astype(np.float64), y32.astype(np.float64)), abs=1e-12
    )


def test_unbiased_matches_the_u_statistic():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3))
    y = x @ rng.normal(size=(3, 4)) + 0.5 * rng.normal(size=(8, 4))
    naive = _u_statistic_hsic(x, y) / math.sqrt(_u_statistic_hsic(x, x) * _u_statistic_hsic(y, y))
    assert linear_cka(x, y, unbiased=True) == pytest.approx(naive, abs=1e-12)


def test_invariances():
    x = torch.randn(300, 32, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(32, 24, dtype=torch.float64))
    base = linear_cka(x, y)
    q, _ = torch.linalg.qr(torch.randn(32, 32, dtype=torch.float64))
    assert abs(linear_cka(x @ q, y) - base) < 1e-10
    for scale in (1e-60, 1e-7, 3.0, 1e6, 1e60):  # extreme scales: 4th powers would over/underflow
        assert abs(linear_cka(scale * x, y) - base) < 1e-10
        assert abs(linear_cka(x, y, unbiased=True) - linear_cka(x, scale * y, unbiased=True)) < 1e-10
    assert abs(linear_cka(x + 100.0, y) - base) < 1e-10  # centring
    stretch = torch.logspace(-1, 1, 32, dtype=torch.float64)
    assert abs(linear_cka(x * stretch, y) - base) > 1e-3  # not invariant to non-isotropic scaling


def test_identical_and_bounds():
    x = torch.randn(100, 10)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= linear_cka(x, torch.randn(100, 10)) <= 1.0


def test_collapsed_deep_relu_mlp_gives_the_float64_answer():
    """DESIGN's lesson: the default-init 16-layer ReLU MLP, whose deep per-unit spread collapses to ~1e-7."""
    model = MLP(in_dim=32, out_dim=10, depth=16, width=256)
    x = torch.randn(64, 32)
    acts32 = block_outputs(model, x)
    assert acts32[-1].std(dim=0).mean() < 1e-6  # the pathology is really there
    truth = cka_matrix(block_outputs(copy.deepcopy(model).double(), x.double()))
    m = cka_matrix(acts32)
    assert np.isfinite(m).all() and np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert np.abs(m - truth).max() < 1e-3  # float32 activations, float64 statistics: still the right answer
    assert 0.3 < m[-1, 0] < 0.5  # not a degenerate 0 or 1


def test_degenerate_inputs_give_nan_with_a_warning():
    x = torch.randn(50, 4)
    with pytest.warns(DegenerateActivationWarning, match="constant"):
        assert math.isnan(linear_cka(torch.full((50, 4), 0.3), x))
    with pytest.warns(DegenerateActivationWarning):
        assert math.isnan(linear_cka(x, torch.zeros(50, 4), unbiased=True))
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.warns(DegenerateActivationWarning, match="non-finite"):
        assert math.isnan(linear_cka(bad, x))
    with pytest.warns(DegenerateActivationWarning, match=r"acts_a\[1\]"):
        m = cka_matrix([x, torch.ones(50, 4), x**2])
    assert np.isnan(m[1]).all() and np.isnan(m[:, 1]).all() and np.isfinite(m[[0, 2]][:, [0, 2]]).all()


def test_matrix_entries_equal_pairwise_calls():
    a = [torch.randn(40, 5) for _ in range(3)]
    b = [torch.randn(40, 7), a[0] @ torch.randn(5, 7)]
    m = cka_matrix(a, b)
    assert m.shape == (3, 2)
    for i, j in itertools.product(range(3), range(2)):
        assert m[i, j] == pytest.approx(linear_cka(a[i], b[j]), abs=1e-12)
    with pytest.raises(ValueError, match="same samples"):
        cka_matrix(a, [torch.randn(39, 5)])


def test_never_builds_an_n_by_n_gram_for_large_n():
    """300,000 samples: an n x n float64 Gram would take 720 GB, so this only passes in feature space."""
    x = torch.randn(300_000, 3, dtype=torch.float64)
    y = x @ torch.randn(3, 2, dtype=torch.float64)
    assert 0.0 < linear_cka(x, y) <= 1.0
    assert 0.0 < linear_cka(x, y, unbiased=True) <= 1.0 + 1e-9
    acc = MinibatchCKA()
    acc.update(x, y)  # one huge batch is fine too
    assert acc.compute().shape == (1, 1)


def test_minibatch_single_batch_equals_full_unbiased():
    x, y = torch.randn(64, 6), torch.randn(64, 9)
    acc = MinibatchCKA()
    acc.update(x, y)
    assert acc.compute()[0, 0] == pytest.approx(linear_cka(x, y, unbiased=True), abs=1e-12)


def test_minibatch_close_to_full_and_bounded_by_batch():
    x = torch.randn(4000, 20, dtype=torch.float64)
    noise = 0.5 * torch.randn(4000, 30, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(20, 30, dtype=torch.float64)) + noise
    full = linear_cka(x, y, unbiased=True)
    assert minibatch_cka(x, y, batch_size=500) == pytest.approx(full, abs=0.02)
    acc = MinibatchCKA()
    for start in range(0, 4000, 500):
        acc.update([x[start : start + 500], y[start : start + 500]], [y[start : start + 500]])
    assert (acc.n_batches, acc.n_samples, acc.max_batch) == (8, 4000, 500)
    m = acc.compute()
    assert m.shape == (2, 1) and m[1, 0] == pytest.approx(1.0) and m[0, 0] == pytest.approx(full, abs=0.02)
    batches = ((x[s : s + 500], y[s : s + 500]) for s in range(0, 4000, 500))
    assert streamed_cka(batches)[0, 0] == pytest.approx(minibatch_cka(x, y, batch_size=500), abs=1e-12)


def test_minibatch_degenerate_and_misuse():
    acc = MinibatchCKA()
    with pytest.raises(RuntimeError):
        acc.compute()
    x = torch.randn(32, 4)
    acc.update([x, torch.zeros(32, 4)], [x])
    with pytest.warns(DegenerateActivationWarning, match=r"acts_a\[1\]"):
        m = acc.compute()
    assert m[0, 0] == pytest.approx(1.0) and math.isnan(m[1, 0])
    with pytest.raises(ValueError, match="layers per batch"):
        acc.update([x], [x])
    with pytest.raises(ValueError, match="at least 4"):
        MinibatchCKA().update(x[:3], x[:3])
