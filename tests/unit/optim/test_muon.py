"""Muon: Newton-Schulz properties, agreement with torch.optim.Muon and AdamW, routing, toy problems."""

from __future__ import annotations

import copy
import doctest
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerwise._registry import get
from layerwise.optim import Muon, muon_param_groups, newton_schulz, split_hidden_matrices


def _with_spectrum(shape, low=0.1):
    """Random matrices whose singular values are spread over [low, 1] (condition number 1/low)."""
    *batch, m, n = shape
    k = min(m, n)
    u, _ = torch.linalg.qr(torch.randn(*batch, m, k))
    v, _ = torch.linalg.qr(torch.randn(*batch, n, k))
    return u @ torch.diag(torch.logspace(torch.log10(torch.tensor(low)).item(), 0, k)) @ v.mT


@pytest.mark.parametrize("shape", [(16, 48), (48, 16), (3, 24, 24)])
def test_newton_schulz_singular_values_near_one(shape):
    g = _with_spectrum(shape)
    s = torch.linalg.svdvals(newton_schulz(g))
    assert s.min() > 0.6 and s.max() < 1.25
    # Rows of a batch are normalised separately: scaling one matrix changes nothing.
    if len(shape) == 3:
        g2 = g.clone()
        g2[0] *= 1e3
        torch.testing.assert_close(newton_schulz(g2), newton_schulz(g), rtol=1e-4, atol=1e-4)


def test_newton_schulz_solves_the_spectral_lmo():
    # argmax_{||O||_op <= 1} <G, O> = U V^T with value ||G||_* (nuclear norm); NS5 gets most of it.
    # The normalised gradient G / ||G||_op (what SGD's direction gives) gets only ||G||_F^2 / ||G||_op.
    g = torch.randn(20, 30, dtype=torch.float64)
    o = newton_schulz(g, dtype=torch.float64)
    nuclear = torch.linalg.matrix_norm(g, ord="nuc")
    value = (g * o).sum() / torch.linalg.matrix_norm(o, ord=2)
    sgd_value = g.pow(2).sum() / torch.linalg.matrix_norm(g, ord=2)
    assert value > 0.75 * nuclear and value > 1.1 * sgd_value
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    cos = (o * (u @ vh)).sum() / (o.norm() * (u @ vh).norm())
    assert cos > 0.98
    assert newton_schulz(g, dtype=torch.bfloat16).dtype == torch.bfloat16


def _grad_sequence(shape, steps=3):
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(*shape, generator=gen) for _ in range(steps)]


def _run(opt_cls, w0, grads, **kw):
    w = nn.Parameter(w0.clone())
    opt = opt_cls([w], **kw)
    for g in grads:
        w.grad = g.clone()
        opt.step()
    return w.detach()


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch >= 2.9")
@pytest.mark.parametrize("shape", [(24, 16), (16, 40)])
def test_matches_torch_muon(shape):
    w0 = torch.randn(*shape)
    grads = _grad_sequence(shape)
    hp = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)
    theirs = _run(torch.optim.Muon, w0, grads, adjust_lr_fn="original", **hp)
    # torch iterates in bf16 always; with the same dtype the updates coincide (up to kernel rounding).
    ours_bf16 = _run(Muon, w0, grads, ns_dtype=torch.bfloat16, adjust_lr="original", **hp)
    torch.testing.assert_close(ours_bf16, theirs, rtol=0, atol=2e-3 * hp["lr"])
    # Our fp32 default differs from torch's bf16 only by bf16 rounding of the direction.
    ours_fp32 = _run(Muon, w0, grads, adjust_lr="original", **hp)
    moved = (theirs - w0 * (1 - hp["lr"] * hp["weight_decay"]) ** 3).norm()
    assert (ours_fp32 - theirs).norm() < 0.03 * moved
    # Moonshot's scale 0.2 * sqrt(max(rows, cols)) is the same convention on both sides.
    theirs = _run(torch.optim.Muon, w0, grads, adjust_lr_fn="match_rms_adamw", **hp)
    ours = _run(Muon, w0, grads, ns_dtype=torch.bfloat16, adjust_lr="match_rms_adamw", **hp)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-3 * hp["lr"] * 0.2 * max(shape) ** 0.5)



@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch >= 2.9")
@pytest.mark.parametrize("shape", [(128, 16), (16, 128), (24, 40)])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust_lr", [None, "original", "match_rms_adamw", "none"])
def test_adjust_lr_means_what_torch_adjust_lr_fn_means(shape, nesterov, adjust_lr):
    """``adjust_lr`` takes torch's ``adjust_lr_fn`` values with torch's meaning (None is "original");
    ``"none"`` (no scaling) equals torch's "original" run with lr / s and weight decay * s."""
    w0 = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    grads = _grad_sequence(shape, steps=4)
    hp = dict(momentum=0.9, nesterov=nesterov)
    lr, wd, s = 0.05, 0.1, max(1.0, shape[0] / shape[1]) ** 0.5
    if adjust_lr == "none":
        theirs = _run(torch.optim.Muon, w0, grads, lr=lr / s, weight_decay=wd * s, adjust_lr_fn="original",
                      **hp)
    else:
        theirs = _run(torch.optim.Muon, w0, grads, lr=lr, weight_decay=wd, adjust_lr_fn=adjust_lr, **hp)
    ours = _run(Muon, w0, grads, lr=lr, weight_decay=wd, ns_dtype=torch.bfloat16, adjust_lr=adjust_lr, **hp)
    step = (theirs - w0 * (1 - lr * wd) ** len(grads)).norm()
    assert (ours - w0 * (1 - lr * wd) ** len(grads)).norm() / step == pytest.approx(1.0, abs=1e-2)
    assert (ours - theirs).norm() < 1e-2 * step

def test_adamw_groups_match_torch_adamw():
    w0 = torch.randn(7)
    grads = _grad_sequence((7,), steps=4)
    hp = dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.05)
    theirs = _run(torch.optim.AdamW, w0, grads, eps=1e-8, **hp)
    w = nn.Parameter(w0.clone())
    opt = Muon([{"params": [w], "algorithm": "adamw", **hp}], adam_eps=1e-8)
    for g in grads:
        w.grad = g.clone()
        opt.step()
    torch.testing.assert_close(w.detach(), theirs, rtol=1e-6, atol=1e-7)


def test_routing_and_validation():
    from layerwise.models.gpt import GPT

    gpt = GPT(vocab_size=17, d_model=16, n_layer=2, n_head=2, seq_len=8)
    hidden, rest = split_hidden_matrices(gpt)
    hidden_names = [n for n, _ in hidden]
    assert all(p.dim() == 2 for _, p in hidden)
    assert not any("emb" in n or "lm_head" in n for n in hidden_names)
    ids = [id(p) for _, p in hidden + rest]
    assert len(ids) == len(set(ids)) == len({id(p) for p in gpt.parameters()})
    groups = muon_param_groups(gpt, lr=0.02, adamw_lr=1e-3)
    assert [g["algorithm"] for g in groups] == ["muon", "adamw"]
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert [n for n, _ in split_hidden_matrices(mlp, head=None)[0]] == ["0.weight", "2.weight"]
    assert [n for n, _ in split_hidden_matrices(mlp, exclude=["0.*"])[0]] == []
    with pytest.raises(ValueError):
        Muon(mlp.parameters())  # biases are not matrices
    with pytest.raises(ValueError):
        Muon([nn.Parameter(torch.ones(2, 2))], adjust_lr="bogus")
    with pytest.raises(ValueError, match="'none'"):
        Muon([nn.Parameter(torch.ones(2, 2))], adjust_lr="None")


def test_solves_least_squares_and_state_dict_round_trip():
    torch.manual_seed(0)
    x = torch.randn(64, 12)
    y = x @ torch.randn(12, 3)
    model = nn.Sequential(nn.Linear(12, 32), nn.Linear(32, 32), nn.Linear(32, 3))
    opt = Muon(muon_param_groups(model, lr=0.02, adamw_lr=0.01))
    losses = []
    for step in range(40):
        loss = F.mse_loss(model(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 20:
            twin = copy.deepcopy(model)
            twin_opt = Muon(muon_param_groups(twin, lr=0.02, adamw_lr=0.01))
            twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # as if saved to disk
    assert losses[-1] < 0.1 * losses[0]
    # The twin restarted from step 20's state follows the same trajectory.
    for _ in range(19):
        loss = F.mse_loss(twin(x), y)
        twin_opt.zero_grad()
        loss.backward()
        twin_opt.step()
    torch.testing.assert_close(twin(x), model(x))
    assert get("muon").obj is Muon


def test_docstring_examples():
    for name in ("muon", "newton_schulz", "groups"):
        assert doctest.testmod(importlib.import_module(f"layerwise.optim.{name}")).failed == 0
