"""Relative contribution against a naive computation; logit lens with an identity last block."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from layerwise.depth.logit_lens import kl_divergence, logit_lens
from layerwise.depth.usage import depth_usage
from layerwise.models import GPT


def _gpt():
    return GPT(n_layer=3, d_model=16, n_head=2, seq_len=8, vocab_size=20, init_std=0.2).eval()


def test_relative_contribution_matches_naive_loop():
    model, idx = _gpt(), torch.randint(0, 20, (2, 8))
    u = depth_usage(model, idx)
    with torch.no_grad():
        x = model.tok_emb(idx) + model.pos_emb(torch.arange(8))
        for i, block in enumerate(model.blocks):
            a = block.attn(block.ln1(x))
            m = block.mlp(block.ln2(x + a))
            y = x + a + m
            bt = [(b, t) for b in range(2) for t in range(8)]
            naive_a = np.mean([(a[b, t].norm() / x[b, t].norm()).item() for b, t in bt])
            naive_m = np.mean([(m[b, t].norm() / (x + a)[b, t].norm()).item() for b, t in bt])
            cos = np.mean([torch.dot(a[b, t], x[b, t]).item() / (a[b, t].norm() * x[b, t].norm()).item()
                           for b, t in bt])
            ang = np.mean([math.acos(min(1.0, torch.dot(x[b, -1], y[b, -1]).item()
                                         / (x[b, -1].norm() * y[b, -1].norm()).item())) / math.pi
                           for b in range(2)])
            assert u.attn_contrib[i] == pytest.approx(naive_a, rel=1e-5)
            assert u.mlp_contrib[i] == pytest.approx(naive_m, rel=1e-5)
            assert u.attn_cos[i] == pytest.approx(cos, abs=1e-5)
            assert u.angular[i] == pytest.approx(ang, abs=1e-4)
            x = y
    assert u.second_first_ratio() == pytest.approx(u.block_contrib[2] / u.block_contrib[0])


class Identity(nn.Module):
    def forward(self, x):
        return x


def test_logit_lens_with_identity_last_block_has_zero_kl_there():
    model, idx = _gpt(), torch.randint(0, 20, (2, 8))
    model.blocks[2] = Identity()
    model.blocks[2].attn, model.blocks[2].mlp = None, None  # what the GPT adapter reads
    lens = logit_lens(model, idx)
    assert lens.kl[2] == pytest.approx(0.0, abs=1e-10) and lens.kl[3] == pytest.approx(0.0, abs=1e-10)
    assert lens.kl[0] > 1e-4 and lens.top1_agree[2] == 1.0
    assert torch.allclose(lens.probs[-1], model(idx).softmax(-1), atol=1e-6)


def test_kl_divergence_naive():
    p, q = torch.tensor([0.5, 0.25, 0.25]), torch.tensor([0.2, 0.3, 0.5])
    naive = sum(a * math.log(a / b) for a, b in zip(p.tolist(), q.tolist(), strict=True))
    assert kl_divergence(p.log(), q.log()).item() == pytest.approx(naive)
