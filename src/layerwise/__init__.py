"""layerwise: see, fix and prove how a deep network trains, layer by layer.

The top-level names load on first use (PEP 562), so ``layerwise --help`` and other commands
that need no tensors start without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "HooksDidNotFire": "layerwise.monitor",
    "Monitor": "layerwise.monitor",
    "NonFiniteError": "layerwise.monitor",
    "RunLog": "layerwise.monitor",
    "create": "layerwise._registry",
    "list_methods": "layerwise._registry",
    "register": "layerwise._registry",
    "select_layers": "layerwise.layers",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'layerwise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
