import pytest

from layerwise import _registry as R
from layerwise import create, list_methods, register


@pytest.fixture
def isolated(monkeypatch):
    """A scratch copy of the registry (loaded first, so the real one keeps every entry)."""
    R._load()
    monkeypatch.setattr(R, "_ENTRIES", dict(R._ENTRIES))


def test_register_list_and_create(isolated):

    @register("toy_scale_x", kind="transform", paper="A toy (2026)", arxiv="0000.00000")
    class ToyScale:
        """Multiply by a factor."""

        def __init__(self, factor=2.0):
            self.factor = factor

    assert [e.name for e in list_methods("toy_scale*")] == ["toy_scale_x"]
    assert list_methods("toy_scale*", kind="metric") == []
    entry = list_methods("toy_scale_x")[0]
    assert entry.summary == "Multiply by a factor." and entry.arxiv == "0000.00000"
    assert create("toy_scale_x", factor=3.0).factor == 3.0
    assert entry.as_dict()["object"].endswith("ToyScale")


def test_conflicts_and_unknowns_are_errors(isolated):
    register("toy_thing", kind="metric", paper="-")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        register("toy_thing", kind="metric", paper="-")(dict)
    with pytest.raises(ValueError, match="unknown kind"):
        register("x", kind="gadget", paper="-")
    with pytest.raises(KeyError, match="did you mean toy_thing"):
        create("toy_thingg")
    with pytest.raises(ValueError, match="unknown kind"):
        list_methods(kind="gadget")


def test_every_metric_cites_a_paper():
    metrics = list_methods(kind="metric")
    names = {m.name for m in metrics}
    assert {"grad_norm", "act_rms", "act_grad_norm", "update_ratio", "grad_noise"} <= names
    for m in metrics:
        assert m.paper and m.paper != "-" and m.arxiv, m.name


def test_same_name_in_two_kinds_needs_a_kind(isolated):
    register("toy_both", kind="module", paper="-")(lambda: "module")
    register("toy_both", kind="study", paper="-")(lambda: "study")
    assert create("toy_both", kind="study") == "study"
    assert R.get("toy_both", kind="module").kind == "module"
    with pytest.raises(KeyError, match=r"several components \(module, study\)"):
        create("toy_both")
    with pytest.raises(KeyError, match="no metric is registered as"):
        R.get("toy_both", kind="metric")
