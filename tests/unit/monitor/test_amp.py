"""Mixed precision: statistics with a GradScaler equal those without it; overflows are recorded."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from layerwise import Monitor


def _run(scaler_scale: float | None, steps: int = 2):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=scaler_scale) if scaler_scale else None
    g = torch.Generator().manual_seed(1)
    with Monitor(model, optimizer=opt, scaler=scaler) as mon:
        for step in range(steps):
            x, y = torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
            with mon.step(step):
                loss = F.cross_entropy(model(x), y)
                (scaler.scale(loss) if scaler else loss).backward()
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            opt.zero_grad()
        return {(r["step"], r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist()
                if r["metric"] not in ("wall_time", "step_time")}


def test_statistics_under_a_grad_scaler_equal_the_unscaled_run():
    plain, scaled = _run(None), _run(65536.0)
    act = [k for k in plain if k[2] == "act_grad_norm"]
    assert act and all(scaled[k] == pytest.approx(plain[k], rel=1e-5) for k in act)
    for metric in ("grad_norm", "update_ratio", "act_rms"):
        keys = [k for k in plain if k[2] == metric]
        assert keys and all(scaled[k] == pytest.approx(plain[k], rel=1e-5) for k in keys), metric


def test_an_overflow_the_scaler_skips_is_recorded_not_raised():
    rows = _run(1e38, steps=3)  # the first steps overflow; GradScaler halves the scale and skips
    overflow = sorted(k[0] for k in rows if k[2] == "amp_overflow")
    assert overflow and overflow[0] == 0


def test_wrapped_optimizers_are_unwrapped_or_refused():
    class Wrapper:  # what accelerate's AcceleratedOptimizer looks like to the Monitor
        def __init__(self, inner):
            self.optimizer = inner

    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    inner = torch.optim.SGD(model.parameters(), lr=0.1)
    with Monitor(model, optimizer=Wrapper(inner)) as mon:
        assert mon.optimizer is inner
    with pytest.raises(TypeError, match="wraps none"):
        Monitor(model, optimizer=object())
