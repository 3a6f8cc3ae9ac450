"""capacity_curve: grid shapes, a cell equals a direct run, exact targets reach ~0, equivariance."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

import layerwise.analysis.capacity as capacity_module
import layerwise.data._seq_maps as seq_maps_module
import layerwise.models.single_layer as single_layer_module
from layerwise._registry import get
from layerwise.analysis import CapacityCurve, capacity_curve, equivariant_floor, fit_single_layer
from layerwise.data import smooth_seq_map
from layerwise.models import SingleLayerTransformer

FAST = dict(steps=10, batch_size=16, n_train=64, n_test=32)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_curve_shapes_and_a_cell_equals_a_direct_run_with_the_same_seed():
    f = smooth_seq_map(seed=3)
    curve = capacity_curve(f, heads=(1, 2), widths=(4, 8, 16), seed=5, **FAST)
    assert curve.rmse.shape == curve.max_error.shape == (2, 3)
    assert curve.width_slope().shape == (2,) and curve.heads_slope().shape == (3,)
    assert np.all(curve.max_error >= curve.rmse) and np.all(curve.rmse > 0)
    direct = fit_single_layer(f, heads=2, width=8, seed=5, **FAST)
    assert direct["rmse"] == curve.rmse[1, 1] and direct["max_error"] == curve.max_error[1, 1]
    assert direct["target_rms"] == curve.target_rms
    other_seed = fit_single_layer(f, heads=2, width=8, seed=6, **FAST)
    assert other_seed["rmse"] != direct["rmse"]  # the seed matters, so the equality above is not vacuous


def test_slopes_are_least_squares_in_log_log():
    widths, heads = (4, 8, 32), (1, 2, 4)
    rmse = np.array([[3.0 * w**-0.5 * h**0.25 for w in widths] for h in heads])
    curve = CapacityCurve(heads, widths, rmse, 2 * rmse, 1.0, True)
    np.testing.assert_allclose(curve.width_slope(), -0.5, atol=1e-12)
    np.testing.assert_allclose(curve.heads_slope(), 0.25, atol=1e-12)
    assert np.all(np.isnan(CapacityCurve((1,), (8,), rmse[:1, :1], rmse[:1, :1], 1.0, True).width_slope()))


def test_an_exactly_representable_target_reaches_near_zero_error():
    """``y_i = A x_i + c_i`` is the model with its attention and FFN branches at zero."""
    g = torch.Generator().manual_seed(0)
    a, c = torch.randn(2, 3, generator=g), torch.randn(4, 3, generator=g)
    curve = capacity_curve(lambda x: x @ a + c, heads=(2,), widths=(8,), steps=400, batch_size=128,
                           n_train=128, n_test=256, lr=3e-2)
    assert curve.rel_rmse[0, 0] < 0.02, curve.rel_rmse  # 2% of the target's spread (0.008 seen)


def test_without_positions_the_model_is_exactly_permutation_equivariant():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    perm = [3, 0, 4, 1, 2]
    plain = SingleLayerTransformer(in_dim=2, out_dim=3, seq_len=5, width=8, heads=2, positional=False)
    plain.double()
    torch.testing.assert_close(plain(x[:, perm]), plain(x)[:, perm], atol=1e-6, rtol=0)
    assert plain(torch.randn(2, 7, 2, dtype=torch.float64)).shape == (2, 7, 3)  # any length without PE
    with_pe = SingleLayerTransformer(in_dim=2, out_dim=3, seq_len=5, width=8, heads=2).double()
    assert (with_pe(x[:, perm]) - with_pe(x)[:, perm]).abs().max() > 1e-3


def test_equivariant_floor_against_closed_forms():
    x = torch.rand(16, 4, 2) * 2 - 1
    assert equivariant_floor(smooth_seq_map(position=0.0, seed=1), x) < 1e-6  # equivariant target
    offsets = torch.tensor([1.0, -2.0, 0.5, 3.0])
    floor = equivariant_floor(lambda z: offsets.expand(len(z), 4).unsqueeze(-1), x)
    assert math.isclose(floor, float(offsets.double().std(unbiased=False)), rel_tol=1e-9)  # best: the mean
    assert equivariant_floor(smooth_seq_map(seed=1), x) > 0.05


def test_smooth_map_is_seeded_and_position_dependent():
    x = torch.rand(8, 4, 2) * 2 - 1
    torch.testing.assert_close(smooth_seq_map(seed=2)(x), smooth_seq_map(seed=2)(x))
    assert not torch.allclose(smooth_seq_map(seed=2)(x), smooth_seq_map(seed=3)(x))
    f = smooth_seq_map(position=0.0, seed=2)
    torch.testing.assert_close(f(x[:, [2, 0, 3, 1]]), f(x)[:, [2, 0, 3, 1]])


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(heads=()), "heads must be a non-empty"),
    (dict(widths=[]), "widths must be a non-empty"),
    (dict(heads=(3,), widths=(8,)), "heads=3 does not divide width=8"),
    (dict(widths=(0,)), r"widths\[0\] must be >= 1"),
    (dict(heads=(-1,)), r"heads\[0\] must be >= 1"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(n_test=0), "n_test must be >= 1"),
    (dict(lr=0.0), "lr must be a finite float > 0"),
])
def test_bad_grids_and_sizes_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        capacity_curve(smooth_seq_map(), **{"heads": (1,), "widths": (8,), **FAST, **kwargs})


def test_other_bad_inputs():
    with pytest.raises(TypeError, match="widths\\[0\\] must be an int"):
        capacity_curve(smooth_seq_map(), heads=(1,), widths=(8.0,), **FAST)
    with pytest.raises(TypeError, match="target must be a callable"):
        capacity_curve("not a map", heads=(1,), widths=(8,), **FAST)
    with pytest.raises(ValueError, match="target must map"):
        capacity_curve(lambda x: x.sum(-1), heads=(1,), widths=(8,), **FAST)
    with pytest.raises(ValueError, match="heads must divide width"):
        SingleLayerTransformer(in_dim=2, out_dim=2, seq_len=4, width=6, heads=4)
    with pytest.raises(ValueError, match="seq_len=4"):
        SingleLayerTransformer(in_dim=2, out_dim=2, seq_len=4, width=8, heads=2)(torch.rand(1, 5, 2))
    with pytest.raises(ValueError, match="seq_len must be an int >= 1"):
        smooth_seq_map(seq_len=0)
    with pytest.raises(ValueError, match="1 to 8 positions"):
        equivariant_floor(lambda z: z, torch.rand(2, 9, 1))


def test_registered_and_examples_run():
    assert get("capacity_curve", kind="diagnostic").obj is capacity_curve
    assert get("single_layer_transformer", kind="model").obj is SingleLayerTransformer
    assert get("smooth_seq_map", kind="dataset").arxiv == "2507.10581"
    for module in (capacity_module, seq_maps_module, single_layer_module):
        failed, attempted = doctest.testmod(module, verbose=False)
        assert attempted >= 1 and failed == 0, module.__name__
