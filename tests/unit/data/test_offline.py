"""Every registered dataset works with the network switched off and leaves global RNGs alone."""

import dataclasses
import random
import socket
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import layerwise.data
from layerwise._registry import list_methods
from layerwise.data._fashion_mnist import DEFAULT_ROOT
from layerwise.data._seq_maps import SmoothSeqMap

SMALL = {
    "digits": {},
    "mnist1d": {"num_samples": 200},
    "fashion_mnist": {"limit": 50},
    "text_corpus": {"max_bytes": 4096},
    "markov_tokens": {"vocab_size": 16, "n_tokens": 2000},
    "induction": {"n_seq": 8, "seq_len": 16},
    "two_moons_shift": {"n_source": 20, "n_target": 20},
    "multitask_regression": {"n_samples": 32, "dim": 4},
    "kv_facts": {"n_entities": 10, "n_values": 12},
    "digit_composites": {"images": torch.linspace(0, 1, 4 * 64).reshape(4, 8, 8),
                         "labels": torch.arange(4), "correlation": 0.5},
    "poisson_2d": {"n": 4},
    "poisson_rhs": {"n": 4, "count": 2},
    "word_problems": {"n": 5},
}
EXTRA = [("text_corpus", {"source": "stdlib", "max_bytes": 4096})]
DATASETS = [e.name for e in list_methods(kind="dataset")]


class NetworkDisabled(OSError):
    pass


def _refuse(*args, **kwargs):
    raise NetworkDisabled("network access attempted while offline")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(socket, "socket", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    layerwise.data.clear_caches()
    yield
    layerwise.data.clear_caches()


def test_network_is_really_disabled(offline):
    with pytest.raises(NetworkDisabled):
        socket.create_connection(("pypi.org", 443), timeout=1)
    with pytest.raises(NetworkDisabled):
        socket.socket()


def _equal(a, b):
    if sp.issparse(a):
        return sp.issparse(b) and a.shape == b.shape and (a != b).nnz == 0
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, SmoothSeqMap):  # a seeded map: equal when it maps a fixed input alike
        x = torch.linspace(-1, 1, 2 * a.seq_len * a.in_dim).reshape(2, a.seq_len, a.in_dim)
        return type(b) is SmoothSeqMap and torch.equal(a(x), b(x))
    if dataclasses.is_dataclass(a):
        fields = [f.name for f in dataclasses.fields(a)]
        return type(a) is type(b) and all(_equal(getattr(a, n), getattr(b, n)) for n in fields)
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a == b


def test_known_datasets_are_registered():
    assert set(SMALL) <= set(DATASETS)
    assert {"digits", "mnist1d", "fashion_mnist", "text_corpus"} <= set(DATASETS)


@pytest.mark.parametrize(
    ("name", "kwargs"), [(n, SMALL.get(n, {})) for n in DATASETS] + EXTRA
)
def test_dataset_works_offline(offline, name, kwargs):
    if name == "fashion_mnist" and not Path(DEFAULT_ROOT).is_dir():
        pytest.skip(f"{DEFAULT_ROOT} is missing: apt-get install -y dataset-fashion-mnist")
    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    entry = next(e for e in list_methods(kind="dataset") if e.name == name)
    first = entry.obj(**kwargs)
    second = entry.obj(**kwargs)
    assert _equal(first, second)  # deterministic
    assert torch.equal(states[0], torch.get_rng_state())
    assert np.array_equal(states[1], np.random.get_state()[1])
    assert states[2] == random.getstate()
