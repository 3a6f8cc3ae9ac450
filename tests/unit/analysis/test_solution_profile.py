"""solution_profile: known-rank activations, orthogonal class means, weight spectra, bad input."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
from torch import nn

from layerwise.analysis import DegenerateActivationWarning, cross_class_cosine, solution_profile
from layerwise.models import MLP


def _centred_orthonormal(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """n x k with orthonormal columns that are also orthogonal to the ones vector (mean zero)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, k, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(a - a.mean(dim=0))
    return q


def test_effective_rank_of_a_known_rank_matrix():
    """Layer outputs spanning 3 equal directions in 10 features: effective rank exactly 3."""
    model = nn.Sequential(nn.Identity(), nn.Identity())
    basis = _centred_orthonormal(40, 3)
    rows = _centred_orthonormal(10, 3, seed=1)
    x = (basis @ rows.T * 5.0).float()  # singular values 5, 5, 5 after centring
    prof = solution_profile(model, x, layers="0")
    assert prof.layers == ("0",)
    assert prof.effective_rank["0"] == pytest.approx(3.0, abs=1e-4)
    assert math.isnan(prof.cross_class_cosine["0"])  # no labels given


def test_orthogonal_class_means_have_zero_cross_class_cosine():
    eye = torch.eye(4)
    x = torch.cat([eye * 2.0, eye * 3.0])  # class c: two samples along axis c
    y = torch.arange(4).repeat(2)
    assert cross_class_cosine(x, y) == pytest.approx(0.0, abs=1e-12)
    prof = solution_profile(nn.Sequential(nn.Identity()), (x, y), layers="0")
    assert prof.cross_class_cosine["0"] == pytest.approx(0.0, abs=1e-12)
    same = torch.ones(6, 3)  # every class represented alike: cosine 1
    assert cross_class_cosine(same, torch.tensor([0, 1, 2, 0, 1, 2])) == pytest.approx(1.0)
    # 2 classes at 60 degrees
    pair = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    assert cross_class_cosine(pair, torch.tensor([0, 1])) == pytest.approx(0.5)


def test_one_class_gives_nan_with_a_warning():
    with pytest.warns(DegenerateActivationWarning):
        assert math.isnan(cross_class_cosine(torch.randn(5, 3), torch.zeros(5)))


def test_weight_spectra_equal_svdvals_and_sparsity_counts_dead_units():
    torch.manual_seed(0)
    model = MLP(in_dim=6, out_dim=2, depth=2, width=5)
    with torch.no_grad():
        model.blocks[1].linear.bias.fill_(-100.0)  # block 1's ReLU outputs are all zero
    with pytest.warns(DegenerateActivationWarning):  # block 1 is dead: its rank and cosine are NaN
        prof = solution_profile(model, (torch.randn(30, 6), torch.arange(30) % 2))
    assert math.isnan(prof.effective_rank["blocks.1"]) and math.isnan(prof.cross_class_cosine["blocks.1"])
    assert prof.layers == ("blocks.0", "blocks.1")
    for name in ("blocks.0.linear.weight", "blocks.1.linear.weight"):
        w = dict(model.named_parameters())[name].detach().double()
        torch.testing.assert_close(torch.from_numpy(prof.weight_spectra[name]), torch.linalg.svdvals(w))
    assert prof.sparsity["blocks.1"] == 1.0 and 0.0 < prof.sparsity["blocks.0"] < 1.0
    assert model.training  # the mode is restored


def test_split_input_uses_validation_part_and_batches_agree():
    from layerwise.data import Split

    torch.manual_seed(1)
    model = MLP(in_dim=4, out_dim=3, depth=2, width=8)
    x, y = torch.randn(50, 4), torch.arange(50) % 3
    data = Split(x_train=x[:0], y_train=y[:0], x_val=x, y_val=y, num_classes=3, name="t")
    whole = solution_profile(model, data)
    chunked = solution_profile(model, (x, y), batch_size=7)
    assert whole.effective_rank == pytest.approx(chunked.effective_rank)
    assert whole.cross_class_cosine == pytest.approx(chunked.cross_class_cosine)
    assert whole.mean("effective_rank") == pytest.approx(sum(whole.effective_rank.values()) / 2)


def test_bad_input_names_the_argument():
    model = MLP(in_dim=4, out_dim=3, depth=2, width=8)
    data = (torch.randn(6, 4), torch.arange(6) % 3)
    with pytest.raises(ValueError, match="layers='decoder'"):
        solution_profile(model, data, layers="decoder")
    with pytest.raises(ValueError, match="data holds no samples"):
        solution_profile(model, (torch.randn(0, 4), torch.zeros(0)))
    with pytest.raises(ValueError, match="data: 6 inputs but 5 labels"):
        solution_profile(model, (torch.randn(6, 4), torch.zeros(5)))
    with pytest.raises(TypeError, match="data must be"):
        solution_profile(model, "digits")
    with pytest.raises(TypeError, match="model must be"):
        solution_profile(lambda x: x, data)
    with pytest.raises(ValueError, match="batch_size"):
        solution_profile(model, data, batch_size=0)
    with pytest.raises(ValueError, match="what must be"):
        solution_profile(model, data).mean("rank")


def test_registered_and_example_runs():
    from layerwise._registry import _ENTRIES  # no lookup through get(): it imports every provider

    entry = _ENTRIES[("diagnostic", "solution_profile")]
    assert entry.arxiv == "2507.12224" and entry.obj is solution_profile
    module = importlib.import_module("layerwise.analysis.solution_profile")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
