"""scikit-learn's dataset module, imported without touching the global ``random`` state.

scikit-learn 1.9 imports ``rich.progress`` when ``sklearn.datasets`` is first imported, and
rich 15's ``rich.style`` draws ``random.getrandbits`` at import time; the loaders of
``layerwise.data`` promise to leave every global RNG alone, so the state is put back.
"""

from __future__ import annotations

import random
from types import ModuleType


def sklearn_datasets() -> ModuleType:
    """``sklearn.datasets``, with Python's global ``random`` state as it was before the import."""
    state = random.getstate()
    try:
        import sklearn.datasets as datasets
    finally:
        random.setstate(state)
    return datasets
