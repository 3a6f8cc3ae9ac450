"""Studies: one file per paper, each a registered Recipe run by ``layerwise run NAME``."""

from layerwise.studies import curse_of_depth
from layerwise.studies.recipe import Recipe, apply_overrides, study
from layerwise.studies.runner import get_recipe, make_verdict, run_study

__all__ = ["Recipe", "apply_overrides", "curse_of_depth", "get_recipe", "make_verdict", "run_study", "study"]
