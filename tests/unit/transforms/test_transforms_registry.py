"""Every transform is registered with its paper, and every docstring example runs."""

import doctest

import pytest

import layerwise.train.dann
import layerwise.transforms as T
from layerwise import create, list_methods
from layerwise.transforms import base, clipping, nap, noise, normalize, optimizer, reversal, routing

MODULES = [base, routing, optimizer, noise, clipping, normalize, reversal, nap, layerwise.train.dann]
OURS = {
    "add_noise": "1511.06807",
    "clip_per_layer": "2310.00098",
    "normalize_per_layer": "2310.00098",
    "project_to_init_norm": "2407.01800",
    "insert_norm_before_activations": "2407.01800",
    "grad_reverse": "1505.07818",
    "dann": "1505.07818",
}


def test_registered_with_paper_and_example():
    entries = {e.name: e for e in list_methods() if e.kind != "study"}  # "dann" is also a study
    for name, arxiv in OURS.items():
        entry = entries[name]
        assert entry.arxiv == arxiv and entry.paper not in ("", "-"), name
        doc = entry.obj.__doc__
        assert arxiv in doc and ">>>" in doc, name
    assert create("clip_per_layer", C=2.0, mode="global").name.startswith("clip_per_layer")


def test_all_is_explicit_and_complete():
    assert sorted(T.__all__) == sorted(set(T.__all__))
    assert all(hasattr(T, name) for name in T.__all__)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
