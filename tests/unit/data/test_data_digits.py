import pytest
import torch

from layerwise.data import digits, stratified_split


def test_shapes_dtypes_and_ranges():
    split = digits()
    assert split.x_train.shape == (1438, 1, 8, 8) and split.x_val.shape == (359, 1, 8, 8)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert split.x_train.min() == 0 and split.x_train.max() == 1
    assert split.num_classes == 10 and set(split.y_val.tolist()) == set(range(10))
    flat = digits(flat=True)
    assert flat.x_train.shape == (1438, 64)
    assert torch.equal(flat.x_train, split.x_train.reshape(-1, 64))


def test_split_is_stratified_and_a_partition():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    full = torch.from_numpy(bunch.target)
    split = digits(flat=True)
    per_class = torch.bincount(full, minlength=10)
    expected_val = torch.tensor([round(0.2 * int(c)) for c in per_class])
    assert torch.equal(torch.bincount(split.y_val, minlength=10), expected_val)
    assert torch.equal(torch.bincount(split.y_train, minlength=10), per_class - expected_val)
    total = split.x_train.double().sum() + split.x_val.double().sum()
    assert total == pytest.approx(float(bunch.data.sum()) / 16)


def test_deterministic_and_seed_dependent():
    a, b, c = digits(seed=3), digits(seed=3), digits(seed=4)
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_val, c.x_val)


def test_stratified_split_indices_and_errors():
    y = torch.tensor([0] * 10 + [1] * 5)
    train, val = stratified_split(y, val_fraction=0.4, seed=0)
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(15))
    assert torch.bincount(y[val]).tolist() == [4, 2]
    with pytest.raises(ValueError, match="val_fraction must satisfy 0 < val_fraction < 1"):
        digits(val_fraction=1.0)
