"""Forget split and prompts over KVFacts: balanced forget set, lookup answers come from the context."""

import pytest
import torch

from layerwise.data import kv_facts
from layerwise.data._facts_split import closed_book, lookup_prompts, stratified_forget


def test_forget_set_is_balanced_over_values_and_disjoint_from_retain():
    facts = kv_facts(n_entities=60, n_relations=1, n_values=6, seed=3)
    retain, forget = stratified_forget(facts, 3, seed=1)
    assert torch.bincount(facts.facts[forget, 0], minlength=6).tolist() == [3] * 6
    assert sorted(torch.cat([retain, forget]).tolist()) == list(range(60))
    assert torch.equal(stratified_forget(facts, 3, seed=1)[1], forget)
    assert not torch.equal(stratified_forget(facts, 3, seed=2)[1], forget)


def test_closed_book_and_lookup_prompts():
    facts = kv_facts(n_entities=30, n_relations=1, n_values=5)
    ents = torch.tensor([0, 7, 29])
    x, y = closed_book(facts, ents)
    assert x.tolist() == [[facts.entity_token(e), facts.relation_token(0)] for e in ents.tolist()]
    assert torch.equal(y, facts.value_token(facts.facts[ents, 0]))
    queries = torch.arange(30).repeat(4)
    x, y = lookup_prompts(facts, queries, n_pairs=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (120, 8) and torch.equal(x[:, -2], facts.entity_token(queries))
    ctx_ents, ctx_vals = x[:, 0:6:2], x[:, 1:6:2]
    hits = ctx_ents == facts.entity_token(queries)[:, None]
    assert (hits.sum(1) == 1).all()  # the query appears once in its context, the others are distinct
    assert all(len(set(row.tolist())) == 3 for row in ctx_ents)
    assert torch.equal(ctx_vals[hits], y)  # the answer is the value the context gives
    assert (y != facts.value_token(facts.facts[queries, 0])).any()  # counterfactual values


def test_bad_settings_are_refused():
    facts = kv_facts(n_entities=20, n_relations=1, n_values=4)
    with pytest.raises(ValueError, match=r"per_value must be in \[1, 4\]"):
        stratified_forget(facts, 5)
    with pytest.raises(ValueError, match="relation"):
        stratified_forget(facts, 1, relation=1)
    with pytest.raises(ValueError, match="n_pairs"):
        lookup_prompts(facts, torch.tensor([0]), n_pairs=0)
