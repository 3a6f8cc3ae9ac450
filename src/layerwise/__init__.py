"""layerwise: see, fix and prove how a deep network trains, layer by layer."""

from layerwise._registry import create, list_methods, register
from layerwise.layers import select_layers
from layerwise.monitor import HooksDidNotFire, Monitor, NonFiniteError, RunLog

__version__ = "0.1.0"

__all__ = [
    "HooksDidNotFire",
    "Monitor",
    "NonFiniteError",
    "RunLog",
    "__version__",
    "create",
    "list_methods",
    "register",
    "select_layers",
]
