"""RLCP's pieces: the reversed probe gradient, the KL anchor, the frozen copy, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from layerwise.data import IGNORE_INDEX
from layerwise.models import GPT
from layerwise.train import DualStreamTrainer, GradientReversalProbe
from layerwise.train.rlcp import _scored, gradient_ascent_loss, kl_to_reference, unlikelihood_loss
from layerwise.transforms import dann_lambda


def _gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(n_layer=2, d_model=16, n_head=2, seq_len=4, vocab_size=11)


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 11, (6, 3), generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


def _naive_probe_grads(model, probe, x, y):
    """The same probe loss with no reversal, by hand: plain hooks, heads on the raw states."""
    states = {}
    modules = dict(model.named_modules())
    handles = [modules[n].register_forward_hook(lambda _m, _i, o, n=n: states.__setitem__(n, o))
               for n in probe.layers]
    model(x)
    for h in handles:
        h.remove()
    pairs = zip(probe.layers, probe.heads, strict=True)
    loss = sum(F.cross_entropy(head(states[n][:, -1]), y) for n, head in pairs)
    params = list(model.parameters()) + list(probe.heads.parameters())
    return torch.autograd.grad(loss, params, allow_unused=True)


@pytest.mark.parametrize("lam", [0.5, 2.0])
def test_probe_gradient_reaches_the_model_reversed_and_scaled_exactly(lam):
    model = _gpt()
    probe = GradientReversalProbe(model, ["blocks.0"], num_classes=3, dim=16, lam=lam)
    x, y = _batch()
    naive = _naive_probe_grads(model, probe, x, y)
    loss, _ = probe.loss(x, y)
    params = list(model.parameters()) + list(probe.heads.parameters())
    got = torch.autograd.grad(loss, params, allow_unused=True)
    names = [n for n, _ in model.named_parameters()] + ["head.weight", "head.bias"]
    checked = 0
    for name, g, ref in zip(names, got, naive, strict=True):
        if name.startswith("head"):  # the probe itself descends its loss: not reversed
            torch.testing.assert_close(g, ref, rtol=0, atol=0)
        elif ref is None or name.startswith(("blocks.1", "ln_f")):  # above the probed layer: nothing
            assert g is None or g.abs().max() == 0
        else:
            torch.testing.assert_close(g, -lam * ref, rtol=1e-6, atol=1e-9)
            checked += ref.abs().sum() > 0
    assert checked >= 5  # embeddings and block 0's weights did receive a gradient


def test_scheduled_lambda_follows_progress_and_a_negative_schedule_is_refused():
    model = _gpt()
    probe = GradientReversalProbe(model, ["blocks.1"], num_classes=3, dim=16, lam=dann_lambda)
    probe.grl.progress = 0.5
    assert probe.grl.current_lambda == pytest.approx(dann_lambda(0.5))
    bad = GradientReversalProbe(model, ["blocks.1"], num_classes=3, dim=16, lam=lambda p: -1.0)
    with pytest.raises(ValueError, match="lam"):
        bad.loss(*_batch())


def test_kl_is_zero_for_the_frozen_copy_and_matches_the_definition_otherwise():
    model = _gpt()
    trainer = DualStreamTrainer(model, gradient_ascent_loss)
    x, _ = _batch()
    ce, kl = trainer.retain_loss(x, torch.randint(0, 11, (6,)))
    assert kl.item() == 0.0 and ce.item() > 0
    a, b = torch.randn(5, 11), torch.randn(5, 11)
    naive = (a.softmax(-1) * (a.log_softmax(-1) - b.log_softmax(-1))).sum(-1).mean()
    torch.testing.assert_close(kl_to_reference(a, b), naive)
    torch.testing.assert_close(kl_to_reference(a, b),
                               F.kl_div(b.log_softmax(-1), a.log_softmax(-1), log_target=True,
                                        reduction="batchmean"))


def test_step_updates_model_and_probe_and_never_the_frozen_copy():
    model = _gpt()
    probe = GradientReversalProbe(model, ["blocks.1"], num_classes=3, dim=16)
    trainer = DualStreamTrainer(model, probe, kl_weight=1.0, lr=1e-2, probe_lr=1e-1)
    ref_before = {k: v.clone() for k, v in trainer.ref_model.state_dict().items()}
    head_before = probe.heads[0].weight.detach().clone()
    x, y = _batch()
    retain = [(x, torch.randint(0, 11, (6,))), (x, torch.full((6, 3), IGNORE_INDEX))]
    retain[1][1][:, 1] = 4
    losses = trainer.step((x, y), retain)
    assert losses["kl"] == 0.0 and losses["forget"] > 0
    assert all(p.grad is None and not p.requires_grad for p in trainer.ref_model.parameters())
    for k, v in trainer.ref_model.state_dict().items():
        assert torch.equal(v, ref_before[k])
    assert not torch.equal(model.tok_emb.weight, trainer.ref_model.tok_emb.weight)
    assert not torch.equal(probe.heads[0].weight, head_before)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-2, 1e-1]
    assert trainer.step((x, y), retain)["kl"] > 0  # the model has moved away from its copy


def test_output_level_baselines_match_their_formulas():
    model = _gpt()
    x, _ = _batch()
    y = torch.tensor([3, 4, 5, 6, 7, 8])
    logp = model(x)[:, -1].log_softmax(-1)[torch.arange(6), y]
    torch.testing.assert_close(gradient_ascent_loss(model, x, y), logp.mean())
    torch.testing.assert_close(unlikelihood_loss(model, x, y), -torch.log(1 - logp.exp()).mean())


def test_scored_positions():
    logits = torch.randn(2, 3, 5)
    rows, target = _scored(logits, torch.tensor([1, 2]))
    assert torch.equal(rows, logits[:, -1]) and target.tolist() == [1, 2]
    y = torch.tensor([[IGNORE_INDEX, 3, IGNORE_INDEX], [4, IGNORE_INDEX, IGNORE_INDEX]])
    rows, target = _scored(logits, y)
    assert torch.equal(rows, torch.stack([logits[0, 1], logits[1, 0]])) and target.tolist() == [3, 4]


def test_bad_input_is_refused_with_the_valid_choices():
    model = _gpt()
    with pytest.raises(ValueError, match=r"'blocks\.7' does not exist.*blocks\.0, blocks\.1"):
        GradientReversalProbe(model, ["blocks.7"], num_classes=3, dim=16)
    with pytest.raises(ValueError, match="non-empty"):
        GradientReversalProbe(model, [], num_classes=3, dim=16)
    for lam in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="lam"):
            GradientReversalProbe(model, ["blocks.0"], num_classes=3, dim=16, lam=lam)
    for kw in ({"kl_weight": -1.0}, {"lr": 0.0}, {"probe_lr": math.nan}, {"forget_weight": math.inf}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            DualStreamTrainer(model, gradient_ascent_loss, **kw)
    trainer = DualStreamTrainer(model, gradient_ascent_loss)
    x, _ = _batch()
    with pytest.raises(ValueError, match="forget batch is empty"):
        trainer.step((x[:0], torch.zeros(0, dtype=torch.long)), [(x, torch.zeros(6, dtype=torch.long))])
