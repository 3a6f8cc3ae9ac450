"""apply(prescription, setup): each remedy changes what it says and nothing else."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerwise.doctor import Prescription as P
from layerwise.doctor._remedies import NotApplicable, apply
from layerwise.doctor._setup import Setup
from layerwise.models import MLP


def fresh():
    torch.manual_seed(0)
    model = MLP(in_dim=4, out_dim=2, depth=3, width=8)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def apply_to(p, model, opt):
    """The optimizer to train ``model`` with once ``p`` is applied to a setup holding both."""
    setup = Setup(model, opt, batch=None, loss_fn=None, steps=0, held_out=None)
    apply(p, setup)
    return setup.optimizer


def step(model, opt):
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    opt.zero_grad()


def test_learning_rate_scales_every_step_even_after_a_schedule_rewrites_the_rate():
    import copy

    from layerwise.transforms import ScaledLR

    model, opt = fresh()
    reference = copy.deepcopy(model)
    scaled = apply_to(P("learning_rate", {"factor": 0.3}, ""), model, opt)
    assert isinstance(scaled, ScaledLR) and scaled.optimizer is opt and scaled.factor == 0.3
    opt.param_groups[0]["lr"] = 0.2  # a schedule's write after the remedy: still scaled, to 0.06
    torch.manual_seed(1)
    step(model, scaled)
    torch.manual_seed(1)
    step(reference, torch.optim.SGD(reference.parameters(), lr=0.06))
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert opt.param_groups[0]["lr"] == 0.2


def test_learning_rate_refuses_to_scale_a_zero_rate():
    model, opt = fresh()
    opt.param_groups[0]["lr"] = 0.0
    with pytest.raises(NotApplicable, match="learning rate is 0"):
        apply_to(P("learning_rate", {"factor": 3.0}, ""), model, opt)


def test_skip_nonfinite_guards_the_optimizer_and_the_buffers():
    model, opt = fresh()
    guarded = apply_to(P("skip_nonfinite", {}, ""), model, opt)
    assert guarded.optimizer is opt and guarded.skips_nonfinite
    before = [q.clone() for q in model.parameters()]
    nan_batch = torch.full((4, 4), float("nan"))
    nn.functional.cross_entropy(model(nan_batch), torch.zeros(4, dtype=torch.long)).backward()
    assert guarded.step() is False
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_init_redraws_kaiming_weights_and_zero_biases():
    model, opt = fresh()
    before = [m.weight.clone() for m in model.modules() if isinstance(m, nn.Linear)]
    apply_to(P("init", {"scheme": "kaiming"}, ""), model, opt)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert all(not torch.equal(m.weight, b) for m, b in zip(linears, before, strict=True))
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in linears)
    w = linears[1].weight  # 8 x 8, std sqrt(2 / 8) = 0.5 in expectation
    assert 0.3 < float(w.detach().std()) < 0.7


def test_init_resets_norm_gains_shifts_and_running_statistics():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.LayerNorm(12))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with torch.no_grad():
        model[1].weight.zero_(), model[1].bias.fill_(-2.0), model[1].running_var.fill_(9.0)
        model[4].weight.fill_(5.0)
    apply_to(P("init", {"scheme": "kaiming"}, ""), model, opt)
    bn, ln = model[1], model[4]
    assert torch.equal(bn.weight, torch.ones(3)) and torch.equal(bn.bias, torch.zeros(3))
    assert torch.equal(bn.running_var, torch.ones(3)) and int(bn.num_batches_tracked) == 0
    assert torch.equal(ln.weight, torch.ones(12))


def test_init_xavier_uses_glorots_scale():
    model, opt = fresh()
    apply_to(P("init", {"scheme": "xavier"}, ""), model, opt)
    w = model.blocks[1].linear.weight.detach()  # 8 x 8: std sqrt(2 / (8 + 8)) = 0.354
    assert 0.2 < float(w.std()) < 0.5
    with pytest.raises(NotApplicable, match="not one of"):
        apply_to(P("init", {"scheme": "lecun"}, ""), model, opt)


def test_replace_activations_and_insert_norm_edit_the_model():
    model, opt = fresh()
    apply_to(P("replace_activations", {"old": "relu", "new_factory": "elu"}, ""), model, opt)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    assert sum(isinstance(m, nn.ELU) for m in model.modules()) == 3
    n_before = sum(len(g["params"]) for g in opt.param_groups)
    apply_to(P("insert_norm_before_activations", {"norm": "layer"}, ""), model, opt)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 3  # one before each activation, and the optimizer trains them
    assert sum(len(g["params"]) for g in opt.param_groups) == n_before + 2 * len(norms)


def test_clip_per_layer_bounds_every_tensor_step():
    model, opt = fresh()
    wrapped = apply_to(P("clip_per_layer", {"C": 1e-3, "mode": "per_tensor"}, ""), model, opt)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    wrapped.step()
    for n, p in model.named_parameters():  # SGD step = lr x clipped gradient, norm <= 0.1 x 1e-3
        assert float((p.detach() - before[n]).norm()) <= 1e-4 * 1.001  # float32 rounding of w - w0


def test_project_to_init_norm_restores_weight_norms_after_each_step():
    model, opt = fresh()
    wrapped = apply_to(P("project_to_init_norm", {}, ""), model, opt)
    norms = {n: float(p.detach().norm()) for n, p in model.named_parameters() if p.dim() >= 2}
    for _ in range(3):
        step(model, wrapped)
    for n, p in model.named_parameters():
        if p.dim() >= 2:
            assert float(p.detach().norm()) == pytest.approx(norms[n], rel=1e-5)


def test_what_cannot_be_applied_says_why():
    model, opt = fresh()
    with pytest.raises(NotApplicable, match="by hand"):
        apply_to(P("layernorm_scaling", {}, ""), model, opt)
    with pytest.raises(NotApplicable, match="no tanh activation"):
        apply_to(P("replace_activations", {"old": "tanh", "new_factory": "elu"}, ""), model, opt)
    with pytest.raises(NotApplicable, match="no Linear or conv"):
        apply_to(P("init", {}, ""), nn.Sequential(nn.ReLU()), opt)
    model.blocks[0].linear = nn.Linear(4, 8)  # replaced after the optimizer was built: 2 stale tensors
    with pytest.raises(NotApplicable, match="holds 2 parameter"):
        apply_to(P("clip_per_layer", {"C": 1.0, "mode": "per_tensor"}, ""), model, opt)


def test_transformer_edits_join_the_optimizer():
    from layerwise.models import GPT

    torch.manual_seed(0)
    model = GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(list(model.parameters()))
    assert apply_to(P("qk_norm", {}, ""), model, opt) is opt
    assert len(opt.param_groups) == 2 and len(opt.param_groups[1]["params"]) == 2 * 2 * 2
    apply_to(P("norm_placement", {"placement": "peri"}, ""), model, opt)
    held = sum(len(g["params"]) for g in opt.param_groups)
    assert held == len(list(model.parameters())) > n + 8  # every new gain and bias is trained
    with pytest.raises(NotApplicable, match="does not fit this model"):
        apply_to(P("qk_norm", {}, ""), *fresh())


def test_pcgrad_combines_the_per_loss_gradients_of_a_multi_loss_recipe(tmp_path):
    import copy

    from torch.nn import functional as F

    from layerwise.doctor import train
    from layerwise.multiloss import PCGrad, per_loss_grads

    torch.manual_seed(0)
    model = MLP(in_dim=4, out_dim=2, depth=2, width=8)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))

    def losses(out, t):  # two objectives that disagree: the labels and their flip
        return {"a": F.cross_entropy(out, t), "b": F.cross_entropy(out, 1 - t)}

    ref = copy.deepcopy(model)
    setup = Setup(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda _: (x, y), losses, 1, (x, y))
    apply(P("pcgrad", {}, ""), setup)
    train(setup, tmp_path / "run")
    out = ref(x)  # by hand: one SGD step along PCGrad of the two per-loss gradients
    g = PCGrad()(per_loss_grads([F.cross_entropy(out, y), F.cross_entropy(out, 1 - y)], ref))
    start = torch.cat([p.detach().flatten() for p in ref.parameters()])
    expected = start - 0.1 * g
    assert torch.allclose(torch.cat([p.detach().flatten() for p in model.parameters()]), expected, atol=1e-6)
    out = ref(x)
    summed = start - 0.1 * per_loss_grads([F.cross_entropy(out, y), F.cross_entropy(out, 1 - y)], ref).sum(0)
    assert not torch.allclose(expected, summed, atol=1e-4)  # the projection changed the step


def test_with_an_aggregator_the_run_logs_each_losss_cosine_with_the_applied_update(tmp_path):
    from torch.nn import functional as F

    from layerwise.doctor import load, train
    from layerwise.multiloss import PCGrad, per_loss_grads

    torch.manual_seed(0)
    model = MLP(in_dim=4, out_dim=2, depth=2, width=8)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))

    def losses(out, t):
        return {"a": F.cross_entropy(out, t), "b": 0.5 * F.cross_entropy(out, 1 - t)}

    setup = Setup(model, torch.optim.SGD(model.parameters(), lr=0.0), lambda _: (x, y), losses, 11, (x, y),
                  probe_every=10)
    apply(P("pcgrad", {}, ""), setup)
    train(setup, tmp_path / "run")  # lr 0: the weights at step 10 are the initial ones
    rows = load(tmp_path / "run").metrics["cos_update_min"]
    out = model(x)  # by hand: per-loss gradients over every parameter, PCGrad, cosines per block
    grads = per_loss_grads(list(losses(out, y).values()), model)
    update = PCGrad()(grads)
    sizes = [(name, p.numel()) for name, p in model.named_parameters()]
    starts = torch.tensor([0] + [n for _, n in sizes]).cumsum(0).tolist()
    for i in range(2):
        cols = torch.cat([torch.arange(a, a + n) for (name, n), a in zip(sizes, starts, strict=False)
                          if name.startswith(f"blocks.{i}.")])
        g, u = grads[:, cols], update[cols]
        expected = float((g @ u / (g.norm(dim=1) * u.norm())).min())
        assert rows.values[-1, rows.layers.index(f"blocks.{i}")] == pytest.approx(expected, abs=1e-5)
    assert rows.steps.tolist() == [10]


def test_skip_batches_trains_on_other_batches_in_the_window_and_keeps_the_step_count(tmp_path):
    from layerwise.doctor._setup import batch_of, train

    assert [batch_of(s, (6, 9)) for s in range(5, 10)] == [5, 3, 4, 5, 9]  # 3 steps back inside
    assert [batch_of(s, (1, 4)) for s in range(0, 5)] == [0, 4, 5, 0, 4]  # forward where back is < 0
    for start, stop in [(0, 3), (1, 4), (2, 6), (10, 12)]:  # never a batch of the window itself
        assert all(not start <= batch_of(s, (start, stop)) < stop for s in range(start, stop))
    assert [batch_of(s, None) for s in range(3)] == [0, 1, 2]
    model, opt = fresh()
    drawn = []

    def batch(step):
        drawn.append(step)
        g = torch.Generator().manual_seed(step)
        return torch.randn(8, 4, generator=g), torch.randint(0, 2, (8,), generator=g)

    setup = Setup(model, opt, batch, nn.functional.cross_entropy, 12, batch(99))
    apply(P("skip_batches", {"start": 5, "stop": 8}, ""), setup)
    drawn.clear()
    train(setup, tmp_path / "run")
    assert setup.skip_batches == (5, 8) and drawn == [0, 1, 2, 3, 4, 2, 3, 4, 8, 9, 10, 11]


@pytest.mark.parametrize(("settings", "why"), [
    ({}, "needs the window"), ({"start": 20, "stop": 25}, "not inside"),
    ({"start": 3, "stop": 2}, "not inside"), ({"start": 2, "stop": 9}, "too long")])
def test_skip_batches_refuses_a_window_it_cannot_replay(settings, why):
    setup = Setup(*fresh(), batch=None, loss_fn=None, steps=12, held_out=None)
    with pytest.raises(NotApplicable, match=why):
        apply(P("skip_batches", settings, ""), setup)


def test_skip_batches_takes_every_window_it_can_replay():
    from layerwise.doctor._setup import batch_of

    setup = Setup(*fresh(), batch=None, loss_fn=None, steps=12, held_out=None)
    apply(P("skip_batches", {"start": 3, "stop": 8}, ""), setup)  # steps 3, 4 forward, 5-7 back
    assert [batch_of(s, setup.skip_batches) for s in range(3, 8)] == [8, 9, 0, 1, 2]
