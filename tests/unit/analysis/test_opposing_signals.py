"""OpposingSignals: loss changes against a naive loop, top set, sign groups, rows in a RunLog."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from layerwise import Monitor, RunLog
from layerwise.analysis import OpposingSignals, sign_groups, top_hessian_eigenvalue


def _setup(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    return model, torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def _train(model, x, y, probe, steps, lr=0.5):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for i in range(steps):
        F.cross_entropy(model(x), y).backward()
        with probe.step(i):
            opt.step()
        opt.zero_grad()


def _naive_losses(model, x, y):
    with torch.no_grad():
        return torch.stack([F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]) for i in range(len(x))])


def test_loss_changes_and_top_set_equal_a_naive_before_after_loop():
    model, x, y = _setup()
    twin = copy.deepcopy(model)
    probe = OpposingSignals(model, x, y, k=4)
    _train(model, x, y, probe, steps=3)
    opt = torch.optim.SGD(twin.parameters(), lr=0.5)
    for record in probe.history:
        before = _naive_losses(twin, x, y)
        F.cross_entropy(twin(x), y).backward()
        opt.step()
        opt.zero_grad()
        after = _naive_losses(twin, x, y)
        assert torch.allclose(record.delta, after - before, atol=1e-6)
        assert torch.allclose(record.loss, after, atol=1e-6)
        assert record.top.tolist() == (after - before).abs().topk(4).indices.tolist()
    first, second = (set(r.top.tolist()) for r in probe.history[:2])
    assert probe.history[1].scalars["top_jaccard"] == pytest.approx(len(first & second) / len(first | second))
    assert "top_jaccard" not in probe.history[0].scalars
    assert [r.step for r in probe.history] == [0, 1, 2]


def test_every_skips_steps_and_does_not_reuse_stale_losses():
    model, x, y = _setup()
    twin = copy.deepcopy(model)
    probe = OpposingSignals(model, x, y, k=3, every=2)
    _train(model, x, y, probe, steps=4)
    assert [r.step for r in probe.history] == [0, 2]
    opt = torch.optim.SGD(twin.parameters(), lr=0.5)
    for _ in range(2):  # steps 0 and 1 unmeasured by the twin
        F.cross_entropy(twin(x), y).backward()
        opt.step()
        opt.zero_grad()
    before = _naive_losses(twin, x, y)
    F.cross_entropy(twin(x), y).backward()
    opt.step()
    assert torch.allclose(probe.history[1].delta, _naive_losses(twin, x, y) - before, atol=1e-6)


def test_sign_groups_split_opposite_gradients():
    u = torch.tensor([1.0, 2.0, 0.0, -1.0], dtype=torch.float64)
    w = torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    rows = torch.stack([-2 * u, u + 0.1 * w, -u + 0.1 * w, 3 * u, -0.5 * u])
    groups, cross = sign_groups(rows)
    assert groups.tolist() == [1.0, -1.0, 1.0, -1.0, 1.0]  # the first row's group is +1
    assert -1.0 <= cross < -0.98
    groups, cross = sign_groups(torch.stack([u, 2 * u]))
    assert groups.tolist() == [1.0, 1.0] and math.isnan(cross)


def test_constructed_regression_groups_follow_the_residual_sign():
    """Squared error of a linear model: the input gradient is 2 (w.x - y) w, so the examples
    the model over-predicts and those it under-predicts form the two opposite groups."""
    model = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    x = torch.eye(3).repeat(2, 1) * torch.arange(1.0, 7.0)[:, None]
    y = torch.tensor([10.0, -9.0, 8.0, -20.0, 30.0, 0.0])
    probe = OpposingSignals(model, x, y, k=6, loss_fn=lambda out, t: (out[:, 0] - t) ** 2)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    F.mse_loss(model(x)[:, 0], y).backward()
    with probe.step(0):
        opt.step()
    record = probe.history[0]
    with torch.no_grad():
        over = (model(x)[:, 0] > y)[record.top]  # after the step: the sign of the residual
    plus = record.groups > 0
    assert torch.equal(plus, over) or torch.equal(plus, ~over)
    assert plus[0]  # the largest |delta| defines the + group
    assert record.scalars["top_cross_cos"] < 0


def test_grad_share_is_each_layers_share_of_the_top_sets_gradient():
    model, x, y = _setup()
    probe = OpposingSignals(model, x, y, k=5)
    _train(model, x, y, probe, steps=1)
    record = probe.history[0]
    model.zero_grad()
    F.cross_entropy(model(x[record.top]), y[record.top], reduction="sum").backward()
    sq = {name: sum(float(p.grad.pow(2).sum()) for p in m.parameters()) for name, m in
          (("0", model[0]), ("2", model[2]))}
    total = sum(sq.values())
    assert record.grad_share == pytest.approx({k: v / total for k, v in sq.items()}, rel=1e-5)


def test_rows_land_in_a_runlog_and_through_a_monitor(tmp_path):
    model, x, y = _setup()
    log = RunLog()
    probe = OpposingSignals(model, x, y, k=4, log=log, sharpness_every=2)
    _train(model, x, y, probe, steps=3)
    table = log.table().to_pylist()
    scalars = {(r["step"], r["metric"]) for r in table if r["layer"] == ""}
    for metric in ("delta_loss_abs", "subset_loss", "top_delta_share", "top_group_balance"):
        assert {(s, metric) for s in range(3)} <= scalars
    assert {(s, m) for s, m in scalars if m == "sharpness"} == {(0, "sharpness"), (2, "sharpness")}
    layers = {r["layer"] for r in table if r["metric"] == "top_grad_share"}
    assert layers == {"0", "2"}
    shares = [r["value"] for r in table if r["metric"] == "top_grad_share" and r["step"] == 1]
    assert sum(shares) == pytest.approx(1.0)
    reading = next(r["value"] for r in table if r["metric"] == "sharpness" and r["step"] == 2)
    exact = top_hessian_eigenvalue(lambda: F.cross_entropy(model(x), y), model, iters=500, tol=1e-9).value
    assert reading == pytest.approx(exact, rel=2e-2)  # 20 warm-started products, tol 1e-3
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with Monitor(model, log=tmp_path / "run", metrics=["grad_norm"], optimizer=opt) as mon:
        probe = OpposingSignals(model, x, y, k=4, log=mon)
        for i in range(2):
            with mon.step(i):
                F.cross_entropy(model(x), y).backward()
            with probe.step(i):
                opt.step()
            opt.zero_grad()
    rows = RunLog.read(tmp_path / "run").to_pylist()
    assert {"grad_norm", "top_group_balance", "top_grad_share"} <= {r["metric"] for r in rows}
    assert {r["step"] for r in rows if r["metric"] == "delta_loss_abs"} == {0, 1}


def test_share_in_top_and_sample():
    model, x, y = _setup(n=30)
    probe = OpposingSignals.sample(model, x, y, size=10, seed=3, k=2)
    assert probe.subset is not None and len(probe.subset) == 10 and torch.equal(probe.x, x[probe.subset])
    _train(model, x, y, probe, steps=3)
    mask = torch.zeros(10, dtype=torch.bool)
    mask[probe.history[-1].top[0]] = True
    expected = sum(float(mask[r.top].float().mean()) for r in probe.history[1:]) / 2
    assert probe.share_in_top(mask, start=1) == pytest.approx(expected)
    assert math.isnan(probe.share_in_top(mask, start=99))


def test_bad_input_names_the_argument():
    model, x, y = _setup(n=6)
    with pytest.raises(ValueError, match="empty"):
        OpposingSignals(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="size"):
        OpposingSignals.sample(model, x, y, size=7)
    for k in (0, 7):
        with pytest.raises(ValueError, match="k must"):
            OpposingSignals(model, x, y, k=k)
    with pytest.raises(ValueError, match="model"):
        OpposingSignals(nn.ReLU(), x, y, k=2)
    with pytest.raises(ValueError, match="every"):
        OpposingSignals(model, x, y, k=2, every=0)
    with pytest.raises(ValueError, match="same length"):
        OpposingSignals(model, x, y[:5], k=2)
    with pytest.raises(TypeError, match="log"):
        OpposingSignals(model, x, y, k=2, log="run")
    probe = OpposingSignals(model, x, y, k=2, loss_fn=lambda out, t: F.cross_entropy(out, t))
    with pytest.raises(ValueError, match="loss_fn"), probe.step(0):
        pass
    with pytest.raises(ValueError, match="mask"):
        OpposingSignals(model, x, y, k=2).share_in_top(torch.ones(3, dtype=torch.bool))
