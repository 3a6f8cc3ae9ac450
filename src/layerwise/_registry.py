"""One registry for every method, metric, model and study of layerwise.

Components register where they are defined::

    @register("grad_norm", kind="metric", paper="...", arxiv="...")
    class GradNorm: ...

and are discovered with ``list_methods("*norm*", kind="metric")`` or built with
``create("grad_norm", **kwargs)``.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = (
    "metric",
    "transform",
    "optimizer",
    "module",
    "edit",
    "scheme",
    "aggregator",
    "diagnostic",
    "model",
    "dataset",
    "study",
)

# Subpackages whose import registers components; loaded lazily on first lookup.
_PROVIDERS = (
    "layerwise.data",
    "layerwise.models",
    "layerwise.nn",
    "layerwise.metrics",
    "layerwise.transforms",
    "layerwise.optim",
    "layerwise.multiloss",
    "layerwise.analysis",
    "layerwise.train",
    "layerwise.studies",
)


@dataclass(frozen=True)
class Entry:
    """A registered component: what it is, where it comes from, and the object itself."""

    name: str
    kind: str
    paper: str
    arxiv: str | None
    obj: Any
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "paper": self.paper,
            "arxiv": self.arxiv,
            "summary": self.summary,
            "object": f"{self.obj.__module__}.{self.obj.__qualname__}",
        }


_ENTRIES: dict[str, Entry] = {}
_loaded = False


def register(name: str, *, kind: str, paper: str, arxiv: str | None = None) -> Callable:
    """Decorator that registers a class or function under ``name``.

    ``paper`` is the title and year of the source paper ("-" for utilities with no paper).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")

    def decorate(obj: Any) -> Any:
        old = _ENTRIES.get(name)
        if old is not None and old.obj is not obj and _qualname(old.obj) != _qualname(obj):
            raise ValueError(f"{name!r} is already registered by {_qualname(old.obj)}")
        doc = (obj.__doc__ or "").strip().splitlines()
        _ENTRIES[name] = Entry(name, kind, paper, arxiv, obj, doc[0] if doc else "")
        return obj

    return decorate


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _PROVIDERS:
            importlib.import_module(module)


def list_methods(pattern: str = "*", kind: str | None = None) -> list[Entry]:
    """Registered entries whose name matches the glob ``pattern`` (and ``kind``), sorted by name."""
    _load()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return sorted(
        (e for e in _ENTRIES.values() if fnmatch.fnmatch(e.name, pattern) and kind in (None, e.kind)),
        key=lambda e: (e.kind, e.name),
    )


def get(name: str) -> Entry:
    """The entry registered as ``name``; a KeyError lists close names."""
    _load()
    if name not in _ENTRIES:
        import difflib

        close = difflib.get_close_matches(name, list(_ENTRIES), n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `layerwise ls`"
        raise KeyError(f"nothing is registered as {name!r}{hint}")
    return _ENTRIES[name]


def create(name: str, /, **kwargs: Any) -> Any:
    """Instantiate (or call) the component registered as ``name`` with keyword arguments."""
    return get(name).obj(**kwargs)
