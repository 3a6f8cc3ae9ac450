"""Prompts over ``KVFacts`` for unlearning: a value-stratified forget split, closed-book prompts and
in-context lookup prompts ("e_1 v_1 ... e_k v_k e_q r" -> the value that the context gives e_q).

Used by the regenerative-unlearning study (``rlcp-unlearning``): the forget set holds the same
number of entities per value, so a per-layer probe of its hidden states can be cross-validated
with stratified folds; lookup prompts carry random (counterfactual) values, so answering them
needs the context, not the memorised fact.

Example::

    >>> from layerwise.data import kv_facts
    >>> from layerwise.data._facts_split import closed_book, lookup_prompts, stratified_forget
    >>> facts = kv_facts(n_entities=40, n_relations=1, n_values=4)
    >>> retain, forget = stratified_forget(facts, per_value=2)
    >>> len(retain), len(forget), facts.facts[forget, 0].bincount().tolist()
    (32, 8, [2, 2, 2, 2])
    >>> x, y = closed_book(facts, forget)
    >>> tuple(x.shape), bool((y == facts.value_token(facts.facts[forget, 0])).all())
    ((8, 2), True)
    >>> x, y = lookup_prompts(facts, forget, n_pairs=3)
    >>> tuple(x.shape), tuple(y.shape)
    ((8, 8), (8,))
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerwise.data._kv_facts import KVFacts


def stratified_forget(facts: KVFacts, per_value: int, *, relation: int = 0,
                      seed: int = 0) -> tuple[Tensor, Tensor]:
    """Sorted int64 ``(retain, forget)`` entity indices; ``forget`` holds ``per_value`` random
    entities for each value of ``relation`` (``per_value * n_values`` entities in all)."""
    if not 0 <= relation < facts.n_relations:
        raise ValueError(f"relation must be in [0, {facts.n_relations - 1}], got {relation}")
    column = facts.facts[:, relation]
    smallest = int(torch.bincount(column, minlength=facts.n_values).min())
    if not 1 <= per_value <= smallest - 1:
        raise ValueError(f"per_value must be in [1, {smallest - 1}] (the rarest value has {smallest} "
                         f"entities and one must stay retained), got {per_value}")
    gen = torch.Generator().manual_seed(seed)
    forget = []
    for v in range(facts.n_values):
        holders = (column == v).nonzero().flatten()
        forget.append(holders[torch.randperm(len(holders), generator=gen)[:per_value]])
    forget_t = torch.cat(forget).sort().values
    keep = torch.ones(facts.n_entities, dtype=torch.bool)
    keep[forget_t] = False
    return keep.nonzero().flatten(), forget_t


def closed_book(facts: KVFacts, entities: Tensor, *, relation: int = 0) -> tuple[Tensor, Tensor]:
    """Prompts ``(len(entities), 2)`` "entity relation" and their answers (value tokens)."""
    entities = torch.as_tensor(entities).long()
    rel = torch.full_like(entities, relation)
    x = torch.stack([facts.entity_token(entities), facts.relation_token(rel)], dim=1)
    return x, facts.value_token(facts.facts[entities, relation])


def lookup_prompts(facts: KVFacts, queries: Tensor, *, n_pairs: int, relation: int = 0,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """In-context lookup: for each query entity, ``n_pairs`` (entity, random value) pairs that
    include the query at a random slot (the other entities are distinct random ones), then
    "query relation"; the answer is the value token the context gives the query."""
    if not 1 <= n_pairs < facts.n_entities:
        raise ValueError(f"n_pairs must be in [1, {facts.n_entities - 1}], got {n_pairs}")
    queries = torch.as_tensor(queries).long()
    n = len(queries)
    # distinct others: random scores, the query pushed last, keep the n_pairs best
    scores = torch.rand(n, facts.n_entities, generator=generator)
    scores[torch.arange(n), queries] = -1.0
    ents = scores.topk(n_pairs, dim=1).indices
    slot = torch.randint(0, n_pairs, (n,), generator=generator)
    ents[torch.arange(n), slot] = queries
    vals = torch.randint(0, facts.n_values, (n, n_pairs), generator=generator)
    pairs = torch.stack([facts.entity_token(ents), facts.value_token(vals)], dim=2).flatten(1)
    tail = torch.stack([facts.entity_token(queries),
                        facts.relation_token(torch.full_like(queries, relation))], dim=1)
    return torch.cat([pairs, tail], dim=1), facts.value_token(vals[torch.arange(n), slot])
