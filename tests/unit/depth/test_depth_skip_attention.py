"""Skip matrix causality, attention entropy extremes, inflection bands on synthetic profiles."""

import math

import numpy as np
import pytest
import torch

from layerwise.depth.attention import (
    activation_grad_norms,
    attention_entropy,
    entropy_of,
    inflection_layers,
)
from layerwise.depth.skip import removal_delta_loss, skip_matrix
from layerwise.models import GPT


class Stack(torch.nn.Module):
    """Position-wise residual blocks: tokens never mix."""

    def __init__(self, d=8, n=3):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(d, d) for _ in range(n))

    def forward(self, x):
        for f in self.layers:
            x = x + torch.tanh(f(x))
        return x


def _gpt():
    return GPT(n_layer=4, d_model=16, n_head=2, seq_len=8, vocab_size=20, init_std=0.2).eval()


def test_skip_matrix_is_strictly_upper_and_last_layer_cannot_reach_future():
    sk = skip_matrix(_gpt(), torch.randint(0, 20, (3, 8)))
    lower = np.tril_indices(4)
    assert np.isnan(sk.matrix[lower]).all()
    upper = sk.matrix[np.triu_indices(4, 1)]
    assert np.isfinite(upper).all() and (upper > 1e-4).all()
    assert sk.output[-1] == pytest.approx(0.0, abs=1e-12) and (sk.output[:-1] > 0).all()


def test_skip_has_no_future_effect_without_token_mixing():
    sk = skip_matrix(Stack(), torch.randn(2, 6, 8))
    assert np.allclose(sk.matrix[np.triu_indices(3, 1)], 0.0) and np.allclose(sk.output, 0.0)


def test_removal_of_identity_like_block_costs_nothing():
    model, idx = _gpt(), torch.randint(0, 20, (2, 8))
    with torch.no_grad():
        model.blocks[1].attn.proj.weight.zero_()
        model.blocks[1].attn.proj.bias.zero_()
        model.blocks[1].mlp.proj.weight.zero_()
        model.blocks[1].mlp.proj.bias.zero_()
    delta = removal_delta_loss(model, idx)
    assert delta[1] == pytest.approx(0.0, abs=1e-9) and np.abs(delta[[0, 2, 3]]).max() > 1e-4


def test_entropy_of_uniform_and_one_hot_attention():
    uniform = torch.full((2, 3, 4, 5), 0.2)
    one_hot = torch.nn.functional.one_hot(torch.randint(0, 5, (2, 3, 4)), 5).float()
    assert torch.allclose(entropy_of(uniform), torch.full((3,), math.log(5), dtype=torch.float64))
    assert torch.allclose(entropy_of(one_hot), torch.zeros(3, dtype=torch.float64))


def test_gpt_attention_entropy_is_bounded_by_causal_uniform():
    ent = attention_entropy(_gpt(), torch.randint(0, 20, (2, 8)))
    bound = np.mean([math.log(q + 1) for q in range(8)])
    assert ent.shape == (4, 2) and (ent > 0).all() and (ent <= bound + 1e-9).all()


def test_activation_grad_norms_match_autograd_on_embeddings():
    model, idx = _gpt(), torch.randint(0, 20, (2, 8))
    g = activation_grad_norms(model, idx)
    assert all(p.grad is None for p in model.parameters())  # autograd.grad, not backward
    x0 = (model.tok_emb(idx) + model.pos_emb(torch.arange(8))).detach().requires_grad_(True)
    h = x0
    for b in model.blocks:
        h = b(h)
    logits = model.lm_head(model.ln_f(h))
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 20), idx[:, 1:].reshape(-1))
    loss.backward()
    assert g.shape == (5,) and g[0] == pytest.approx(x0.grad.norm().item(), rel=1e-5)


def test_inflection_finds_low_entropy_steep_decay_band():
    entropy = np.array([2.0, 2.1, 1.9, 0.3, 0.2, 0.4, 2.0, 2.2])
    grads = np.exp(np.array([0.0, 0.1, 0.2, 0.3, 2.0, 4.0, 6.0, 6.1, 6.2]))
    inf = inflection_layers(entropy, grads)
    assert inf.band == (3, 5) and inf.layers == [3, 4, 5]
    assert inflection_layers(entropy, grads, width=1).band[0] in (4, 5)
    flat = inflection_layers(np.ones(4), np.ones(5))
    assert np.allclose(flat.score, 0.0)
    with pytest.raises(ValueError, match="L \\+ 1"):
        inflection_layers(entropy, grads[:-1])


def test_skip_section_says_not_applicable_without_an_unembedding():
    import numpy as np

    from layerwise.depth.sections import skip_section
    from layerwise.depth.skip import SkipEffects

    names = ("b0", "b1")
    none = SkipEffects(names, np.eye(2), np.full(2, np.nan), 1)
    assert "not applicable" in skip_section(none).text and "nan" not in skip_section(none).text
    some = SkipEffects(names, np.eye(2), np.array([0.5, 0.25]), 1)
    assert skip_section(some).text.endswith("0:0.5 1:0.25")
