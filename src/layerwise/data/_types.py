"""Containers returned by the loaders of :mod:`layerwise.data`.

``Split`` holds supervised data (train and validation tensors); ``TextCorpus`` holds a token
stream split into a contiguous train and validation part and samples next-token batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

SPLITS = ("train", "val")


def check_split(split: str) -> None:
    """Raise ValueError unless ``split`` is "train" or "val"."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")


def check_fraction(value: float, name: str, *, allow_zero: bool = False) -> None:
    """Raise ValueError unless ``0 < value < 1`` (or ``0 <= value < 1`` with ``allow_zero``)."""
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        bound = "0 <= " if allow_zero else "0 < "
        raise ValueError(f"{name} must satisfy {bound}{name} < 1, got {value!r}")


@dataclass(frozen=True)
class Split:
    """Supervised data held as tensors, with a train and a validation part.

    Shapes: ``x_*`` is ``(N, ...)`` (float32 for every image loader of this package) and
    ``y_*`` is ``(N,)`` int64 class labels (or ``(N, K)`` float targets for regression, where
    ``num_classes`` is None).
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    num_classes: int | None
    name: str

    def __post_init__(self) -> None:
        for split in SPLITS:
            x, y = self.tensors(split)
            if len(x) != len(y):
                raise ValueError(f"{self.name}: x_{split} has {len(x)} rows, y_{split} {len(y)}")

    def tensors(self, split: str = "train") -> tuple[Tensor, Tensor]:
        """The ``(x, y)`` tensors of ``split`` ("train" or "val")."""
        check_split(split)
        return (self.x_train, self.y_train) if split == "train" else (self.x_val, self.y_val)

    def loader(
        self, batch_size: int, *, split: str = "train", shuffle: bool = True, seed: int = 0
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of ``(x, y)`` minibatches of ``split``; the last batch may be smaller.

        The order depends only on ``seed`` (a local generator: the global RNG is untouched).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x, y = self.tensors(split)
        if shuffle:
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        else:
            order = torch.arange(len(x))
        return _batches(x, y, order, batch_size)


def _batches(x: Tensor, y: Tensor, order: Tensor, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


@dataclass(frozen=True)
class TextCorpus:
    """A byte-level corpus: ``train`` and ``val`` are 1-D uint8 token tensors (vocab 256).

    ``val`` is the contiguous tail of the corpus, so no window of ``train`` overlaps it.
    Subclasses (e.g. :class:`MarkovCorpus`) may hold int64 tokens for larger vocabularies.
    """

    train: Tensor
    val: Tensor
    vocab_size: int
    name: str

    def tokens(self, split: str = "train") -> Tensor:
        """The 1-D token tensor of ``split`` ("train" or "val")."""
        check_split(split)
        return self.train if split == "train" else self.val

    def batch(
        self,
        batch_size: int,
        seq_len: int,
        *,
        split: str = "train",
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Random windows of ``split``: ``x`` and ``y`` int64 ``(batch_size, seq_len)``.

        ``y[:, t] == x[:, t + 1]`` inside the window (next-token targets). Starts are drawn
        with ``generator`` (the global torch RNG when None).
        """
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")
        data = self.tokens(split)
        if len(data) < seq_len + 1:
            raise ValueError(
                f"{self.name}: the {split} split has {len(data)} tokens, "
                f"fewer than seq_len + 1 = {seq_len + 1}"
            )
        starts = torch.randint(0, len(data) - seq_len, (batch_size, 1), generator=generator)
        idx = starts + torch.arange(seq_len)
        return data[idx].long(), data[idx + 1].long()

    def decode(self, tokens: Tensor) -> str:
        """Bytes back to text (utf-8; undecodable bytes become U+FFFD)."""
        return bytes(tokens.flatten().to(torch.uint8).tolist()).decode("utf-8", errors="replace")
