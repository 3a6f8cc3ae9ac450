"""DCDM: scale-invariant loss, A-orthogonal directions, CG as the identity-net special case."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from layerwise import list_methods
from layerwise.analysis import conjugate_gradient
from layerwise.data import poisson_2d, poisson_matvec, poisson_rhs
from layerwise.nn import DCDMNet, dcdm_loss, dcdm_solve, fit_dcdm


class DenseInverse(nn.Module):
    """The ideal direction network: A^{-1} r exactly (float64)."""

    def __init__(self, A):
        super().__init__()
        self.register_buffer("inv", torch.tensor(np.linalg.inv(A.toarray())))

    def forward(self, r):
        return (r.reshape(r.shape[0], -1) @ self.inv.T).reshape(r.shape)


def _rhs(n, count, kind="random", seed=0):
    return torch.tensor(poisson_rhs(n, count, kind=kind, seed=seed))


def test_loss_is_invariant_to_rescaling_each_direction():
    torch.manual_seed(0)
    b, d = _rhs(6, 4), torch.randn(4, 6, 6, dtype=torch.float64)
    c = torch.tensor([3.0, -0.5, 1e-3, 250.0], dtype=torch.float64)[:, None, None]
    base = dcdm_loss(poisson_matvec, b, d)
    assert torch.allclose(dcdm_loss(poisson_matvec, b, c * d), base, rtol=1e-12, atol=0)
    assert not torch.allclose(dcdm_loss(poisson_matvec, b, d + 0.1 * torch.randn_like(d)), base)


def test_loss_matches_a_dense_reference_and_vanishes_at_the_exact_solution():
    n = 5
    A = poisson_2d(n).toarray()
    b = _rhs(n, 3, seed=1)
    d = torch.randn(3, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = []
    for bi, di in zip(b.reshape(3, -1).numpy(), d.reshape(3, -1).numpy(), strict=True):
        alpha = di @ bi / (di @ A @ di)
        ref.append(np.sum((bi - alpha * A @ di) ** 2))
    assert np.isclose(float(dcdm_loss(poisson_matvec, b, d)), np.mean(ref), rtol=1e-12)
    exact = torch.tensor(np.linalg.solve(A, b.reshape(3, -1).numpy().T).T).reshape(3, n, n)
    assert float(dcdm_loss(poisson_matvec, b, 7.0 * exact)) < 1e-28


@pytest.mark.parametrize("n_orth", [1, 2, 3])
def test_consecutive_directions_are_A_orthogonal_to_1e_10(n_orth):
    torch.manual_seed(0)
    net = DCDMNet(channels=4).double()
    A = poisson_2d(8)
    seen = []
    dcdm_solve(net, A, _rhs(8, 3).reshape(3, -1).numpy().T, max_iter=12, n_orth=n_orth,
               callback=lambda it, q: seen.append(q.copy()))
    assert len(seen) == 12
    for t in range(1, len(seen)):
        for lag in range(1, min(n_orth, t) + 1):
            p, q = seen[t - lag], seen[t]
            cos = np.einsum("ij,ij->j", q, A @ p) / np.sqrt(
                np.einsum("ij,ij->j", q, A @ q) * np.einsum("ij,ij->j", p, A @ p))
            assert np.abs(cos).max() < 1e-10, (t, lag)


def test_identity_network_reproduces_cg_and_the_exact_inverse_solves_in_one_step():
    A = poisson_2d(10)
    b = _rhs(10, 3, kind="smooth").reshape(3, -1).numpy().T
    res = dcdm_solve(nn.Identity(), A, b, tol=1e-8)  # q = r: CG's directions (Krylov, 2-term)
    assert res.iterations.tolist() == conjugate_gradient(A, b, tol=1e-8).iterations.tolist()
    one = dcdm_solve(DenseInverse(A), A, b, tol=1e-8)
    assert one.iterations.tolist() == [1, 1, 1]
    assert np.allclose(one.x, np.linalg.solve(A.toarray(), b), atol=1e-12)


def test_network_is_fully_convolutional_with_the_spec_layer_count():
    net = DCDMNet(channels=4, levels=1)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6  # input, down, 2 bottom, up, 1x1 output
    for shape in ((2, 8, 8), (2, 1, 8, 8), (1, 12, 16)):
        assert net(torch.randn(shape)).shape == shape
    deep = DCDMNet(channels=4, levels=3)
    assert deep(torch.randn(1, 16, 16)).shape == (1, 16, 16)


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    net = DCDMNet(channels=4)
    rhs = _rhs(8, 32, kind="spectral").float()
    losses = fit_dcdm(net, rhs, poisson_matvec, steps=20, lr=1e-2, batch_size=4)
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


def test_registered_as_module():
    assert {e.name for e in list_methods("dcdm", kind="module")} == {"dcdm"}


def test_bad_input_names_the_argument():
    net, A, b = DCDMNet(channels=2), poisson_2d(4), np.ones(16)
    with pytest.raises(ValueError, match="n_orth must be an int >= 1"):
        dcdm_solve(net, A, b, n_orth=0)
    with pytest.raises(ValueError, match="grid must be"):
        dcdm_solve(net, A, b, grid=(2, 4))
    with pytest.raises(ValueError, match="A must be square"):
        dcdm_solve(net, sp.random(16, 12, density=0.3), b)
    with pytest.raises(ValueError, match="A must be symmetric"):
        dcdm_solve(net, sp.csr_matrix(np.triu(np.ones((16, 16)))), b)
    with pytest.raises(ValueError, match="b must have shape \\(16,\\)"):
        dcdm_solve(net, A, np.ones(9))
    with pytest.raises(ValueError, match="b and d must share a shape"):
        dcdm_loss(poisson_matvec, torch.ones(2, 4, 4), torch.ones(2, 4, 5))
    with pytest.raises(ValueError, match="channels must be an int >= 1"):
        DCDMNet(channels=0)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*levels = 4"):
        DCDMNet(channels=2, levels=2)(torch.zeros(1, 6, 6))
    with pytest.raises(ValueError, match="r must have shape"):
        net(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="steps >= 1"):
        fit_dcdm(net, torch.ones(3, 4, 4), poisson_matvec, steps=0)
