import io

import pytest
import torch
from torch import nn

from layerwise.transforms import (
    GradientTransform,
    TransformedOptimizer,
    add_noise,
    chain,
    clip_per_layer,
    identity,
    stateless,
)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def _loss(model, seed):
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(8, 3, generator=gen), torch.randn(8, 1, generator=gen)
    return (model(x) - y).pow(2).mean()


def _train(model, opt, steps, start=0):
    for s in range(start, start + steps):
        opt.zero_grad()
        _loss(model, s).backward()
        opt.step()


def test_step_transforms_grads_then_steps_then_runs_hooks():
    model = _model()
    calls = []

    def record(grads, params):
        calls.append(("transform", {n: g.clone() for n, g in grads.items()}))
        return {n: g * 0 + 1.0 for n, g in grads.items()}  # every gradient becomes ones

    opt = TransformedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.5), stateless(record, "ones"), model.named_parameters()
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt.add_post_step_hook(lambda o: calls.append(("hook1", o.steps)))
    handle = opt.add_post_step_hook(lambda o: calls.append(("hook2", o.steps)))
    _loss(model, 0).backward()
    opt.step()
    assert [c[0] for c in calls] == ["transform", "hook1", "hook2"]
    assert calls[1][1] == 1
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[n] - 0.5)  # the SGD step used the new grads
        assert torch.equal(p.grad, torch.ones_like(p))
    handle.remove()
    opt.step()
    assert [c[0] for c in calls][-2:] == ["transform", "hook1"]


def test_params_without_grad_are_skipped_and_exposes_torch_api():
    model = _model()
    model[2].weight.requires_grad_(False)
    seen = []
    t = stateless(lambda g, p: seen.append(sorted(g)) or dict(g), "spy")
    opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), t, model.named_parameters())
    _loss(model, 0).backward()
    opt.step()
    assert seen == [["0.bias", "0.weight", "2.bias"]]
    assert opt.param_groups is opt.optimizer.param_groups and opt.state is opt.optimizer.state
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert "SGD" in repr(opt)


def test_closure_is_evaluated_once_with_grad():
    model = _model()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    opt = TransformedOptimizer(sgd, identity(), model.named_parameters())

    def closure():
        opt.zero_grad()
        loss = _loss(model, 0)
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss is not None and loss.item() > 0


def test_every_parameter_must_be_named():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no name"):
        TransformedOptimizer(opt, identity(), list(model.named_parameters())[:2])
    extra = nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="not held"):
        TransformedOptimizer(opt, identity(), [*model.named_parameters(), ("extra", extra)])
    with pytest.raises(ValueError, match="twice"):
        TransformedOptimizer(opt, identity(), [("a", extra), ("a", extra)])


def test_transform_must_return_the_same_names():
    model = _model()
    drop = stateless(lambda g, p: {k: v for k, v in g.items() if k != "0.bias"}, "drop")
    opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), drop, model.named_parameters())
    _loss(model, 0).backward()
    with pytest.raises(RuntimeError, match="other parameters"):
        opt.step()


def _noisy_adam(model):
    transform = chain(clip_per_layer(C=0.5, mode="uniform"), add_noise(eta=0.05, seed=7))
    adam = torch.optim.Adam(model.parameters(), lr=0.01)
    return TransformedOptimizer(adam, transform, model.named_parameters())


def test_state_dict_round_trip_covers_optimizer_and_transform():
    model = _model()
    opt = _noisy_adam(model)
    _train(model, opt, 2)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    _train(model, opt, 3, start=2)
    first = [p.detach().clone() for p in model.parameters()]
    assert opt.transform_state[1]["t"] == 5 and opt.steps == 5

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    assert opt.transform_state[1]["t"] == 2 and opt.steps == 2
    _train(model, opt, 3, start=2)
    for a, b in zip(first, model.parameters(), strict=True):
        assert torch.equal(a, b)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)  # torch's load_state_dict aliases the Adam moments
    fresh_model = _model()
    fresh = _noisy_adam(fresh_model)  # a new process: fresh objects, same checkpoint
    fresh_model.load_state_dict(saved["model"])
    fresh.load_state_dict(saved["opt"])
    _train(fresh_model, fresh, 3, start=2)
    for a, b in zip(first, fresh_model.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(KeyError, match="missing"):
        fresh.load_state_dict(saved["opt"]["optimizer"])


def test_state_dict_is_a_copy():
    def init(params):
        return {"seen": torch.zeros(1)}

    def update(grads, state, params):
        return dict(grads), {"seen": state["seen"] + 1}

    model = _model()
    opt = TransformedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), GradientTransform(init, update), model.named_parameters()
    )
    sd = opt.state_dict()
    _train(model, opt, 2)
    assert sd["transform"]["seen"].item() == 0 and opt.transform_state["seen"].item() == 2
