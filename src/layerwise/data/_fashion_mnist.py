"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (MIT), parsed locally."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.data._idx import IdxFormatError, idx_magic, read_idx
from layerwise.data._types import Split

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = "install with `apt-get install -y dataset-fashion-mnist` (Debian package)"
IMAGE_MAGIC = idx_magic(0x08, 3)  # 2051
LABEL_MAGIC = idx_magic(0x08, 1)  # 2049
_SIDE = 28


def _files(root: Path, prefix: str) -> tuple[Path, Path]:
    images = root / f"{prefix}-images-idx3-ubyte.gz"
    labels = root / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images, labels):
        if not path.is_file():
            raise FileNotFoundError(f"Fashion-MNIST file {path} is missing; {INSTALL_HINT}")
    return images, labels


def _load_part(root: Path, prefix: str, limit: int | None, flat: bool) -> tuple[Tensor, Tensor]:
    image_path, label_path = _files(root, prefix)
    images = read_idx(image_path, expected_magic=IMAGE_MAGIC, limit=limit)
    labels = read_idx(label_path, expected_magic=LABEL_MAGIC, limit=limit)
    if images.shape[1:] != (_SIDE, _SIDE):
        raise IdxFormatError(f"{image_path}: images are {images.shape[1:]}, expected 28x28")
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{root}/{prefix}-*: {len(images)} images but {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{label_path}: label {labels.max()} outside [0, 10)")
    x = torch.from_numpy(images).to(torch.float32).div_(255.0)
    x = x.reshape(len(x), -1) if flat else x.unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


@register("fashion_mnist", kind="dataset", paper="-")
def fashion_mnist(
    *, root: str | os.PathLike = DEFAULT_ROOT, flat: bool = False, limit: int | None = None
) -> Split:
    """Fashion-MNIST (60,000 train / 10,000 val images of 10 clothing classes) as a Split.

    Reads ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` under ``root`` (the Debian
    package's folder by default). ``limit`` keeps the first ``limit`` rows of each part and
    decompresses only those.

    Returns:
        ``Split`` with ``x`` float32 in [0, 1], ``(N, 1, 28, 28)`` or ``(N, 784)`` when
        ``flat``; ``y`` int64 in [0, 10).

    Raises:
        FileNotFoundError: a file is missing (the message names it and how to install).
        IdxFormatError: a file is corrupt (a ValueError).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be None or >= 1, got {limit}")
    root = Path(root)
    x_train, y_train = _load_part(root, "train", limit, flat)
    x_val, y_val = _load_part(root, "t10k", limit, flat)
    return Split(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        num_classes=10,
        name="fashion_mnist",
    )
