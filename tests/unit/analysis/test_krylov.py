"""conjugate_gradient / jacobi_pcg: solve to tolerance, match scipy's CG counts, reject bad systems."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from layerwise import list_methods
from layerwise.analysis import conjugate_gradient, jacobi_pcg
from layerwise.data import poisson_2d, poisson_rhs


def _scipy_count(A, b, tol):
    count = [0]
    sla.cg(A, b, rtol=tol, callback=lambda _: count.__setitem__(0, count[0] + 1))
    return count[0]


def test_cg_matches_scipy_iteration_counts_and_the_dense_solution():
    A = poisson_2d(12)
    b = poisson_rhs(12, 3, kind="random", seed=2).reshape(3, -1).T
    res = conjugate_gradient(A, b, tol=1e-8)
    assert res.converged.all()
    assert res.iterations.tolist() == [_scipy_count(A, b[:, j], 1e-8) for j in range(3)]
    exact = np.linalg.solve(A.toarray(), b)
    assert np.abs(res.x - exact).max() < 1e-6 * np.abs(exact).max()
    true_rel = np.linalg.norm(b - A @ res.x, axis=0) / np.linalg.norm(b, axis=0)
    assert (true_rel < 1e-7).all()
    for j in range(3):  # the batched columns are independent: one column alone gives the same run
        single = conjugate_gradient(A, b[:, j], tol=1e-8)
        assert single.iterations == res.iterations[j] and np.allclose(single.x, res.x[:, j], atol=1e-14)


def test_residual_history_starts_at_one_and_counts_the_first_crossing():
    A = poisson_2d(6)
    res = conjugate_gradient(A, poisson_rhs(6, 1)[0].ravel(), tol=1e-6)
    assert res.residuals[0] == 1.0 and res.residuals.shape == (res.iterations + 1,)
    assert res.residuals[-1] < 1e-6 <= res.residuals[-2]


def test_cg_is_exact_in_at_most_n_distinct_eigenvalues_steps():
    A = sp.diags([1.0, 2.0, 2.0, 5.0, 5.0, 5.0])  # 3 distinct eigenvalues
    res = conjugate_gradient(A, np.ones(6), tol=1e-10)
    assert res.iterations == 3 and np.allclose(res.x, 1 / A.diagonal())


def test_jacobi_equals_cg_on_a_constant_diagonal_and_helps_on_a_scaled_system():
    A = poisson_2d(10)
    b = poisson_rhs(10, 4, kind="smooth", seed=1).reshape(4, -1).T
    assert np.array_equal(jacobi_pcg(A, b).iterations, conjugate_gradient(A, b).iterations)
    # symmetric diagonal scaling by 1..1000: CG suffers, Jacobi undoes the scaling exactly
    d = sp.diags(np.logspace(0, 3, 100))
    scaled = (d @ A @ d).tocsr()
    cg, pcg = conjugate_gradient(scaled, b, max_iter=2000), jacobi_pcg(scaled, b, max_iter=2000)
    assert pcg.converged.all() and (pcg.iterations < cg.iterations).all()
    true_rel = np.linalg.norm(b - scaled @ pcg.x, axis=0) / np.linalg.norm(b, axis=0)
    assert (true_rel < 1e-5).all()


def test_registered_as_diagnostics():
    names = {e.name for e in list_methods(kind="diagnostic")}
    assert {"conjugate_gradient", "jacobi_pcg"} <= names


def test_bad_systems_name_the_argument():
    A = poisson_2d(3)
    with pytest.raises(ValueError, match="A must be square"):
        conjugate_gradient(sp.random(4, 5, density=0.5), np.ones(4))
    with pytest.raises(ValueError, match="A must be symmetric"):
        conjugate_gradient(sp.csr_matrix(np.triu(np.ones((3, 3)))), np.ones(3))
    with pytest.raises(ValueError, match="b must have shape \\(9,\\)"):
        conjugate_gradient(A, np.ones(8))
    with pytest.raises(ValueError, match="tol must be in \\(0, 1\\)"):
        conjugate_gradient(A, np.ones(9), tol=0.0)
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        conjugate_gradient(A, np.ones(9), max_iter=0)
    with pytest.raises(ValueError, match="precond"):
        conjugate_gradient(A, np.ones(9), precond=-np.ones(9))
    with pytest.raises(ValueError, match="finite"):
        conjugate_gradient(A, np.full(9, np.nan))
    with pytest.raises(TypeError, match="A must be a 2-D"):
        conjugate_gradient([[1.0]], np.ones(1))
    with pytest.raises(ValueError, match="positive diagonal"):
        jacobi_pcg(-A, np.ones(9))
