"""Byte-level text corpora present on every machine: CPython's sources, pydoc topics, files."""

from __future__ import annotations

import functools
import os
import sysconfig
from pathlib import Path

import torch

from layerwise._registry import register
from layerwise.data._types import TextCorpus, check_fraction

SOURCES = ("stdlib", "pydoc")
TEXT_SUFFIXES = (".py", ".txt", ".md", ".rst")
EXCLUDED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages"})


def stdlib_files() -> list[Path]:
    """Every ``*.py`` of the standard library in sorted path order, test folders and
    site-packages excluded."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in EXCLUDED_DIRS]
        files.extend(Path(folder, n) for n in names if n.endswith(".py"))
    return sorted(files)


@functools.lru_cache(maxsize=1)
def stdlib_bytes() -> bytes:
    """The standard-library sources joined by newlines (~13 MB), read once per process."""
    return b"\n".join(path.read_bytes() for path in stdlib_files())


def _pydoc_bytes() -> bytes:
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics)).encode("utf-8")


def _path_bytes(path: Path) -> bytes:
    if path.is_file():
        return path.read_bytes()
    files = sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
    )
    return b"\n".join(p.read_bytes() for p in files)


def _read(source: str | os.PathLike) -> tuple[bytes, str]:
    if source == "stdlib":
        return stdlib_bytes(), "stdlib"
    if source == "pydoc":
        return _pydoc_bytes(), "pydoc"
    path = Path(source)
    if not path.exists():
        raise ValueError(
            f"unknown text source {str(source)!r}: use one of {', '.join(map(repr, SOURCES))} "
            "or the path of an existing text file or directory"
        )
    return _path_bytes(path), f"path:{path.name}"


@register("text_corpus", kind="dataset", paper="-")
def text_corpus(
    source: str | os.PathLike = "pydoc",
    *,
    val_fraction: float = 0.1,
    max_bytes: int | None = None,
) -> TextCorpus:
    """A byte-level corpus (vocab 256) split into a contiguous train head and val tail.

    Args:
        source: "pydoc" (``pydoc_data.topics`` in sorted key order, ~465 kB of English),
            "stdlib" (every ``*.py`` of the standard library, sorted, without test folders,
            ~13 MB, cached per process), or a text file or a directory (its ``.py``, ``.txt``,
            ``.md`` and ``.rst`` files, sorted). Files are joined by a newline.
        val_fraction: share of the bytes (the tail) held out for validation, 0 <= f < 1.
        max_bytes: keep only the first ``max_bytes`` bytes before splitting.

    Returns:
        ``TextCorpus`` with ``train``/``val`` uint8 1-D tensors; ``val`` has
        ``int(n * val_fraction)`` bytes.

    Raises:
        ValueError: unknown source, empty corpus or bad arguments.
    """
    check_fraction(val_fraction, "val_fraction", allow_zero=True)
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_bytes must be None or >= 1, got {max_bytes}")
    raw, name = _read(source)
    if max_bytes is not None:
        raw = raw[:max_bytes]
    if not raw:
        raise ValueError(f"text corpus {name!r} is empty")
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    n_train = len(data) - int(len(data) * val_fraction)
    return TextCorpus(
        train=data[:n_train].clone(),
        val=data[n_train:].clone(),
        vocab_size=256,
        name=name,
    )
