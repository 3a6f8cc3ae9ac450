"""Numbers in, numbers out: colour-scale decisions, binning, profile steps, layer order."""

import math

import numpy as np
import pytest

from layerwise.report import (
    choose_scale,
    decades,
    downsample,
    natural_key,
    order_layers,
    profile_columns,
    use_log,
)


def test_log_scale_only_beyond_two_decades():
    assert decades([1e-6, 1.0]) == pytest.approx(6.0)
    assert choose_scale([1e-6, 1e-3, 1.0]).kind == "log"
    assert choose_scale([1e-6, 1.0]).vmin == pytest.approx(1e-6)
    assert choose_scale([1.0, 50.0, 99.0]).kind == "linear"  # under 2 decades
    assert choose_scale([0.0, 1e-5, 1.0]).kind == "log"  # zeros do not block log
    assert not use_log([0.5, 20.0]) and use_log([1e-3, 20.0])
    assert not use_log([-1e-3, 20.0])  # negative values: never a log axis


def test_nonfinite_values_take_no_part():
    scale = choose_scale([math.nan, math.inf, -math.inf, 2.0, 4.0])
    assert (scale.kind, scale.vmin, scale.vmax) == ("linear", 2.0, 4.0)
    assert choose_scale([math.nan, math.inf]).kind == "linear"  # nothing finite: a harmless default
    assert choose_scale([]).kind == "linear"
    flat = choose_scale([3.0, 3.0])
    assert flat.vmin < 3.0 < flat.vmax


def test_both_signs_give_a_symmetric_diverging_scale():
    scale = choose_scale([-0.2, 0.1, 0.5])
    assert scale.kind == "diverging" and scale.diverging
    assert (scale.vmin, scale.vmax) == (-0.5, 0.5)
    wide = choose_scale([-1e-6, 1e-3, 1.0])
    assert wide.kind == "symlog" and wide.vmin == -1.0 and wide.linthresh == pytest.approx(1e-6)


def test_downsample_keeps_small_matrices_and_bins_large_ones():
    steps = np.arange(10)
    values = np.arange(20, dtype=float).reshape(2, 10)
    same_steps, same, factor = downsample(steps, values, max_columns=10)
    assert factor == 1 and same is values and same_steps is steps

    binned_steps, binned, factor = downsample(steps, values, max_columns=4)
    assert factor == 3  # ceil(10 / 4)
    assert binned_steps.tolist() == [0, 3, 6, 9]  # first step of each bin
    assert binned[0].tolist() == [1.0, 4.0, 7.0, 9.0]  # the last bin holds one column
    assert binned.shape == (2, 4)


def test_downsample_means_only_finite_values():
    values = np.array([[1.0, math.nan, 3.0, math.inf, math.nan, -math.inf]])
    _, binned, factor = downsample(np.arange(6), values, max_columns=3)
    assert factor == 2
    assert binned[0, 0] == 1.0 and binned[0, 1] == 3.0 and math.isnan(binned[0, 2])


def test_downsample_to_the_default_400_columns():
    steps, values, factor = downsample(np.arange(1000), np.ones((3, 1000)))
    assert factor == 3 and values.shape == (3, 334) and steps[1] == 3


def test_profile_columns_default_and_nearest():
    steps = np.array([0, 10, 20, 30, 40])
    assert profile_columns(steps) == [0, 2, 4]
    assert profile_columns(steps, [12, 39, 1000, 38]) == [1, 4]
    assert profile_columns(np.array([5])) == [0]
    assert profile_columns(np.array([], dtype=int)) == []


def test_layer_order():
    seen = ["blocks.0", "blocks.1", "blocks.10", "blocks.2"]  # a lexicographically sorted writer
    assert order_layers(seen) == ["blocks.0", "blocks.1", "blocks.2", "blocks.10"]
    assert order_layers(["head", "embed", ""]) == ["head", "embed"]  # first appearance, "" dropped
    assert order_layers(seen, preferred=["blocks.10", "blocks.2", "gone"]) == [
        "blocks.10", "blocks.2", "blocks.0", "blocks.1"]
    assert sorted(["a10", "a9", "b1"], key=natural_key) == ["a9", "a10", "b1"]
