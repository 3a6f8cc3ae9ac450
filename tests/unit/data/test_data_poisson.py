"""poisson_2d: the 5-point Dirichlet Laplacian; poisson_rhs: unit-norm right-hand sides."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from layerwise import list_methods
from layerwise.data import poisson_2d, poisson_matvec, poisson_modes, poisson_rhs


def test_matrix_is_the_kronecker_sum_of_second_differences():
    n = 6
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    ref = (sp.kron(sp.eye(n), t) + sp.kron(t, sp.eye(n))).toarray()
    assert np.array_equal(poisson_2d(n).toarray(), ref)


def test_sine_modes_are_orthonormal_eigenvectors():
    n = 7
    s, lam = poisson_modes(n)
    v = np.einsum("ik,jl->ijkl", s, s).reshape(n * n, n * n)  # column (k, l) = grid S[:, k] S[:, l]^T
    assert np.allclose(v.T @ v, np.eye(n * n), atol=1e-12)
    assert np.allclose(poisson_2d(n) @ v, v * lam.ravel(), atol=1e-12)
    assert np.isclose(lam.min(), 4 - 4 * np.cos(np.pi / (n + 1)))


def test_variable_coefficients_give_an_spd_matrix_that_reduces_to_the_constant_one():
    rng = np.random.default_rng(0)
    kappa = rng.uniform(0.5, 2.0, (5, 5))
    a = poisson_2d(5, kappa=kappa).toarray()
    assert np.array_equal(a, a.T) and np.linalg.eigvalsh(a).min() > 0
    assert np.allclose(a.sum(axis=1)[6], 0.0)  # an interior row: the stencil annihilates constants
    assert np.array_equal(poisson_2d(5, kappa=np.ones((5, 5))).toarray(), poisson_2d(5).toarray())
    corner = 2 * kappa[0, 0] + (kappa[0, 0] + kappa[0, 1]) / 2 + (kappa[0, 0] + kappa[1, 0]) / 2
    assert np.isclose(a[0, 0], corner)  # two boundary faces and two mean-coefficient faces


def test_conv_matvec_equals_the_sparse_matrix():
    x = np.random.default_rng(1).standard_normal((3, 9, 9))
    got = poisson_matvec(torch.tensor(x)).numpy().reshape(3, -1)
    assert np.allclose(got, (poisson_2d(9) @ x.reshape(3, -1).T).T, atol=1e-13)


@pytest.mark.parametrize("kind", ["random", "smooth", "spectral"])
def test_rhs_are_unit_norm_and_seeded(kind):
    b = poisson_rhs(8, 5, kind=kind, seed=3)
    assert b.shape == (5, 8, 8) and b.dtype == np.float64
    assert np.allclose(np.linalg.norm(b.reshape(5, -1), axis=1), 1.0)
    assert np.array_equal(b, poisson_rhs(8, 5, kind=kind, seed=3))
    assert not np.array_equal(b, poisson_rhs(8, 5, kind=kind, seed=4))


def test_spectral_rhs_weight_the_low_half_and_smooth_rhs_are_low_frequency():
    n, count = 8, 400
    s, lam = poisson_modes(n)
    low = lam <= np.median(lam)
    energy = {}
    for kind in ("spectral", "random", "smooth"):
        c = s.T @ poisson_rhs(n, count, kind=kind) @ s  # eigen-coordinates
        energy[kind] = (c[:, low] ** 2).sum() / (c**2).sum()
    m = np.arange(1, n + 1)
    power = {"spectral": np.where(low, 81.0, 1.0),  # amplitude x9 on the low half
             "random": np.ones((n, n)),  # white noise is white in any orthonormal basis
             "smooth": 1.0 / (m[:, None] ** 2 + m[None, :] ** 2) ** 2}
    for kind, p in power.items():  # the expected share of energy on the low half, +-0.02 (400 draws)
        assert abs(energy[kind] - p[low].sum() / p.sum()) < 0.02, kind
    assert energy["smooth"] > 0.95 and energy["spectral"] > 0.95


def test_registered_as_datasets():
    names = {e.name for e in list_methods(kind="dataset")}
    assert {"poisson_2d", "poisson_rhs"} <= names


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="n \\(grid points"):
        poisson_2d(0)
    with pytest.raises(ValueError, match="kappa"):
        poisson_2d(3, kappa=np.ones((3, 4)))
    with pytest.raises(ValueError, match="kappa"):
        poisson_2d(3, kappa=-np.ones((3, 3)))
    with pytest.raises(ValueError, match="kind must be one of"):
        poisson_rhs(4, 2, kind="noise")
    with pytest.raises(ValueError, match="count"):
        poisson_rhs(4, 0)
    with pytest.raises(ValueError, match="low_fraction"):
        poisson_rhs(4, 2, kind="spectral", low_fraction=1.5)
    with pytest.raises(ValueError, match="x must have shape"):
        poisson_matvec(torch.zeros(3, 4, 5))
