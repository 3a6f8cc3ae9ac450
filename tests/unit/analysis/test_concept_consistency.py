"""concept_consistency: cosines and matching MRR against hand-computed values; role readers; errors."""

import pytest
import torch

from layerwise.analysis import concept_consistency, reciprocal_ranks, role_representations
from layerwise.models import GPT, ConceptJEPA


def test_values_on_a_fixed_input():
    subject = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    obj = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0]])
    r = concept_consistency(subject, obj)
    s = 2 ** -0.5
    # cos matrix rows: [1, s, 0], [0, s, 1], [s, 1, s]
    assert r.cosine == pytest.approx((1 + s + s) / 3)
    assert r.baseline == pytest.approx((s + 0 + 0 + 1 + s + 1) / 6)
    assert r.gap == pytest.approx(r.cosine - r.baseline)
    # ranks of the diagonal: 1; 2 (behind 1.0); 2 (behind 1.0, tied with s counts against) -> 3
    assert r.mrr == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def test_a_permuted_object_matrix_loses_consistency():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 8, generator=g)
    assert concept_consistency(x, x).mrr == 1.0 and concept_consistency(x, x).cosine == pytest.approx(1.0)
    shuffled = concept_consistency(x, x[torch.randperm(20, generator=g)])
    assert shuffled.cosine < 0.3 and shuffled.mrr < 0.5


def test_reciprocal_ranks_count_ties_against_the_answer():
    s = torch.tensor([[0.5, 0.5, 0.1], [0.0, 1.0, 2.0]])
    assert reciprocal_ranks(s, torch.tensor([0, 2])).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="scores"):
        reciprocal_ranks(s, torch.tensor([0]))


def test_role_representations_of_the_two_designs():
    torch.manual_seed(0)
    tokens = torch.arange(3, 9)
    jepa = ConceptJEPA(vocab_size=10, d_model=8, n_head=2, predictor_layers=1, patch_len=1)
    subject, obj = role_representations(jepa, tokens)
    assert torch.equal(subject, obj) and subject.shape == (6, 8)
    gpt = GPT(n_layer=1, d_model=8, n_head=2, seq_len=2, vocab_size=10).train()
    subject, obj = role_representations(gpt, tokens)
    assert torch.equal(obj, gpt.tok_emb.weight[tokens])  # tied: the unembedding is the embedding
    hidden = gpt.blocks[0](gpt.tok_emb(tokens[:, None]) + gpt.pos_emb.weight[:1])
    assert torch.allclose(subject, gpt.ln_f(hidden)[:, 0])
    assert gpt.training  # the mode is restored
    with pytest.raises(TypeError, match="ConceptJEPA or a GPT"):
        role_representations(torch.nn.Linear(2, 2), tokens)


def test_bad_input_names_the_argument():
    with pytest.raises(TypeError, match="subject must be a floating-point"):
        concept_consistency(torch.ones(3, 2, dtype=torch.long), torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"object must have shape \(N, D\) with N >= 2"):
        concept_consistency(torch.ones(3, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="must match"):
        concept_consistency(torch.ones(3, 2), torch.ones(3, 4))


def test_docstring_example_runs():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.analysis.concept_consistency")).failed == 0
