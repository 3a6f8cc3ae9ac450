import pytest
import torch

from layerwise.data import Split, TextCorpus


def _split(n_train=10, n_val=4):
    x = torch.arange(n_train + n_val, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(n_train + n_val)
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes=None, name="toy")


def test_loader_covers_each_row_once_and_is_seeded():
    split = _split()
    batches = list(split.loader(3, seed=1))
    assert [len(xb) for xb, _ in batches] == [3, 3, 3, 1]
    seen = torch.cat([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert all(torch.equal(xb[:, 0].long(), yb) for xb, yb in batches)
    again = torch.cat([yb for _, yb in split.loader(3, seed=1)])
    other = torch.cat([yb for _, yb in split.loader(3, seed=2)])
    assert torch.equal(seen, again) and not torch.equal(seen, other)


def test_loader_without_shuffle_and_val_split():
    split = _split()
    ys = torch.cat([yb for _, yb in split.loader(4, split="val", shuffle=False)])
    assert ys.tolist() == [10, 11, 12, 13]


def test_loader_leaves_global_rng_alone():
    state = torch.get_rng_state()
    list(_split().loader(2))
    assert torch.equal(state, torch.get_rng_state())


def test_split_errors():
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        _split().loader(2, split="test")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        _split().loader(0)
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="x_train has 3 rows, y_train 2"):
        Split(x, torch.zeros(2), x, torch.zeros(3), num_classes=2, name="bad")


def _corpus():
    data = torch.arange(100, dtype=torch.uint8)
    return TextCorpus(train=data[:90], val=data[90:], vocab_size=256, name="toy")


def test_batch_shapes_shift_and_generator():
    corpus = _corpus()
    x, y = corpus.batch(8, 5, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 5) and x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y, x + 1)
    assert int(y.max()) <= 89
    x2, _ = corpus.batch(8, 5, generator=torch.Generator().manual_seed(0))
    x3, _ = corpus.batch(8, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, x2) and not torch.equal(x, x3)
    xv, yv = corpus.batch(4, 9, split="val")
    assert xv.min() >= 90 and torch.equal(yv, xv + 1)


def test_batch_needs_seq_len_plus_one_tokens():
    with pytest.raises(ValueError, match="val split has 10 tokens, fewer than seq_len \\+ 1 = 11"):
        _corpus().batch(2, 10, split="val")
    assert _corpus().batch(2, 9, split="val")[0].shape == (2, 9)


def test_decode_replaces_invalid_bytes():
    corpus = _corpus()
    assert corpus.decode(torch.tensor(list(b"h\xc3\xa9!"), dtype=torch.uint8)) == "h\u00e9!"
    assert corpus.decode(torch.tensor([104, 255], dtype=torch.uint8)) == "h\ufffd"
