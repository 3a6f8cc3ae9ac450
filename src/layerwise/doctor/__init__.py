"""The doctor: from a run's per-layer signals to findings and ranked remedies.

Each rule (``layerwise/doctor/rules/``) reads the Monitor's rows of one run, cites the tool or
paper its threshold comes from, and emits a :class:`Finding` (symptom, layers, onset step,
evidence, severity, prescriptions). Example::

    >>> from layerwise.doctor import diagnose
    >>> print(diagnose("runs/mine").text())  # doctest: +SKIP
"""

from layerwise.doctor._diagnose import NOT_COVERED, diagnose, write_diagnosis
from layerwise.doctor._finding import Diagnosis, Finding, Prescription
from layerwise.doctor._prescribe import PRESCRIPTIONS
from layerwise.doctor._report import diagnosis_section, evidence_figure
from layerwise.doctor._rule import RULES, Rule
from layerwise.doctor._setup import Setup, load_recipe, train
from layerwise.doctor._signals import Signals, from_rows, load
from layerwise.doctor._verify import Check, Verification, train_baseline, verify

__all__ = ["NOT_COVERED", "PRESCRIPTIONS", "RULES", "Check", "Diagnosis", "Finding", "Prescription", "Rule",
           "Setup", "Signals", "Verification", "diagnose", "diagnosis_section", "evidence_figure",
           "from_rows", "load", "load_recipe", "train", "train_baseline", "verify", "write_diagnosis"]
