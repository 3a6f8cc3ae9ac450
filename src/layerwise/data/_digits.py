"""scikit-learn's 8x8 handwritten digits (1,797 real images, 10 classes), split by class."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.data._types import Split, check_fraction


def stratified_split(y: Tensor, *, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Sorted int64 index tensors ``(train, val)``: each class gives ``round(frac * n_c)`` to val.

    Deterministic given ``seed`` (local generator).
    """
    check_fraction(val_fraction, "val_fraction")
    gen = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in torch.unique(y).tolist():
        members = torch.nonzero(y == c).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        n_val = round(val_fraction * len(members))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


@register("digits", kind="dataset", paper="-")
def digits(*, flat: bool = False, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8x8 digits as a stratified, seeded train/val Split.

    Args:
        flat: return ``x`` as ``(N, 64)`` instead of ``(N, 1, 8, 8)``.
        val_fraction: share of each class held out for validation (0 < f < 1).
        seed: seed of the split; the same arguments always give identical tensors.

    Returns:
        ``Split`` with ``x`` float32 in [0, 1] (pixel / 16), ``y`` int64 in [0, 10);
        1,797 rows in total (1,438 train / 359 val at the defaults).
    """
    from layerwise.data._sklearn import sklearn_datasets

    bunch = sklearn_datasets().load_digits()
    x = torch.from_numpy(bunch.data.astype(np.float32) / np.float32(16.0))
    y = torch.from_numpy(bunch.target.astype(np.int64))
    if not flat:
        x = x.reshape(-1, 1, 8, 8)
    train, val = stratified_split(y, val_fraction=val_fraction, seed=seed)
    return Split(
        x_train=x[train],
        y_train=y[train],
        x_val=x[val],
        y_val=y[val],
        num_classes=10,
        name="digits",
    )
