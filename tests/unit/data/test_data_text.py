import time

import pytest
import torch

from layerwise.data import TextCorpus, clear_caches, text_corpus
from layerwise.data._text import EXCLUDED_DIRS, stdlib_files


def test_pydoc_corpus_split_is_contiguous_without_overlap():
    from pydoc_data.topics import topics

    raw = "\n".join(topics[k] for k in sorted(topics)).encode("utf-8")
    corpus = text_corpus()
    assert isinstance(corpus, TextCorpus) and corpus.vocab_size == 256
    assert corpus.train.dtype == corpus.val.dtype == torch.uint8
    assert len(corpus.val) == int(len(raw) * 0.1)
    assert len(corpus.train) + len(corpus.val) == len(raw)
    assert bytes(corpus.train.tolist()) + bytes(corpus.val.tolist()) == raw
    assert corpus.name == "pydoc"


def test_max_bytes_truncates_before_the_split():
    corpus = text_corpus(max_bytes=1000, val_fraction=0.25)
    assert (len(corpus.train), len(corpus.val)) == (750, 250)
    assert torch.equal(corpus.train, text_corpus().train[:750])


def test_batches_of_train_never_reach_val():
    corpus = text_corpus(max_bytes=5000, val_fraction=0.2)
    x, y = corpus.batch(64, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 1:], y[:, :-1])
    train = bytes(corpus.train.tolist())
    for row in y[:8]:
        assert bytes(row.tolist()) in train
    assert corpus.decode(corpus.train[:16]) == train[:16].decode()


def test_directory_and_file_sources(tmp_path):
    (tmp_path / "b.txt").write_text("bee")
    (tmp_path / "a.md").write_text("ay")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.py").write_text("sea")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    corpus = text_corpus(tmp_path, val_fraction=0.0)
    assert corpus.decode(corpus.train) == "ay\nbee\nsea" and len(corpus.val) == 0
    single = text_corpus(str(tmp_path / "b.txt"), val_fraction=0.0)
    assert single.decode(single.train) == "bee" and single.name == "path:b.txt"


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown text source 'shakespeare'.*'stdlib', 'pydoc'"):
        text_corpus("shakespeare")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        text_corpus(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="val_fraction must satisfy"):
        text_corpus(val_fraction=1.0)
    with pytest.raises(ValueError, match="max_bytes must be None or >= 1"):
        text_corpus(max_bytes=0)


def test_stdlib_files_exclude_tests_and_are_sorted():
    files = stdlib_files()
    assert len(files) > 300 and files == sorted(files)
    assert not any(EXCLUDED_DIRS & set(p.parts) for p in files)
    assert any(p.name == "textwrap.py" for p in files)


def test_stdlib_corpus_is_fast_and_cached():
    clear_caches()
    start = time.perf_counter()
    corpus = text_corpus("stdlib", val_fraction=0.05)
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = text_corpus("stdlib", val_fraction=0.05)
    second = time.perf_counter() - start
    total = sum(p.stat().st_size for p in stdlib_files()) + len(stdlib_files()) - 1
    assert len(corpus.train) + len(corpus.val) == total > 5_000_000
    assert first < 8.0 and second < 1.0
    assert torch.equal(corpus.val, again.val)
    assert b"def dedent(" in bytes(corpus.train.tolist())
