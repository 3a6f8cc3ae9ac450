"""MNIST-1D (Greydanus, 2020, arXiv:2011.14439), generated locally, never downloaded."""

from __future__ import annotations

import functools
import random
from types import ModuleType

import numpy as np
import torch

from layerwise._registry import register
from layerwise.data._types import Split

_MISSING = "mnist1d() needs the mnist1d package: pip install 'layerwise[data]'"


def _require_mnist1d() -> ModuleType:
    try:
        import mnist1d.data as module
    except ImportError as err:
        raise ImportError(_MISSING) from err
    return module


@functools.lru_cache(maxsize=4)
def generate_arrays(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    """Read-only ``(x_train, y_train, x_val, y_val)`` arrays, cached per process.

    ``mnist1d`` seeds the global numpy and ``random`` generators; their states are restored.
    """
    module = _require_mnist1d()
    args = module.get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = module.make_dataset(args)  # generates; get_dataset() would download
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = (
        data["x"].astype(np.float32),
        data["y"].astype(np.int64),
        data["x_test"].astype(np.float32),
        data["y_test"].astype(np.int64),
    )
    for array in arrays:
        array.setflags(write=False)
    return arrays


@register("mnist1d", kind="dataset", paper="-")
def mnist1d(*, num_samples: int = 5000, seed: int = 42) -> Split:
    """MNIST-1D: 40-sample 1-D signals of 10 digit templates, as an 80/20 Split.

    Generated with ``mnist1d.data.make_dataset`` (the package's defaults except
    ``num_samples`` and ``seed``); ``10 * (num_samples // 10)`` samples in total, the first
    80% train as the package splits them. The generation (~1 s per 5,000) is cached in-process;
    every call returns fresh tensors, so callers cannot corrupt the cache.

    Returns:
        ``Split`` with ``x`` float32 ``(N, 40)`` (standardised), ``y`` int64 in [0, 10).

    Raises:
        ImportError: the optional ``mnist1d`` package is missing.
    """
    _require_mnist1d()
    if num_samples < 10:
        raise ValueError(f"num_samples must be >= 10 (one per class), got {num_samples}")
    x_train, y_train, x_val, y_val = (
        torch.from_numpy(a.copy()) for a in generate_arrays(int(num_samples), int(seed))
    )
    return Split(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        num_classes=10,
        name="mnist1d",
    )
