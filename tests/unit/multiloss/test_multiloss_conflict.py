"""Conflict diagnostics: cosine, gradient-magnitude similarity, RunLog rows, conflict frequency."""

import math

import torch

from layerwise import RunLog, list_methods
from layerwise.multiloss import ConflictCounter, conflict_rows, magnitude_similarity, pairwise_cosine


def test_cosine_and_gms_golden_values():
    g = torch.tensor([[3.0, 4.0], [-4.0, 3.0], [0.6, 0.8], [0.0, 0.0]])
    cos = pairwise_cosine(g)
    assert cos[0, 1] == 0 and math.isclose(cos[0, 2], 1.0, rel_tol=1e-6) and cos[3, 0] == 0
    gms = magnitude_similarity(g)
    # |g0| = 5, |g2| = 1: 2*5*1 / (25 + 1)
    assert math.isclose(gms[0, 2], 10 / 26, rel_tol=1e-6) and gms[0, 1] == 1.0
    assert gms[3, 0] == 0 and gms[3, 3] == 1.0


def test_conflict_rows_names_values_and_runlog():
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0], [0.0, 2.0]])
    rows = conflict_rows({"a": g, "b": g[:, :1]}, task_names=["x", "y", "z"])
    got = {(layer, m): v for layer, m, v in rows}
    assert math.isclose(got["a", "cos/x-y"], -1 / math.sqrt(2))
    assert math.isclose(got["a", "gms/x-z"], 2 * 1 * 2 / 5)
    assert math.isclose(got["a", "cos_min"], -1 / math.sqrt(2))
    assert got["b", "cos/x-y"] == -1.0 and got["b", "cos/y-z"] == 0.0
    assert len(rows) == 2 * (3 + 3 + 2)
    log = RunLog()
    layers, metrics, values = zip(*rows, strict=True)
    log.log_many(0, layers, metrics, values)
    assert log.table().num_rows == len(rows)


def test_conflict_counter_frequency_and_state():
    c = ConflictCounter()
    conflict = torch.tensor([[1.0, 0.0], [-1.0, 0.1]])
    agree = torch.tensor([[1.0, 0.0], [1.0, 0.1]])
    for a, b in [(conflict, agree), (conflict, conflict), (agree, agree), (conflict, agree)]:
        c.update({"l1": a, "l2": b})
    assert c.frequency() == {"l1": 0.75, "l2": 0.25}
    assert ("l2", "conflict_freq", 0.25) in c.rows()
    d = ConflictCounter(threshold=0.5)
    d.load_state_dict(c.state_dict())
    assert d.frequency() == c.frequency() and d.threshold == 0.0


def test_components_are_registered_with_papers():
    import layerwise.multiloss  # noqa: F401  (registers on import)

    names = {e.name: e for e in list_methods()}
    for name in ["pcgrad", "mgda", "samgs", "gcond", "gcond_trainer", "gradnorm", "grad_stat_annealing",
                 "gated_mlp", "helmholtz2d", "conflict_rows", "conflict_frequency"]:
        assert names[name].arxiv, name
        assert names[name].obj.__doc__
