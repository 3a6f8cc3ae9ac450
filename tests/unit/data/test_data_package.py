import layerwise.data as data
from layerwise._registry import list_methods


def test_registered_datasets_are_exported_and_documented():
    entries = [e for e in list_methods(kind="dataset") if e.obj.__module__.startswith(data.__name__)]
    assert sorted(e.name for e in entries) == [
        "digit_composites", "digits", "entity_facts", "fashion_mnist", "induction", "kv_facts",
        "markov_tokens", "mnist1d", "multitask_regression", "poisson_2d", "poisson_rhs",
        "smooth_seq_map", "text_corpus", "two_moons_shift", "word_problems"]
    for entry in entries:
        assert entry.name in data.__all__ and getattr(data, entry.name) is entry.obj
        assert entry.summary and entry.paper
    papers = {e.name: e.paper for e in entries}
    assert papers["digits"] == "-" and "Induction Heads" in papers["induction"]


def test_all_names_resolve():
    assert sorted(data.__all__) == sorted(set(data.__all__))
    for name in data.__all__:
        assert getattr(data, name) is not None
