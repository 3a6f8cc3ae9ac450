"""SparseMemoryLayer: top-k sparse softmax against a naive loop, key initialisation, gradients, errors."""

import math

import pytest
import torch

from layerwise.nn import SparseMemoryLayer


def test_forward_equals_a_naive_top_k_softmax():
    torch.manual_seed(0)
    memory = SparseMemoryLayer(4, num_slots=6, top_k=2)
    x = torch.randn(3, 4)
    out = memory(x)
    keys, values = memory.keys.tolist(), memory.values.tolist()
    for i, row in enumerate(x.tolist()):
        scores = [sum(a * b for a, b in zip(row, k, strict=True)) / 2.0 for k in keys]
        best = sorted(range(6), key=lambda j: -scores[j])[:2]
        z = sum(math.exp(scores[j]) for j in best)
        expected = [sum(math.exp(scores[j]) / z * values[j][c] for j in best) for c in range(4)]
        assert out[i].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_keys_from_embeddings_route_each_concept_to_its_slot_and_value_only_freezes_them():
    memory = SparseMemoryLayer(8, num_slots=5, top_k=1, value_only=True)
    emb = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    emb = emb / emb.norm(dim=1, keepdim=True)  # equal norms: each embedding matches its own key best
    memory.init_keys(emb)
    assert torch.equal(memory.keys.detach(), emb)
    out = memory(emb.unsqueeze(0))  # leading dims are kept
    assert out.shape == (1, 5, 8) and torch.allclose(out[0], memory.values.detach())
    out.sum().backward()
    assert memory.keys.grad is None and not memory.keys.requires_grad
    assert torch.equal(memory.values.grad, torch.ones(5, 8))  # every slot read once, weight 1


def test_bad_input_names_the_argument_and_range():
    with pytest.raises(ValueError, match=r"top_k must be an int in \[1, num_slots=3\]"):
        SparseMemoryLayer(4, num_slots=3, top_k=4)
    with pytest.raises(ValueError, match="num_slots must be an int >= 1"):
        SparseMemoryLayer(4, num_slots=0)
    memory = SparseMemoryLayer(4, num_slots=3)
    with pytest.raises(ValueError, match="exceed num_slots=3"):
        memory.init_keys(torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"embeddings must have shape \(n, 4\)"):
        memory.init_keys(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="d_model=4"):
        memory(torch.zeros(2, 3))


def test_docstring_example_runs():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.nn.sparse_memory")).failed == 0
