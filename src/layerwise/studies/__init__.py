"""Studies: one file per paper, each a :class:`Study` subclass run by ``layerwise run NAME``.

Modules whose names start with ``_`` are the infrastructure (base class, rules, runner, loops);
every other module is a study file, imported here so that its class registers itself.
"""

import importlib
import pkgutil

from layerwise.studies._claims import claim_rows, claims_markdown, stale_reasons, write_claims
from layerwise.studies._rules import (
    Check,
    Descriptive,
    Deterministic,
    Equivalence,
    Gate,
    Judgement,
    NonInferiority,
    Superiority,
)
from layerwise.studies._runner import decide, get_study, run_study, study_folder, torch_threads
from layerwise.studies._study import Profile, Study, apply_overrides
from layerwise.studies._trial import Trial
from layerwise.studies._verdict import ArmResult, Verdict

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ArmResult", "Check", "Descriptive", "Deterministic", "Equivalence", "Gate", "Judgement",
    "NonInferiority", "Profile", "Study", "Superiority", "Trial", "Verdict", "apply_overrides",
    "claim_rows", "claims_markdown", "decide", "get_study", "run_study", "stale_reasons",
    "study_folder", "torch_threads", "write_claims",
]
