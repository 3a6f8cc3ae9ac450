"""Input handling shared by the analyses: any array in, float64 torch matrix out.

Activations arrive as torch tensors (any device, any float dtype) or numpy arrays. Every
analysis works on a (samples, features) matrix in float64 on the CPU, so that activations that
collapsed to ~1e-7 (the default-initialised deep ReLU MLP) keep their precision.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor


class DegenerateActivationWarning(RuntimeWarning):
    """An analysis met activations with no variance (constant, dead or non-finite) and returned NaN."""


def as_matrix(x: Any, name: str = "x") -> Tensor:
    """``x`` as a float64 CPU matrix (samples, features); trailing axes are flattened per sample."""
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim == 0:
        raise ValueError(f"{name} must have a samples axis, got a scalar")
    t = t.to(device="cpu", dtype=torch.float64)
    return t.reshape(t.shape[0], -1) if t.ndim != 2 else t


def as_units(x: Any, unit_dim: int = -1, name: str = "x") -> Tensor:
    """``x`` as float64 (samples, units): units along ``unit_dim``, every other axis is a sample.

    For a conv layer (B, C, H, W) use ``unit_dim=1``: each spatial position counts as a sample.
    """
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim == 0:
        raise ValueError(f"{name} must have a units axis, got a scalar")
    t = t.to(device="cpu", dtype=torch.float64).movedim(unit_dim, -1)
    return t.reshape(-1, t.shape[-1])


def same_samples(x: Tensor, y: Tensor) -> None:
    """Raise if two matrices do not describe the same samples."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"both inputs need the same samples (rows), got {x.shape[0]} and {y.shape[0]}")


def warn_degenerate(what: str) -> None:
    warnings.warn(what, DegenerateActivationWarning, stacklevel=3)
