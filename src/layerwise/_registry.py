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
    "layerwise.eval",
    "layerwise.depth",
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


_ENTRIES: dict[tuple[str, str], Entry] = {}  # (kind, name): a study may share a method's name
_loaded = False


def register(name: str, *, kind: str, paper: str, arxiv: str | None = None) -> Callable:
    """Decorator that registers a class or function under ``name``.

    ``paper`` is the title and year of the source paper ("-" for utilities with no paper).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")

    def decorate(obj: Any) -> Any:
        old = _ENTRIES.get((kind, name))
        if old is not None and old.obj is not obj and _qualname(old.obj) != _qualname(obj):
            raise ValueError(f"{kind} {name!r} is already registered by {_qualname(old.obj)}")
        doc = (obj.__doc__ or "").strip().splitlines()
        _ENTRIES[(kind, name)] = Entry(name, kind, paper, arxiv, obj, doc[0] if doc else "")
        return obj

    return decorate


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in _PROVIDERS:  # an import error propagates, and the next call tries again
            importlib.import_module(module)
        _loaded = True


def list_methods(pattern: str = "*", kind: str | None = None) -> list[Entry]:
    """Registered entries whose name matches the glob ``pattern`` (and ``kind``), sorted by name."""
    _load()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return sorted(
        (e for e in _ENTRIES.values() if fnmatch.fnmatch(e.name, pattern) and kind in (None, e.kind)),
        key=lambda e: (e.kind, e.name),
    )


def get(name: str, kind: str | None = None) -> Entry:
    """The entry registered as ``name`` (of ``kind``); a KeyError lists close names or the kinds
    to choose from when the name is registered under several (a study named like its method)."""
    _load()
    found = [e for (k, n), e in _ENTRIES.items() if n == name and kind in (None, k)]
    if len(found) == 1:
        return found[0]
    if found:
        kinds = ", ".join(sorted(e.kind for e in found))
        raise KeyError(f"{name!r} names several components ({kinds}); pass kind=... to choose one")
    import difflib

    names = sorted({n for (k, n) in _ENTRIES if kind in (None, k)})
    close = difflib.get_close_matches(name, names, n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `layerwise ls`"
    what = f"no {kind} is" if kind else "nothing is"
    raise KeyError(f"{what} registered as {name!r}{hint}")


def create(name: str, /, *, kind: str | None = None, **kwargs: Any) -> Any:
    """Instantiate (or call) the component registered as ``name`` with keyword arguments."""
    return get(name, kind).obj(**kwargs)
