"""A static index of the registry (``_index.json``), so that ``layerwise ls`` answers without
importing torch. ``python -m layerwise._index`` rewrites it; a test fails when it is stale."""

from __future__ import annotations

import fnmatch
import json
from importlib import resources
from pathlib import Path
from typing import Any

INDEX = "_index.json"


def build_index() -> list[dict[str, Any]]:
    """Every registered entry as a dict (imports every provider, hence torch)."""
    from layerwise._registry import list_methods

    return [e.as_dict() for e in list_methods()]


def load_index() -> list[dict[str, Any]] | None:
    """The committed index, or None when the package ships none."""
    source = resources.files("layerwise").joinpath(INDEX)
    return json.loads(source.read_text(encoding="utf-8")) if source.is_file() else None


def query(pattern: str = "*", kind: str | None = None) -> list[dict[str, Any]]:
    """Entries whose name matches ``pattern`` (and ``kind``), from the index when there is one."""
    from layerwise._registry import KINDS

    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    entries = load_index()
    if entries is None:
        entries = build_index()
    return [e for e in entries if fnmatch.fnmatch(e["name"], pattern) and kind in (None, e["kind"])]


def write_index() -> Path:
    path = Path(__file__).with_name(INDEX)
    path.write_text(json.dumps(build_index(), indent=1) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_index()}")
