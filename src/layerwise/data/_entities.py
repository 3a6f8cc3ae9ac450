"""Synthetic entities linked by relation pairs (r, r_inv), with a held-out reversal test set.

The data of Is the Reversal Curse a Binding Problem? (Boshi Wang, Huan Sun, 2025, arXiv
2504.01928), shrunk: entities are single tokens of one shared pool, so the same token is a
subject in some facts and an object in others. Entities fall in two groups:

* group A: for every relation pair both ``(h r t)`` and ``(t r_inv h)`` are trained, which
  teaches that ``r_inv`` undoes ``r``;
* group B: only one direction of each fact is trained (the *atomic* facts, the direction drawn at
  random per fact); the other direction, the exact inverse, is the *test* set.

Each relation maps a group onto itself by a random cyclic permutation, so every entity is the
subject of one fact and the object of one fact per relation, no fact links an entity to itself,
and every reversed fact has a single answer. ``KVFacts`` (``kv_facts``) keeps subjects and values
in separate token sets, so an entity there is never both, which is why this is a separate loader.

Token layout: ``SPECIAL_TOKENS`` (0, 1, 2), the ``n_entities`` entities, the relations, then the
inverse relations.

Example::

    >>> from layerwise.data import entity_facts
    >>> facts = entity_facts(n_entities=30, relations=("parent", "teacher"), seed=0)
    >>> [tuple(facts.triples(s).shape) for s in ("train", "atomic", "test")]
    [(100, 3), (20, 3), (20, 3)]
    >>> bool((facts.reverse(facts.triples("atomic")) == facts.triples("test")).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.data._kv_facts import SPECIAL_TOKENS

RELATION_PAIRS = {
    "parent": ("parent_of", "child_of"),
    "teacher": ("teacher_of", "student_of"),
    "employer": ("employer_of", "employee_of"),
    "owner": ("owner_of", "owned_by"),
    "author": ("author_of", "written_by"),
    "coach": ("coach_of", "coached_by"),
}
SPLITS = ("train", "group_a", "atomic", "test")


@dataclass(frozen=True)
class EntityFacts:
    """Facts over one entity pool.

    Fields:
        tails: int64 ``(n_entities, n_pairs)``: the object ``t`` of ``(h r_p t)``.
        group_b: bool ``(n_entities,)``: entities whose facts are trained in one direction only.
        forward_trained: bool ``(n_entities, n_pairs)``: for a group-B fact, True when ``(h r t)``
            is the trained (atomic) direction and ``(t r_inv h)`` the test one, False for the
            opposite; True everywhere in group A (both directions are trained there).
        relations: the relation pair names (keys of ``RELATION_PAIRS``).
    """

    tails: Tensor
    group_b: Tensor
    forward_trained: Tensor
    relations: tuple[str, ...]
    name: str

    @property
    def n_entities(self) -> int:
        return len(self.group_b)

    @property
    def n_pairs(self) -> int:
        return len(self.relations)

    @property
    def vocab_size(self) -> int:
        return len(SPECIAL_TOKENS) + self.n_entities + 2 * self.n_pairs

    def entity_tokens(self) -> Tensor:
        """int64 ``(n_entities,)``: the token of every entity (the candidates of a query)."""
        return torch.arange(self.n_entities) + len(SPECIAL_TOKENS)

    def relation_token(self, pair: Tensor | int, *, inverse: bool = False) -> Tensor | int:
        return len(SPECIAL_TOKENS) + self.n_entities + pair + (self.n_pairs if inverse else 0)

    def _triples(self, ent: Tensor, pair: Tensor, forward: Tensor) -> Tensor:
        """``(h r t)`` where ``forward`` else ``(t r_inv h)``, as tokens."""
        tail = self.tails[ent, pair]
        head = torch.where(forward, ent, tail)
        obj = torch.where(forward, tail, ent)
        rel = len(SPECIAL_TOKENS) + self.n_entities + pair + (~forward).long() * self.n_pairs
        off = len(SPECIAL_TOKENS)
        return torch.stack([head + off, rel, obj + off], dim=1)

    def triples(self, split: str) -> Tensor:
        """int64 ``(M, 3)`` token triples (subject, relation, object) of ``split``:
        ``"group_a"`` (both directions of every group-A fact), ``"atomic"`` (the trained
        direction of every group-B fact), ``"train"`` (the two together) or ``"test"`` (the other
        direction of every group-B fact, in the order of ``"atomic"``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if split == "train":
            return torch.cat([self.triples("group_a"), self.triples("atomic")])
        group = ~self.group_b if split == "group_a" else self.group_b
        ent = torch.nonzero(group).squeeze(1).repeat_interleave(self.n_pairs)
        pair = torch.arange(self.n_pairs).repeat(len(ent) // self.n_pairs)
        forward = self.forward_trained[ent, pair]
        if split == "group_a":
            return torch.cat([self._triples(ent, pair, forward), self._triples(ent, pair, ~forward)])
        return self._triples(ent, pair, forward if split == "atomic" else ~forward)

    def reverse(self, triples: Tensor) -> Tensor:
        """The inverse facts: ``(h r t) -> (t r_inv h)`` and ``(h r_inv t) -> (t r h)``."""
        first = len(SPECIAL_TOKENS) + self.n_entities
        rel = triples[:, 1] - first
        inv = (rel + self.n_pairs) % (2 * self.n_pairs) + first
        return torch.stack([triples[:, 2], inv, triples[:, 0]], dim=1)


def _cycle(members: Tensor, gen: torch.Generator) -> Tensor:
    """``(len(members),)`` images of a random cyclic permutation of ``members`` (no fixed point)."""
    order = members[torch.randperm(len(members), generator=gen)]
    return order.roll(-1)[torch.argsort(order)]  # members is sorted: entry i is members[i]'s image


@register("entity_facts", kind="dataset",
          paper="Is the Reversal Curse a Binding Problem? (Wang, Sun, 2025)", arxiv="2504.01928")
def entity_facts(*, n_entities: int = 3000, group_b_fraction: float = 1 / 3,
                 relations: tuple[str, ...] = ("parent", "teacher"), seed: int = 0) -> EntityFacts:
    """Random facts over ``n_entities`` single-token entities, ``group_b_fraction`` of them in
    group B (one direction trained, the other tested), one relation pair per name in
    ``relations`` (valid names: ``RELATION_PAIRS``), drawn with a local generator from ``seed``.

    The paper used 50k group-A and 30k group-B entities and 6 relation pairs; the defaults follow
    the spec's tiny reproduction (3000 entities, a third in group B, 2 pairs).
    """
    relations = tuple(relations)
    if not relations:
        raise ValueError(f"relations must name at least one of {', '.join(RELATION_PAIRS)}")
    unknown = [r for r in relations if r not in RELATION_PAIRS]
    if unknown:
        raise ValueError(f"relations: unknown relation names {unknown}; valid: {', '.join(RELATION_PAIRS)}")
    if len(set(relations)) != len(relations):
        raise ValueError(f"relations must not repeat a name, got {relations}")
    if not 0.0 < group_b_fraction < 1.0:
        raise ValueError(f"group_b_fraction must be in (0, 1), got {group_b_fraction}")
    n_b = round(group_b_fraction * n_entities)
    if n_entities < 4 or min(n_b, n_entities - n_b) < 2:
        raise ValueError(f"n_entities must be >= 4 with at least 2 entities in each group, got "
                         f"n_entities={n_entities} ({n_entities - n_b} in A, {n_b} in B)")
    gen = torch.Generator().manual_seed(seed)
    group_b = torch.zeros(n_entities, dtype=torch.bool)
    group_b[torch.randperm(n_entities, generator=gen)[:n_b]] = True
    a, b = torch.nonzero(~group_b).squeeze(1), torch.nonzero(group_b).squeeze(1)
    tails = torch.empty(n_entities, len(relations), dtype=torch.long)
    for p in range(len(relations)):
        tails[a, p], tails[b, p] = _cycle(a, gen), _cycle(b, gen)
    forward = torch.rand(n_entities, len(relations), generator=gen) < 0.5
    forward[~group_b] = True
    return EntityFacts(tails=tails, group_b=group_b, forward_trained=forward, relations=relations,
                       name=f"entity_facts({n_entities - n_b}A+{n_b}B x{len(relations)})")
