"""The step protocol: context manager, observe(), optimizer hooks, cadence, warnings."""

import gc
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from layerwise import HooksDidNotFire, Monitor
from layerwise.monitor.hooks import hook_counts

TIMING = {"wall_time", "step_time"}  # clock readings differ between runs by nature


def rows(mon):
    return {(r["step"], r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()
            if r["metric"] not in TIMING}


def train(mlp, batch, mon, steps, *, style):
    x, y = batch
    opt = mon.optimizer
    for i in range(steps):
        if style == "context-outside":
            with mon.step(i):
                F.cross_entropy(mlp(x), y).backward()
            opt.step()
        elif style == "context-inside":
            with mon.step(i):
                F.cross_entropy(mlp(x), y).backward()
                opt.step()
        elif style == "observe-before":
            F.cross_entropy(mlp(x), y).backward()
            mon.observe(i)
            opt.step()
        else:  # observe after the optimizer step
            F.cross_entropy(mlp(x), y).backward()
            opt.step()
            mon.observe(i)
        opt.zero_grad()


@pytest.mark.parametrize("style", ["context-inside", "observe-before", "observe-after"])
def test_every_loop_style_records_the_same_numbers(style, batch):
    from tests.unit.monitor.conftest import TinyMLP

    results = []
    for s in ("context-outside", style):
        torch.manual_seed(0)
        model = TinyMLP()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with Monitor(model, optimizer=opt) as mon:
            train(model, batch, mon, 3, style=s)
            results.append(rows(mon))
    assert results[0].keys() == results[1].keys()
    assert any(k[2] == "update_ratio" for k in results[0])
    for key, value in results[0].items():
        assert results[1][key] == pytest.approx(value, rel=1e-6), key


def test_every_n_logs_only_multiples(mlp, batch):
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    with Monitor(mlp, every=3, optimizer=opt) as mon:
        train(mlp, batch, mon, 7, style="context-outside")
        steps = {k[0] for k in rows(mon)}
    assert steps == {0, 3, 6}


def test_pending_step_without_optimizer_step_is_still_written(mlp, batch):
    x, y = batch
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    mon = Monitor(mlp, optimizer=opt)
    with mon.step(0):
        F.cross_entropy(mlp(x), y).backward()
    mon.close()  # the optimizer never stepped
    got = rows(mon)
    assert (0, "blocks.0", "grad_norm") in got
    assert (0, "blocks.0", "update_ratio") not in got


def test_no_forward_in_a_step_warns_loudly(mlp):
    with Monitor(mlp) as mon, pytest.warns(HooksDidNotFire, match="no forward hook fired"), mon.step(0):
        pass


def test_missing_backward_warns(mlp, batch):
    with Monitor(mlp) as mon, pytest.warns(HooksDidNotFire, match="no backward pass"), mon.step(0):
        mlp(batch[0])


def test_close_removes_every_hook_and_twice_is_harmless(mlp, batch):
    before = hook_counts(mlp)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    mon = Monitor(mlp, metrics="all", optimizer=opt)
    assert hook_counts(mlp) > before
    assert len(opt._optimizer_step_pre_hooks) == 1
    mon.close()
    mon.close()
    assert hook_counts(mlp) == before == 0
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    with pytest.raises(RuntimeError, match="closed"), mon.step(1):
        pass


def test_exception_inside_with_removes_hooks(mlp, batch, tmp_path):
    with pytest.raises(ValueError, match="boom"), Monitor(mlp, log=tmp_path / "run") as mon:
        with mon.step(0):
            mlp(batch[0]).sum().backward()
        raise ValueError("boom")
    assert hook_counts(mlp) == 0
    from layerwise import RunLog

    assert RunLog.read_meta(tmp_path / "run")["status"] == "failed"
    assert RunLog.read(tmp_path / "run").num_rows > 0  # data before the crash survives


def test_garbage_collected_monitor_leaves_no_hook(mlp):
    Monitor(mlp, metrics="all")
    gc.collect()
    assert hook_counts(mlp) == 0


def test_integer_and_complex_outputs_are_reported_not_crashing():
    class Tok(torch.nn.Module):
        def forward(self, x):
            return (x > 0).long()

    class Cplx(torch.nn.Module):
        def forward(self, x):
            return torch.complex(x.float(), x.float())

    model = torch.nn.Sequential(Tok(), Cplx())
    with Monitor(model, metrics=["act_rms"]) as mon, warnings.catch_warnings():
        warnings.simplefilter("ignore", HooksDidNotFire)
        with mon.step(0):
            model(torch.randn(3, 2).float())
    assert "int64" in mon.unmonitored["0:activations"]
    assert "complex" in mon.unmonitored["1:activations"]


def test_bad_arguments_are_refused_with_a_reason(mlp):
    with pytest.raises(ValueError, match="every must be"):
        Monitor(mlp, every=0)
    with pytest.raises(ValueError, match="unknown metric"):
        Monitor(mlp, metrics=["act_rsm"])
    with pytest.raises(ValueError, match="on_nonfinite"):
        Monitor(mlp, on_nonfinite="ignore")
    with pytest.raises(LookupError, match="blocks.0"):
        Monitor(mlp, layers="block.0")


def test_memory_stays_flat_over_2000_steps(tmp_path):
    import resource

    from tests.unit.monitor.conftest import TinyMLP

    model = TinyMLP(depth=3, width=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))

    def live_tensors():
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter))

    with Monitor(model, metrics="all", optimizer=opt, log=tmp_path / "r") as mon:
        mon.log_target.flush_every = 100
        for i in range(2000):
            with mon.step(i):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()
            if i == 200:
                tensors, rss = live_tensors(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert live_tensors() <= tensors
        growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
        assert growth_kb < 30_000, f"peak RSS grew by {growth_kb} kB over 1,800 steps"


def test_hooks_silenced_by_torch_compile_are_reported():
    """Hooks added after torch.compile's first call do not fire: the Monitor must say so."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    compiled = torch.compile(model, backend="eager")
    x = torch.randn(3, 4)
    compiled(x).sum().backward()
    with Monitor(model) as mon, pytest.warns(HooksDidNotFire, match="torch.compile"), mon.step(0):
        compiled(x).sum().backward()
    # parameter metrics (read from .grad, not from hooks) are still recorded
    assert {r["metric"] for r in mon.table().to_pylist()} - TIMING == {"grad_norm", "weight_norm"}


def test_deferred_sync_writes_the_same_rows_one_step_late(batch):
    from tests.unit.monitor.conftest import TinyMLP

    tables = []
    for sync in ("step", "deferred"):
        torch.manual_seed(0)
        model = TinyMLP()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with Monitor(model, optimizer=opt, sync=sync, on_nonfinite="record") as mon:
            train(model, batch, mon, 3, style="context-outside")
            if sync == "deferred":
                assert max(r["step"] for r in mon.log_target.table().to_pylist()) == 1  # step 2 pending
            tables.append(rows(mon))
    assert tables[0] == tables[1]
    with pytest.raises(ValueError, match="too late to raise"):
        Monitor(TinyMLP(), sync="deferred")


def test_evaluation_between_steps_is_not_recorded(mlp, batch):
    x, y = batch
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    with Monitor(mlp, optimizer=opt) as mon:
        for i in range(2):
            with mon.step(i):
                F.cross_entropy(mlp(x), y).backward()
            opt.step()
            opt.zero_grad()
            with torch.no_grad():
                mlp(x * 100)  # an evaluation pass with a very different scale
        got = rows(mon)
    assert {k[0] for k in got} == {0, 1}  # no phantom step 2 from the evaluation
    assert got[(1, "blocks.0", "act_max")] < 50


def test_paused_hides_passes_in_observe_mode(mlp, batch):
    x, y = batch
    with Monitor(mlp) as mon:
        with mon.paused():
            mlp(x * 100)
        F.cross_entropy(mlp(x), y).backward()
        mon.observe(0)
        got = rows(mon)
    assert got[(0, "blocks.0", "act_max")] < 50


def test_logged_steps_carry_wall_time_and_step_time(batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Monitor(model, metrics=["grad_norm"], optimizer=opt, every=2) as mon:
        for step in range(5):
            with mon.step(step):
                nn.functional.cross_entropy(model(batch[0]), batch[1]).backward()
            opt.step()
            opt.zero_grad()
        got = [r for r in mon.table().to_pylist() if r["metric"] in TIMING]
    wall = [r["value"] for r in got if r["metric"] == "wall_time"]
    steps = [r["step"] for r in got if r["metric"] == "step_time"]
    assert steps == [0, 2, 4] and all(r["layer"] == "" for r in got)
    assert wall == sorted(wall) and wall[0] >= 0
    assert all(0 <= r["value"] <= w for r, w in zip([g for g in got if g["metric"] == "step_time"], wall,
                                                     strict=True))


def test_step_without_with_warns_that_nothing_is_recorded():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    with Monitor(model) as mon:
        with pytest.warns(RuntimeWarning, match=r"mon.step\(4\) was called without `with`"):
            mon.step(4)
            gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with mon.step(5):
                model(torch.randn(2, 3)).sum().backward()


@pytest.mark.parametrize("style", ["context", "observe"])
def test_loss_is_recorded_at_every_step_whatever_the_cadence(style):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    losses = []
    with Monitor(model, metrics=["grad_norm"], every=3) as mon:
        for step in range(7):
            if style == "context":
                with mon.step(step):
                    loss = model(torch.randn(4, 3)).pow(2).mean()
                    loss.backward()
                    mon.log(loss=loss)
            else:
                loss = model(torch.randn(4, 3)).pow(2).mean()
                loss.backward()
                mon.log(loss=loss)
                mon.observe(step)
            losses.append(loss.item())
        rows = mon.table().to_pylist()
    got = {r["step"]: r["value"] for r in rows if r["metric"] == "loss"}
    assert sorted(got) == list(range(7))
    assert [got[i] for i in range(7)] == pytest.approx(losses, rel=1e-6)
    assert sorted({r["step"] for r in rows if r["metric"] == "grad_norm"}) == [0, 3, 6]


def test_gradients_cleared_inside_the_step_are_missing_with_a_warning_not_zero():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Monitor(model, metrics=["grad_norm"]) as mon:  # no optimizer=
        with pytest.warns(HooksDidNotFire, match="zero_grad\\(\\) ran inside the step"), mon.step(0):
            model(torch.randn(2, 3)).sum().backward()
            opt.step()
            opt.zero_grad()
        values = [r["value"] for r in mon.table().to_pylist() if r["metric"] == "grad_norm"]
    assert values == []  # missing, never a false 0.0
    half = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    with Monitor(half, metrics=["grad_norm"]) as mon:
        with mon.step(0):
            half[1](torch.randn(2, 4)).sum().backward()  # only layer 1 takes part
        got = {r["layer"]: r["value"] for r in mon.table().to_pylist() if r["metric"] == "grad_norm"}
    assert set(got) == {"1"} and got["1"] > 0


def test_optimizer_step_with_a_closure_records_what_a_plain_step_records(batch):
    """Lightning and LBFGS run forward and backward inside optimizer.step(closure)."""
    def run(closure_style):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        with Monitor(model, metrics=["grad_norm", "weight_norm", "update_ratio"], optimizer=opt) as mon:
            for step in range(3):
                def closure():
                    opt.zero_grad()
                    loss = F.cross_entropy(model(batch[0]), batch[1])
                    loss.backward()
                    return loss
                if closure_style:
                    opt.step(closure)
                    mon.observe(step)
                else:
                    closure()
                    mon.observe(step)  # finishes at the optimizer's post-hook
                    opt.step()
            return rows(mon)

    plain, closure = run(False), run(True)
    assert plain.keys() == closure.keys() and any(k[2] == "update_ratio" for k in plain)
    assert all(closure[k] == pytest.approx(plain[k], rel=1e-6) for k in plain)
