"""Every analysis is registered as a diagnostic with its paper, and its docstring example runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

import layerwise.analysis
from layerwise import list_methods

NAMES = {
    "linear_cka",
    "cka_matrix",
    "minibatch_cka",
    "delta_cka",
    "unit_matching",
    "sparse_unit_prediction",
    "unit_clustering",
    "cross_model_linear_map",
    "effective_rank",
    "spinal_contraction",
    "spinal_transport",
    "linear_probe",
}
MODULES = ["cka", "delta_cka", "matching", "cross_model", "spectra", "probes"]


def test_registered_with_papers():
    entries = {e.name: e for e in list_methods(kind="diagnostic")}
    assert set(entries) >= NAMES
    for name in NAMES:
        entry = entries[name]
        assert entry.paper and entry.paper != "-" and entry.summary, name
        assert entry.obj.__module__.startswith("layerwise.analysis."), name


def test_public_api_is_exported():
    for name in layerwise.analysis.__all__:
        assert hasattr(layerwise.analysis, name), name


@pytest.mark.parametrize("module", MODULES)
def test_docstring_example_runs(module):
    mod = importlib.import_module(f"layerwise.analysis.{module}")
    assert "Example::" in mod.__doc__ and "arXiv" in mod.__doc__ or "EUSIPCO" in mod.__doc__
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
