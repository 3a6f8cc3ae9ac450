"""Studies: one file per paper, each a registered Recipe run by ``layerwise run NAME``.

Every module in this package other than the infrastructure below is a study file that calls
``study(Recipe(...))`` at import; importing the package imports them all (registration by
decorator, no lookup by name).
"""

import importlib
import pkgutil

from layerwise.studies.recipe import Recipe, apply_overrides, study
from layerwise.studies.runner import get_recipe, make_verdict, run_study

_INFRASTRUCTURE = {"recipe", "runner", "stats", "training"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Recipe", "apply_overrides", "get_recipe", "make_verdict", "run_study", "study"]
