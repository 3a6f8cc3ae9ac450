"""ConceptJEPA: InfoNCE against a naive loop, one encoding per concept in both roles, shapes, errors."""

import math

import pytest
import torch

from layerwise.models import ConceptJEPA, concept_info_nce


def _model(**kw):
    torch.manual_seed(0)
    kw = {"vocab_size": 30, "d_model": 16, "n_head": 2, "predictor_layers": 2, "patch_len": 3, **kw}
    return ConceptJEPA(**kw).eval()


def test_info_nce_equals_a_naive_loop():
    g = torch.Generator().manual_seed(1)
    pred, cand = torch.randn(5, 4, generator=g), torch.randn(7, 4, generator=g)
    targets = torch.tensor([0, 6, 3, 3, 2])
    p, c, naive = pred.tolist(), cand.tolist(), 0.0
    for i, target in enumerate(targets.tolist()):
        logits = [sum(p[i][k] * c[j][k] for k in range(4)) / 0.5 for j in range(7)]
        naive += -(logits[target] - math.log(sum(math.exp(v) for v in logits)))
    got = concept_info_nce(pred, cand, targets, temperature=0.5)
    assert got.item() == pytest.approx(naive / 5, rel=1e-5)


def test_batch_negatives_score_only_the_distinct_targets():
    model = _model()
    concepts = torch.tensor([[[3, 4, 0], [5, 0, 0]], [[6, 0, 0], [7, 8, 9]], [[3, 0, 0], [5, 0, 0]]])
    candidates = torch.randint(3, 30, (9, 3), generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([4, 1, 4])
    with torch.no_grad():
        pred = model(concepts)[:, -1]
        enc = model.encode(candidates[[1, 4]])  # the distinct targets, sorted
        expected = concept_info_nce(pred, enc, torch.tensor([1, 0, 1]))
        assert model.loss(concepts, candidates, targets, negatives="batch").item() == pytest.approx(
            expected.item(), rel=1e-6)
        full = concept_info_nce(pred, model.encode(candidates), targets)
        assert model.loss(concepts, candidates, targets).item() == pytest.approx(full.item(), rel=1e-6)


def test_an_entity_has_one_encoding_as_subject_and_as_candidate():
    model = _model()
    concepts = torch.tensor([[[11, 0, 0], [4, 0, 0]], [[12, 13, 0], [5, 0, 0]]])
    candidates = torch.tensor([[12, 13, 0], [11, 0, 0], [20, 0, 0]])
    with torch.no_grad():
        as_subject = model.encode(concepts)[:, 0]
        as_object = model.encode(candidates)
        assert torch.allclose(as_subject[0], as_object[1], atol=1e-6)
        assert torch.allclose(as_subject[1], as_object[0], atol=1e-6)
        # the predictor reads exactly these encodings
        assert torch.allclose(model(concepts), model.predict(model.encode(concepts)), atol=1e-6)
        # right padding never reaches the concept vector (causal attention within the patch)
        short = model.encode(torch.tensor([[12, 13]]))
        assert torch.allclose(short[0], as_object[0], atol=1e-6)


def test_shapes_and_causality_over_concepts():
    model = _model(max_concepts=4)
    concepts = torch.randint(3, 30, (2, 4, 3), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        pred = model(concepts)
        assert pred.shape == (2, 4, 16)
        assert model.scores(concepts, concepts[0]).shape == (2, 4)
        changed = concepts.clone()
        changed[:, -1] = 29
        assert torch.allclose(model(changed)[:, :3], pred[:, :3], atol=1e-6)  # no look-ahead
        assert not torch.allclose(model(changed)[:, 3], pred[:, 3])
    loss = model.train().loss(concepts[:, :2], concepts[:, 2], torch.tensor([0, 1]))
    loss.backward()
    assert model.tok_emb.weight.grad is not None and model.encoder[0].mlp.fc.weight.grad.abs().sum() > 0


def test_bad_input_names_the_argument():
    model = _model()
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="patch_len=3"):
        model(torch.ones(1, 2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="max_concepts=8"):
        model(torch.ones(1, 9, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="real token"):
        model.encode(torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="negatives must be one of all, batch"):
        model.loss(torch.ones(1, 2, 1, dtype=torch.long), torch.ones(3, 1, dtype=torch.long),
                   torch.tensor([0]), negatives="hard")
    with pytest.raises(ValueError, match="predictor_layers must be an int >= 1"):
        ConceptJEPA(vocab_size=10, predictor_layers=0)
    with pytest.raises(ValueError, match="pad_id must be in"):
        ConceptJEPA(vocab_size=10, pad_id=10)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        concept_info_nce(torch.ones(2, 3), torch.ones(4, 3), torch.tensor([0, 1]), temperature=0.0)
    with pytest.raises(ValueError, match=r"targets must index candidates, in \[0, 3\]"):
        concept_info_nce(torch.ones(2, 3), torch.ones(4, 3), torch.tensor([0, 4]))


def test_docstring_example_runs():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.models.concept_jepa")).failed == 0
