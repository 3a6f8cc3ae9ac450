"""The Monitor with torch.compile: attached before compiling, it records what eager records, with
no graph break counted by dynamo and no recompile after the first steps; attached after, it
refuses."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters
from torch.nn import functional as F

from layerwise import Monitor
from layerwise.models import MLP

STEPS = 20


def train(backend: str | None, every: int = 1, **kwargs) -> tuple[dict, list[int]]:
    """Rows of ``STEPS`` SGD steps, and dynamo's count of compiled graphs after each step."""
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = MLP(in_dim=8, out_dim=3, depth=3, width=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    graphs = []
    with Monitor(model, optimizer=opt, every=every, **kwargs) as mon:
        run = torch.compile(model, backend=backend) if backend else model
        for i in range(STEPS):
            g = torch.Generator().manual_seed(i)
            x, y = torch.randn(16, 8, generator=g), torch.randint(0, 3, (16,), generator=g)
            with mon.step(i):
                loss = F.cross_entropy(run(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()
            graphs.append(counters["stats"]["unique_graphs"])
        table = mon.table()
    columns = (table[c].to_pylist() for c in ("step", "layer", "metric", "value"))
    return {(s, layer, m): v for s, layer, m, v in zip(*columns, strict=True)}, graphs


@pytest.fixture(scope="module")
def eager():
    return train(None)[0]


@pytest.mark.parametrize("every", [1, 3])
def test_compiled_records_what_eager_records(eager, every):
    compiled, graphs = train("aot_eager", every)
    reference = {k: v for k, v in eager.items() if k[0] % every == 0 or k[2] == "loss"}
    assert set(compiled) == set(reference)
    assert {m for _, _, m in compiled} >= {"act_rms", "act_mean", "act_max", "act_grad_norm",
                                            "grad_norm", "weight_norm", "update_ratio", "loss"}
    for key, value in reference.items():
        if key[2] not in ("wall_time", "step_time"):
            assert compiled[key] == pytest.approx(value, rel=1e-4, abs=1e-7), key
    assert sum(counters["graph_break"].values()) == 0
    # the hooks run eagerly, outside the graphs: no recompile once the first steps compiled
    assert graphs[-1] > 0 and graphs[2 * every] == graphs[-1]


def test_a_model_compiled_before_the_monitor_is_refused():
    model = MLP(in_dim=8, out_dim=3, depth=2, width=8)
    with pytest.raises(ValueError, match="compiled .* before the Monitor attached"):
        Monitor(torch.compile(model, backend="eager"))
    model.blocks[0].compile(backend="eager")  # nn.Module.compile works in place
    with pytest.raises(ValueError, match="blocks.0 was compiled"):
        Monitor(model)


def test_update_ratio_has_its_own_cadence(eager):
    rows, _ = train(None, every=1, update_every=4)
    steps = {s for s, _, m in rows if m == "update_ratio"}
    assert steps == set(range(0, STEPS, 4))
    for key in rows:  # the other metrics keep their own cadence and values
        if key[2] not in ("wall_time", "step_time"):
            assert rows[key] == pytest.approx(eager[key], rel=1e-6)
    assert {s for s, _, m in rows if m == "grad_norm"} == set(range(STEPS))
    with pytest.raises(ValueError, match="update_every"):
        Monitor(MLP(in_dim=8, out_dim=3, depth=2, width=8), update_every=0)
