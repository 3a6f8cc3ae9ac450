"""Parser for the idx format of (Fashion-)MNIST, optionally gzip-compressed.

Layout: magic ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32 sizes, then
the row-major data, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import BinaryIO

import numpy as np

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxFormatError(ValueError):
    """An idx file is corrupt: bad magic number, wrong sizes, truncated or trailing data."""


def idx_magic(dtype_code: int, ndim: int) -> int:
    """The 32-bit magic number of an idx file (2051 for uint8 images, 2049 for labels)."""
    return (dtype_code << 8) | ndim


def read_idx(
    path: str | os.PathLike, *, expected_magic: int | None = None, limit: int | None = None
) -> np.ndarray:
    """Parse an idx file (``.gz`` is decompressed) into a native-endian array.

    Args:
        path: the file.
        expected_magic: raise unless the header's magic number equals it.
        limit: read only the first ``limit`` records (then trailing data is not checked).

    Returns:
        Array of shape ``(N, *dims)`` with the header's dtype (uint8 for Fashion-MNIST).

    Raises:
        IdxFormatError: the file is not valid gzip or not a valid idx file.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            return _parse(fh, path, expected_magic, limit)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise IdxFormatError(f"{path}: corrupt idx file: {err}") from err


def _parse(fh: BinaryIO, path: str, expected_magic: int | None, limit: int | None) -> np.ndarray:
    header = fh.read(4)
    if len(header) != 4 or header[:2] != b"\x00\x00" or header[2] not in _DTYPES:
        raise IdxFormatError(f"{path}: corrupt idx file: bad magic number {header.hex()!r}")
    magic = int.from_bytes(header, "big")
    if expected_magic is not None and magic != expected_magic:
        raise IdxFormatError(
            f"{path}: corrupt idx file: magic number {magic} (expected {expected_magic})"
        )
    dims = _read_dims(fh, path, header[3])
    n = dims[0] if limit is None else min(limit, dims[0])
    shape = (n, *dims[1:])
    dtype = np.dtype(_DTYPES[header[2]])
    size = math.prod(shape) * dtype.itemsize
    body = fh.read(size)
    if len(body) != size:
        raise IdxFormatError(
            f"{path}: corrupt idx file: truncated, {len(body)} of {size} data bytes for {shape}"
        )
    if limit is None and fh.read(1):
        raise IdxFormatError(f"{path}: corrupt idx file: trailing bytes after {shape} data")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_dims(fh: BinaryIO, path: str, ndim: int) -> tuple[int, ...]:
    if ndim < 1:
        raise IdxFormatError(f"{path}: corrupt idx file: 0 dimensions")
    raw = fh.read(4 * ndim)
    if len(raw) != 4 * ndim:
        raise IdxFormatError(f"{path}: corrupt idx file: header ends inside the sizes")
    return tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, 4 * ndim, 4))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an idx file (gzip when ``path`` ends with ``.gz``); the inverse of
    :func:`read_idx`, used to build small fixtures."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
    code = codes[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(payload)
