import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from layerwise.data import IdxFormatError, fashion_mnist, read_idx, write_idx
from layerwise.data._fashion_mnist import DEFAULT_ROOT

needs_debian_package = pytest.mark.skipif(
    not Path(DEFAULT_ROOT).is_dir(),
    reason=f"{DEFAULT_ROOT} is missing: apt-get install -y dataset-fashion-mnist",
)


def _fake_root(tmp_path, n_train=5, n_val=3):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_val)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_idx_round_trip_and_header(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    write_idx(tmp_path / "a.idx", array)
    raw = (tmp_path / "a.idx").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 3]) and raw[4:8] == (2).to_bytes(4, "big")
    assert len(raw) == 4 + 3 * 4 + 24 * 4
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx", limit=1), array[:1])


def test_idx_hand_written_uint8(tmp_path):
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    assert read_idx(path, expected_magic=2049).tolist() == [7, 8, 9]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]), "bad magic number"),
        (bytes([0, 0, 8, 1, 0, 0]), "header ends inside the sizes"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), "truncated, 2 of 4 data bytes"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "trailing bytes"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 1]), "magic number 2051 \\(expected 2049\\)"),
    ],
)
def test_idx_corruption_is_reported(tmp_path, payload, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(payload)
    with pytest.raises(IdxFormatError, match=message):
        read_idx(path, expected_magic=2049)


def test_idx_bad_gzip_is_reported(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(b"not a gzip stream at all")
    with pytest.raises(IdxFormatError, match="bad.gz: corrupt idx file"):
        read_idx(path)
    good = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9]) + bytes(9))
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(IdxFormatError, match="corrupt idx file"):
        read_idx(path)


def test_loader_on_fixture_files(tmp_path):
    split = fashion_mnist(root=_fake_root(tmp_path))
    assert split.x_train.shape == (5, 1, 28, 28) and split.x_val.shape == (3, 1, 28, 28)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert float(split.x_train.min()) >= 0 and float(split.x_train.max()) <= 1
    assert split.y_train.tolist() == [0, 1, 2, 3, 4]
    flat = fashion_mnist(root=tmp_path, flat=True, limit=2)
    assert flat.x_train.shape == (2, 784) and flat.x_val.shape == (2, 784)
    assert torch.equal(flat.x_train, split.x_train[:2].reshape(2, -1))


def test_mismatched_counts_are_reported(tmp_path):
    root = _fake_root(tmp_path)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros(2, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="3 images but 2 labels"):
        fashion_mnist(root=root)


def test_missing_files_name_the_path_and_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist") as err:
        fashion_mnist(root=tmp_path)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(err.value)
    assert "(Debian package)" in str(err.value)


@needs_debian_package
def test_real_files_full_sizes():
    split = fashion_mnist()
    assert split.x_train.shape == (60000, 1, 28, 28) and split.x_val.shape == (10000, 1, 28, 28)
    assert torch.bincount(split.y_train).tolist() == [6000] * 10
    assert torch.bincount(split.y_val).tolist() == [1000] * 10
    assert float(split.x_train.min()) == 0.0 and float(split.x_train.max()) == 1.0


@needs_debian_package
def test_real_files_limit_is_a_prefix():
    small = fashion_mnist(limit=100, flat=True)
    assert small.x_train.shape == (100, 784) and small.x_val.shape == (100, 784)
    again = fashion_mnist(limit=200, flat=True)
    assert torch.equal(again.x_train[:100], small.x_train)
    assert torch.equal(again.y_val[:100], small.y_val)
