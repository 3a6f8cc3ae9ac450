"""NoPropTrainer: a step touches one block; the schedule's chain is the Gaussian posterior; inference
runs the T-step chain; the loss equals a by-hand computation; bad settings name their argument."""

import math

import pytest
import torch
import torch.nn.functional as F

from layerwise import list_methods
from layerwise.train import NoPropBlock, NoPropTrainer
from layerwise.train.noprop import cosine_alpha_bar


def _trainer(T=4, classes=3, dim=5, **kw):
    return NoPropTrainer(lambda: NoPropBlock(dim, classes, embed_dim=kw.get("embed_dim"), width=8),
                         classes, T=T, **kw)


def _batch(n=16, classes=3, dim=5):
    return torch.randn(n, dim), torch.arange(n) % classes


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("embed", ["onehot", "learned"])
def test_one_step_changes_only_the_block_it_trains(embed):
    trainer = _trainer(embed=embed, embed_dim=None if embed == "onehot" else 6)
    x, y = _batch()
    before = [_snapshot(b) for b in trainer.blocks]
    head, emb = _snapshot(trainer.head), trainer.embedding.detach().clone()
    trainer.train_step(x, y, 2)
    for i, block in enumerate(trainer.blocks):
        after = _snapshot(block)
        changed = [not torch.equal(before[i][k], after[k]) for k in after]
        assert all(changed) if i == 1 else not any(changed), f"block {i + 1}"
        if i != 1:  # no backward pass reached the other blocks at all
            assert all(p.grad is None for p in block.parameters())
    assert not torch.equal(head["weight"], trainer.head.weight)  # theta_out learns with every step
    assert torch.equal(emb, trainer.embedding) == (embed == "onehot")


def test_schedule_and_chain_coefficients_are_the_gaussian_posterior():
    T = 6
    abar = cosine_alpha_bar(T)
    assert abar[0] == 0.0 and abar[-1] == pytest.approx(0.999, abs=1e-12)
    assert bool((abar[1:] > abar[:-1]).all())
    trainer = _trainer(T=T, eta=0.3)
    a, b, c = trainer.coef.double()
    prev, cur = abar[:-1], abar[1:]
    # z_{t-1} ~ q(z_{t-1}|u), z_t = a u_hat + b z_{t-1} + sqrt(c) eps with u_hat = u has q(z_t|u) as marginal
    torch.testing.assert_close(a + b * prev.sqrt(), cur.sqrt(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(b**2 * (1 - prev) + c, 1 - cur, rtol=1e-6, atol=1e-6)
    snr = [v / (1 - v) for v in abar.tolist()]
    expected = [T / 2 * 0.3 * (snr[t] - snr[t - 1]) for t in range(1, T + 1)]
    assert trainer.weight.tolist() == pytest.approx(expected, rel=1e-5)
    assert b[0] == 0.0  # z_0 is pure noise: the first step ignores it


def test_loss_equals_the_paper_formula_by_hand():
    trainer = _trainer(T=3)
    x, y = _batch()
    t = 2
    loss = trainer.loss(x, y, t, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    u = F.one_hot(y, 3).float()
    abar = cosine_alpha_bar(3).float()
    z = abar[t - 1].sqrt() * u + (1 - abar[t - 1]).sqrt() * torch.randn(u.shape, generator=g)
    u_hat = trainer.blocks[t - 1](x, z).softmax(-1)
    z_T = abar[3].sqrt() * u + (1 - abar[3]).sqrt() * torch.randn(u.shape, generator=g)
    snr = abar / (1 - abar)
    by_hand = (3 / 2 * 0.1 * (snr[t] - snr[t - 1]) * ((u_hat - u) ** 2).sum(1).mean()
               + F.cross_entropy(trainer.head(z_T), y))  # the KL term is 0: abar_0 = 0
    torch.testing.assert_close(loss, by_hand, rtol=1e-5, atol=1e-6)


def test_inference_runs_the_T_step_chain_in_order():
    trainer = _trainer(T=5)
    x, _ = _batch(n=7)
    calls = []
    for i, block in enumerate(trainer.blocks):
        block.register_forward_hook(lambda m, a, o, i=i: calls.append(i))
    labels = trainer.predict(x)
    assert calls == [0, 1, 2, 3, 4] and labels.shape == (7,) and labels.dtype == torch.long
    z, logits = trainer.chain(x)
    z_manual = torch.zeros(7, 3)
    for t, block in enumerate(trainer.blocks):
        a, b, _ = trainer.coef[:, t]
        lt = block(x, z_manual)
        torch.testing.assert_close(lt, logits[t])
        z_manual = a * lt.softmax(-1) + b * z_manual
    torch.testing.assert_close(z, z_manual)
    assert torch.equal(labels, trainer.head(z).argmax(-1))
    assert trainer.readouts(x).shape == (5, 7, 3)
    torch.testing.assert_close(trainer(x), logits[-1])  # forward: the last block's logits
    s1 = trainer.predict(x, stochastic=True, generator=torch.Generator().manual_seed(1))
    s2 = trainer.predict(x, stochastic=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s1, s2)


def test_fit_learns_separable_classes():
    centers = torch.tensor([[3.0, 0, 0, 0, 0], [0, 3.0, 0, 0, 0], [0, 0, 3.0, 0, 0]])
    y = torch.arange(90) % 3
    x = centers[y] + 0.5 * torch.randn(90, 5)
    trainer = _trainer(T=3, lr=1e-2)
    losses = trainer.fit(x, y, epochs=15, batch_size=30, generator=torch.Generator().manual_seed(0))
    assert len(losses) == 15 and losses[-1] < losses[0]
    assert (trainer.predict(x) == y).float().mean() > 0.9


def test_registered_as_a_scheme():
    (entry,) = [e for e in list_methods("noprop", kind="scheme")]
    assert entry.obj is NoPropTrainer and entry.arxiv == "2503.24322"


@pytest.mark.parametrize("kwargs, match", [
    (dict(T=0), "T .* >= 1"), (dict(T=2.5), "T .* >= 1"), (dict(T=True), "T .* >= 1"),
    (dict(embed="random"), "embed must be one of"), (dict(embed_dim=4), "embed_dim"),
    (dict(embed="learned", embed_dim=0), "embed_dim"), (dict(eta=0.0), "eta must be > 0"),
    (dict(lr=-1.0), "lr must be > 0"), (dict(weight_decay=-0.1), "weight_decay must be >= 0"),
    (dict(alpha_bar_max=1.0), r"alpha_bar_max must be in \(0, 1\)"),
])
def test_bad_settings_name_the_argument_and_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _trainer(**kwargs)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        NoPropTrainer(lambda: NoPropBlock(5, 1), 1)


def test_bad_step_inputs():
    trainer = _trainer(T=3)
    x, y = _batch()
    for t in (0, 4, 1.0):
        with pytest.raises(ValueError, match=r"t must be an int in \[1, T=3\]"):
            trainer.train_step(x, y, t)
    with pytest.raises(TypeError, match="int64 labels"):
        trainer.train_step(x, y.float(), 1)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]"):
        trainer.train_step(x, y + 1, 1)
    bad = NoPropTrainer(lambda: NoPropBlock(5, 4, embed_dim=3, width=4), 3, T=2)
    with pytest.raises(ValueError, match=r"must return logits of shape \(16, 3\)"):
        bad.train_step(x, y, 1)
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        trainer.fit(x, y, epochs=-1)
    assert math.isfinite(float(trainer.train_step(x, y, 3)))
