"""The Monitor under torch.distributed: 2 gloo processes on the CPU against one process that sees
the whole global batch (DDP and FSDP2 ``fully_shard``), per-rank logs, and bad input."""

from __future__ import annotations

import os

import pyarrow.compute as pc
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn import functional as F

from layerwise import Monitor
from layerwise.monitor.distributed import current_ranks, unwrap_model
from layerwise.monitor.runlog import RunLog

METRICS = ["act_rms", "act_mean", "act_max", "dead_fraction", "bias_shift", "act_grad_norm",
           "grad_norm", "weight_norm", "update_ratio", "eff_lr"]
WORLD, STEPS = 2, 3


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(n_in, 16), nn.ReLU()) for n_in in (6, 16, 16))
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(STEPS)]


def rows(table) -> dict:
    """{(step, layer, metric): value} of a RunLog table."""
    columns = (table[c].to_pylist() for c in ("step", "layer", "metric", "value"))
    return {(s, layer, m): v for s, layer, m, v in zip(*columns, strict=True)}


def train(model: nn.Module, rank: int | None, **monitor_kwargs) -> dict:
    """``STEPS`` SGD steps; rank ``r`` sees its half of each global batch (None: all of it)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with Monitor(model, metrics=METRICS, layers=["blocks.*", "head"], optimizer=opt,
                 **monitor_kwargs) as mon:
        for i, (x, y) in enumerate(batches()):
            if rank is not None:
                x, y = x.chunk(WORLD)[rank], y.chunk(WORLD)[rank]
            with mon.step(i):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()
        return rows(mon.table())


def _worker(rank: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=WORLD)
    from torch.distributed.fsdp import fully_shard
    from torch.nn.parallel import DistributedDataParallel

    results = {}
    torch.manual_seed(0)
    results["ddp"] = train(DistributedDataParallel(Net()), rank, log=f"{out}/ddp")
    torch.manual_seed(0)
    net = Net()
    for block in net.blocks:
        fully_shard(block)
    fully_shard(net)
    results["fsdp"] = train(net, rank)
    torch.manual_seed(0)
    results["per_rank"] = train(DistributedDataParallel(Net()), rank, log=f"{out}/per_rank", per_rank=True)
    try:
        DistributedDataParallel(DistributedDataParallel(Net()))
        Monitor(DistributedDataParallel(DistributedDataParallel(Net())))
    except ValueError as e:
        results["twice"] = str(e)
    torch.save(results, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(str(out / "init"), str(out)), nprocs=WORLD, join=True)
    return out, [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.fixture(scope="module")
def single():
    torch.manual_seed(0)
    return train(Net(), None)


def _close(got: dict, want: dict, rel: float = 1e-5) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        if key[2] in ("wall_time", "step_time"):
            continue
        assert got[key] == pytest.approx(value, rel=rel, abs=1e-7), key


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_every_rank_sees_the_global_batch_statistics(ranks_out, single, mode):
    _, results = ranks_out
    metrics = {m for _, _, m in single}
    assert set(METRICS) <= metrics  # every metric was recorded in the reference
    for result in results:  # combined on every rank, equal to one process on the global batch
        _close(result[mode], single)


def test_layer_names_have_no_ddp_prefix(ranks_out, single):
    _, results = ranks_out
    layers = {layer for _, layer, _ in results[0]["ddp"]}
    assert layers == {"", "blocks.0", "blocks.1", "blocks.2", "head"}


def test_rank_zero_writes_the_run_and_nobody_else(ranks_out, single):
    out, results = ranks_out
    table = RunLog.read(out / "ddp")
    _close(rows(table), single)
    assert len(table) == len(single)  # exactly one copy of each row: rank 1 wrote nothing
    assert RunLog.read_meta(out / "ddp")["ranks"] == {"world": 2, "per_rank": False}


def test_per_rank_logs_keep_a_rank_column(ranks_out, single):
    out, results = ranks_out
    table = RunLog.read(out / "per_rank")
    assert sorted(set(table["rank"].to_pylist())) == [0, 1]
    for rank in range(WORLD):
        mine = table.filter(pc.equal(table["rank"], rank))
        _close(rows(mine), results[rank]["per_rank"])
    # the ranks saw different halves of the batch: their activation statistics differ
    key = (0, "blocks.0", "act_rms")
    assert results[0]["per_rank"][key] != pytest.approx(results[1]["per_rank"][key], rel=1e-3)


def test_a_model_wrapped_twice_is_refused(ranks_out):
    _, results = ranks_out
    assert "wrapped twice" in results[0]["twice"]


def test_distributed_without_a_process_group_says_what_to_do():
    assert not (dist.is_available() and dist.is_initialized())
    with pytest.raises(RuntimeError, match="init_process_group"):
        current_ranks(True)
    assert current_ranks(None) is None
    with pytest.raises(RuntimeError, match="init_process_group"):
        Monitor(Net(), distributed=True)
    with pytest.raises(RuntimeError, match="init_process_group"):
        Monitor(Net(), per_rank=True, log=os.devnull)
    assert unwrap_model(Net()).__class__ is Net
