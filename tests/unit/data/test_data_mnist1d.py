import random
import sys

import numpy as np
import pytest
import torch

from layerwise.data import clear_caches, mnist1d


def test_shapes_dtypes_split():
    split = mnist1d(num_samples=500)
    assert split.x_train.shape == (400, 40) and split.x_val.shape == (100, 40)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert set(split.y_train.tolist()) == set(range(10)) and split.num_classes == 10
    both = torch.cat([split.x_train, split.x_val])
    assert abs(float(both.mean())) < 1e-3 and float(both.std()) == pytest.approx(1.0, abs=1e-2)


def test_deterministic_across_cache_and_seed_dependent():
    first = mnist1d(num_samples=300, seed=1)
    clear_caches()
    second = mnist1d(num_samples=300, seed=1)
    other = mnist1d(num_samples=300, seed=2)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_val, second.y_val)
    assert not torch.equal(first.x_train, other.x_train)


def test_callers_cannot_corrupt_the_cache():
    split = mnist1d(num_samples=300)
    reference = split.x_train.clone()
    split.x_train.zero_()
    split.y_train.fill_(7)
    again = mnist1d(num_samples=300)
    assert torch.equal(again.x_train, reference) and not bool((again.y_train == 7).all())


def test_global_numpy_and_random_states_are_restored():
    clear_caches()
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    mnist1d(num_samples=200, seed=5)
    assert (np.random.random(), random.random()) == expected


def test_missing_package_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"pip install 'layerwise\[data\]'"):
        mnist1d(num_samples=200)


def test_too_few_samples():
    with pytest.raises(ValueError, match="num_samples must be >= 10"):
        mnist1d(num_samples=5)
