"""entity_facts: seeded, every test fact is the exact inverse of an atomic fact, no test fact is trained."""

import pytest
import torch

from layerwise.data import RELATION_PAIRS, SPECIAL_TOKENS, entity_facts


def _rows(t):
    return {tuple(r) for r in t.tolist()}


def test_same_seed_same_facts_other_seed_other_facts():
    a, b = entity_facts(n_entities=60, seed=3), entity_facts(n_entities=60, seed=3)
    assert torch.equal(a.tails, b.tails) and torch.equal(a.group_b, b.group_b)
    assert torch.equal(a.triples("train"), b.triples("train"))
    assert not torch.equal(a.tails, entity_facts(n_entities=60, seed=4).tails)


def test_test_facts_are_the_inverse_relation_of_atomic_facts_and_never_trained():
    f = entity_facts(n_entities=90, relations=("parent", "teacher", "owner"), seed=1)
    atomic, test, train = f.triples("atomic"), f.triples("test"), f.triples("train")
    n_ent, first = f.n_entities, len(SPECIAL_TOKENS) + f.n_entities
    # the inverse by hand: swap subject and object, relation r <-> r + n_pairs
    for (h, r, t), (h2, r2, t2) in zip(atomic.tolist(), test.tolist(), strict=True):
        assert (h2, t2) == (t, h)
        assert r2 - first == (r - first + 3) % 6
    assert _rows(test).isdisjoint(_rows(train))  # no test fact leaks into train
    assert _rows(atomic) <= _rows(train)
    # group A is trained in both directions: the inverse of every group-A fact is trained too
    group_a = f.triples("group_a")
    assert _rows(f.reverse(group_a)) == _rows(group_a)
    assert len(train) == 2 * 3 * 60 + 3 * 30 and len(test) == 3 * 30 == 3 * int(f.group_b.sum())
    assert f.vocab_size == len(SPECIAL_TOKENS) + n_ent + 6


def test_groups_are_closed_and_each_relation_is_a_permutation_without_fixed_points():
    f = entity_facts(n_entities=50, seed=2)
    ids = torch.arange(50)
    for p in range(f.n_pairs):
        tails = f.tails[:, p]
        assert torch.equal(tails.sort().values, ids)  # a permutation: one object per subject
        assert not (tails == ids).any()
        assert torch.equal(f.group_b[tails], f.group_b)  # A maps to A, B to B
    test = f.triples("test")
    subjects = test[:, 0] - len(SPECIAL_TOKENS)
    assert f.group_b[subjects].all() and f.group_b[test[:, 2] - len(SPECIAL_TOKENS)].all()
    assert 0 < f.forward_trained[f.group_b].float().mean() < 1  # both directions are atomic somewhere


def test_bad_input_names_the_argument_and_the_valid_range():
    with pytest.raises(ValueError, match="unknown relation names.*parent"):
        entity_facts(relations=("sibling",))
    with pytest.raises(ValueError, match="relations must name at least one"):
        entity_facts(relations=())
    with pytest.raises(ValueError, match="group_b_fraction must be in"):
        entity_facts(group_b_fraction=1.0)
    with pytest.raises(ValueError, match="n_entities must be >= 4"):
        entity_facts(n_entities=3)
    with pytest.raises(ValueError, match="split must be one of"):
        entity_facts(n_entities=10).triples("val")
    assert set(RELATION_PAIRS) >= {"parent", "teacher"}


def test_docstring_example_runs():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.data._entities")).failed == 0
