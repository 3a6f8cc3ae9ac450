import pytest
import torch

from layerwise.data import SPECIAL_TOKENS, KVFacts, kv_facts


def test_forward_sequences_encode_the_facts():
    kv = kv_facts(n_entities=20, n_relations=3, n_values=30)
    assert isinstance(kv, KVFacts) and kv.facts.shape == (20, 3) and kv.facts.dtype == torch.int64
    assert kv.vocab_size == len(SPECIAL_TOKENS) + 20 + 2 * 3 + 30
    seqs = kv.forward_sequences()
    assert seqs.shape == (60, 3) and seqs.dtype == torch.int64
    ent = seqs[:, 0] - 3
    rel = seqs[:, 1] - 3 - 20
    val = seqs[:, 2] - 3 - 20 - 6
    assert torch.equal(ent, torch.arange(20).repeat_interleave(3))
    assert torch.equal(val, kv.facts[ent, rel])
    assert int(seqs.min()) >= 3 and int(seqs.max()) < kv.vocab_size


def test_bijective_relations_reverse_exactly():
    kv = kv_facts(n_entities=20, n_relations=3, n_values=30)
    assert bool(kv.invertible.all())
    for r in range(3):
        assert len(torch.unique(kv.facts[:, r])) == 20
    fwd, rev = kv.forward_sequences(), kv.reverse_sequences()
    assert torch.equal(rev[:, 0], fwd[:, 2]) and torch.equal(rev[:, 2], fwd[:, 0])
    assert torch.equal(rev[:, 1], fwd[:, 1] + 3)


def test_shared_values_are_marked_not_invertible():
    kv = kv_facts(n_entities=10, n_relations=2, n_values=4)
    for r in range(2):
        counts = torch.bincount(kv.facts[:, r], minlength=4)
        assert sorted(counts.tolist()) == [2, 2, 3, 3]
    assert not bool(kv.invertible.any()) and kv.reverse_sequences().shape == (0, 3)
    assert kv.reverse_sequences(only_invertible=False).shape == (20, 3)
    mixed = kv_facts(n_entities=5, n_relations=1, n_values=4)
    assert mixed.invertible.sum() == 3
    assert torch.equal(mixed.reverse_sequences()[:, 2] - 3, torch.nonzero(mixed.invertible[:, 0])[:, 0])


def test_split_entities_and_subsets():
    kv = kv_facts()
    retain, forget = kv.split_entities(0.1, seed=1)
    assert len(forget) == 20 and len(retain) == 180
    assert torch.equal(torch.sort(torch.cat([retain, forget])).values, torch.arange(200))
    assert not torch.equal(forget, kv.split_entities(0.1, seed=2)[1])
    assert torch.equal(forget, kv.split_entities(0.1, seed=1)[1])
    seqs = kv.forward_sequences(entities=forget)
    assert seqs.shape == (80, 3) and set((seqs[:, 0] - 3).tolist()) == set(forget.tolist())
    with pytest.raises(ValueError, match="fraction must be in \\[0, 1\\]"):
        kv.split_entities(1.5)


def test_deterministic_and_errors():
    assert torch.equal(kv_facts(seed=3).facts, kv_facts(seed=3).facts)
    assert not torch.equal(kv_facts(seed=3).facts, kv_facts(seed=4).facts)
    with pytest.raises(ValueError, match="sizes must be >= 1"):
        kv_facts(n_values=0)
