"""Synthetic key-value facts ("entity relation value") for recall, reversal and unlearning."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise._registry import register

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")


@dataclass(frozen=True)
class KVFacts:
    """Each entity has one value per relation.

    Token layout (``vocab_size`` in all): special tokens ``SPECIAL_TOKENS`` (0, 1, 2), then
    entities, relations, inverse relations, values; see the ``*_token`` methods.

    Fields:
        facts: int64 ``(n_entities, n_relations)``, value index of each (entity, relation).
        invertible: bool ``(n_entities, n_relations)``, True where no other entity has the same
            value for that relation, so the reverse fact "value inverse-relation entity" has a
            single answer. All True when ``n_values >= n_entities`` (each relation is then
            injective).
    """

    facts: Tensor
    invertible: Tensor
    n_entities: int
    n_relations: int
    n_values: int
    name: str

    @property
    def vocab_size(self) -> int:
        return len(SPECIAL_TOKENS) + self.n_entities + 2 * self.n_relations + self.n_values

    def entity_token(self, entity: Tensor | int) -> Tensor | int:
        return len(SPECIAL_TOKENS) + entity

    def relation_token(self, relation: Tensor | int) -> Tensor | int:
        return len(SPECIAL_TOKENS) + self.n_entities + relation

    def inverse_token(self, relation: Tensor | int) -> Tensor | int:
        return self.relation_token(relation) + self.n_relations

    def value_token(self, value: Tensor | int) -> Tensor | int:
        return len(SPECIAL_TOKENS) + self.n_entities + 2 * self.n_relations + value

    def _pairs(self, entities: Tensor | None) -> tuple[Tensor, Tensor]:
        ent = torch.arange(self.n_entities) if entities is None else torch.as_tensor(entities)
        ent = ent.long().repeat_interleave(self.n_relations)
        rel = torch.arange(self.n_relations).repeat(len(ent) // self.n_relations)
        return ent, rel

    def forward_sequences(self, *, entities: Tensor | None = None) -> Tensor:
        """int64 ``(len(entities) * n_relations, 3)`` token triples (entity, relation, value),
        entity-major; ``entities`` defaults to all."""
        ent, rel = self._pairs(entities)
        val = self.facts[ent, rel]
        return torch.stack(
            [self.entity_token(ent), self.relation_token(rel), self.value_token(val)], dim=1
        )

    def reverse_sequences(
        self, *, entities: Tensor | None = None, only_invertible: bool = True
    ) -> Tensor:
        """int64 ``(M, 3)`` token triples (value, inverse relation, entity), in the order of
        ``forward_sequences``; by default only the invertible facts of ``entities`` (an
        ambiguous reverse fact has several correct entities)."""
        ent, rel = self._pairs(entities)
        if only_invertible:
            keep = self.invertible[ent, rel]
            ent, rel = ent[keep], rel[keep]
        val = self.facts[ent, rel]
        return torch.stack(
            [self.value_token(val), self.inverse_token(rel), self.entity_token(ent)], dim=1
        )

    def split_entities(self, fraction: float, *, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Sorted int64 ``(retain, forget)`` entity indices; ``forget`` has
        ``round(fraction * n_entities)`` random entities (e.g. a forget set for unlearning)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        perm = torch.randperm(self.n_entities, generator=torch.Generator().manual_seed(seed))
        n_forget = round(fraction * self.n_entities)
        return perm[n_forget:].sort().values, perm[:n_forget].sort().values


def _assign_values(n_entities: int, n_values: int, gen: torch.Generator) -> Tensor:
    if n_values >= n_entities:  # injective: distinct values
        return torch.randperm(n_values, generator=gen)[:n_entities]
    balanced = torch.arange(n_entities) % n_values  # each value used equally often (+-1)
    return balanced[torch.randperm(n_entities, generator=gen)]


def _unique_mask(column: Tensor, n_values: int) -> Tensor:
    return torch.bincount(column, minlength=n_values)[column] == 1


@register(
    "kv_facts",
    kind="dataset",
    paper="The Reversal Curse: LLMs trained on 'A is B' fail to learn 'B is A' "
    "(Berglund et al., 2023)",
    arxiv="2309.12288",
)
def kv_facts(
    *, n_entities: int = 200, n_relations: int = 4, n_values: int = 50, seed: int = 0
) -> KVFacts:
    """Random facts: one value per (entity, relation), drawn with a local generator.

    With ``n_values >= n_entities`` each relation maps entities to distinct values (every
    reverse fact is well defined); otherwise values are spread evenly (each used
    ``n_entities // n_values`` or one more times) and ``invertible`` marks the unique ones:
    at the defaults (200 entities, 50 values) every value is shared by 4 entities and no fact
    is invertible, so reversal studies should pass ``n_values >= n_entities``.

    Returns:
        ``KVFacts`` (facts int64 ``(n_entities, n_relations)``, invertible bool, same shape).
    """
    if min(n_entities, n_relations, n_values) < 1:
        raise ValueError(f"sizes must be >= 1, got {n_entities}, {n_relations}, {n_values}")
    gen = torch.Generator().manual_seed(seed)
    columns = [_assign_values(n_entities, n_values, gen) for _ in range(n_relations)]
    facts = torch.stack(columns, dim=1)
    invertible = torch.stack([_unique_mask(c, n_values) for c in columns], dim=1)
    return KVFacts(
        facts=facts,
        invertible=invertible,
        n_entities=n_entities,
        n_relations=n_relations,
        n_values=n_values,
        name=f"kv_facts({n_entities}x{n_relations}->{n_values})",
    )
