"""Per-layer statistics under ``torch.distributed`` (DDP, FSDP2): one collective per logged step.

Each rank sees its own micro-batch and, under FSDP2 (``fully_shard``), its own shard of every
parameter. A logged step's partial statistics are packed into one flat tensor in three segments,
``sums`` (sums of squares, sums, counts), ``maxima`` (maxima, and minima negated) and ``samples``
(entries kept for the max/median ratio), exchanged by a single ``all_gather`` and combined on every
rank: sums added, maxima of maxima, samples concatenated. Parameter statistics of replicated
parameters (DDP: gradients already all-reduced) are taken as they are; those of sharded ones
(DTensor with a ``Shard`` placement) are summed over the shards, so a norm is the full tensor's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from layerwise.metrics.activations import MEDIAN_SAMPLE, Pieces


@dataclass(frozen=True)
class Ranks:
    """The process group a Monitor reduces over: this process's ``rank`` of ``world``."""

    rank: int
    world: int
    group: object = None


def current_ranks(distributed: bool | None) -> Ranks | None:
    """The default process group when statistics should be reduced over it, else None.

    ``distributed=None`` reduces whenever a group of more than one process is initialised;
    ``True`` requires one (a clear error otherwise); ``False`` never reduces.
    """
    if distributed is False:
        return None
    import torch.distributed as dist

    ready = dist.is_available() and dist.is_initialized()
    if not ready:
        if distributed:
            raise RuntimeError("Monitor(distributed=True) needs an initialised process group: call "
                               "torch.distributed.init_process_group(...) before creating the Monitor")
        return None
    world = dist.get_world_size()
    return Ranks(dist.get_rank(), world) if world > 1 or distributed else None


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside ``DistributedDataParallel`` / ``DataParallel`` (layer names then carry no
    ``module.`` prefix). A model wrapped twice is refused: its gradients would be reduced twice."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    if not isinstance(model, wrappers):
        return model
    inner = model.module
    if isinstance(inner, wrappers):
        raise ValueError(f"the model is wrapped twice ({type(model).__name__} around "
                         f"{type(inner).__name__}): wrap it once, and pass that model to the Monitor")
    return inner


def local(t: Tensor) -> Tensor:
    """The local shard of a DTensor (a view that the optimizer updates in place), else ``t``."""
    return t.to_local() if _is_dtensor(t) else t


def is_sharded(t: Tensor) -> bool:
    """Whether ``t`` is a DTensor split over ranks (FSDP2), so that its norms need every shard."""
    return _is_dtensor(t) and any(p.is_shard() for p in t.placements)


def _is_dtensor(t: Tensor) -> bool:
    return type(t).__name__ == "DTensor" and hasattr(t, "to_local")


@dataclass
class Exchange:
    """Partial statistics of one logged step, combined over ranks in one ``all_gather``.

    ``add_sum``, ``add_max`` and ``add_samples`` queue a tensor and return a slot; after
    ``run()``, ``get(slot)`` is the combined tensor (same shape; samples: ranks side by side
    along a new leading axis).
    """

    ranks: Ranks
    _parts: list[tuple[str, Tensor]] = field(default_factory=list)
    _done: list[Tensor] = field(default_factory=list)

    def add_sum(self, t: Tensor) -> int:
        return self._add("sum", t)

    def add_max(self, t: Tensor) -> int:
        return self._add("max", t)

    def add_samples(self, t: Tensor) -> int:
        return self._add("cat", t)

    def _add(self, how: str, t: Tensor) -> int:
        self._parts.append((how, t))
        return len(self._parts) - 1

    def run(self) -> None:
        """The one collective: every rank must queue the same shapes in the same order."""
        import torch.distributed as dist

        if not self._parts:
            return
        flat = torch.cat([t.detach().double().reshape(-1) for _, t in self._parts])
        gathered = [torch.empty_like(flat) for _ in range(self.ranks.world)]
        dist.all_gather(gathered, flat, group=self.ranks.group)
        table = torch.stack(gathered)  # (world, n)
        offset = 0
        for how, t in self._parts:
            block = table[:, offset:offset + t.numel()].reshape(self.ranks.world, *t.shape)
            offset += t.numel()
            combined = block.sum(0) if how == "sum" else block.amax(0) if how == "max" else block
            self._done.append(combined.to(t.dtype))

    def get(self, slot: int) -> Tensor:
        return self._done[slot]


@dataclass
class StepParts:
    """A logged step's statistics before they become rows: activation ``batches`` (layer rows,
    metric names, :class:`Pieces`), activation-gradient norms ``bwd`` (in ``bwd_order``), the
    noise tier's per-layer estimates, per-parameter squared norms ``param_sq`` (``grad``,
    ``weight``, ``delta``), per-layer ones from the flat snapshot ``layer_sq``, and scalars."""

    batches: list[tuple[list[int], tuple[str, ...], Pieces]]
    bwd: Tensor | None
    noise: dict[tuple[int, str], Tensor]
    param_sq: dict[str, Tensor]
    layer_sq: dict[str, Tensor]
    values: dict[str, Tensor]


MAX_SCALARS = ("wall_time", "step_time")  # the slowest rank's; every other scalar is averaged


def combine_ranks(parts: StepParts, ranks: Ranks, sharded: Tensor | None, mean_loss: bool) -> StepParts:
    """``parts`` combined over every rank in one collective: activation sums of squares, sums and
    sizes added, maxima and minima of all, the max/median samples pooled; activation-gradient
    norms as the norm over all ranks' samples (divided by the world size for a mean loss, as
    DDP averages); noise estimates and scalars averaged, times the slowest; sharded parameters'
    squared norms summed over their shards (``sharded``: 1 where a parameter is split)."""
    ex = Exchange(ranks)
    queued_batches = [_queue_pieces(ex, p) for _, _, p in parts.batches]
    bwd = ex.add_sum(parts.bwd.double() ** 2) if parts.bwd is not None else None
    noise = {k: ex.add_sum(v) for k, v in parts.noise.items()}
    param = {k: ex.add_sum(v * sharded) for k, v in parts.param_sq.items()} if sharded is not None else {}
    values = {k: (ex.add_max if k in MAX_SCALARS else ex.add_sum)(v) for k, v in parts.values.items()}
    ex.run()
    world = ranks.world
    param_sq = dict(parts.param_sq)
    for k, slot in param.items():
        param_sq[k] = ex.get(slot) + parts.param_sq[k] * (1 - sharded)
    return StepParts(
        batches=[(members, names, _combined_pieces(ex, p, slots))
                 for (members, names, p), slots in zip(parts.batches, queued_batches, strict=True)],
        bwd=(ex.get(bwd).sqrt() / (world if mean_loss else 1)).float() if bwd is not None else None,
        noise={k: ex.get(slot) / world for k, slot in noise.items()},
        param_sq=param_sq, layer_sq=parts.layer_sq,
        values={k: ex.get(slot) / (1 if k in MAX_SCALARS else world) for k, slot in values.items()},
    )


def _queue_pieces(ex: Exchange, p: Pieces) -> tuple[int, ...]:
    numel = torch.tensor(p.numel, dtype=torch.float64, device=p.l2.device)
    slots = (ex.add_sum(p.l2.double() ** 2), ex.add_sum(p.unit_sum), ex.add_sum(numel),
             ex.add_max(p.unit_max), ex.add_max(-p.minimum))
    if p.sample is None:
        return slots
    # one width on every rank (a strided sample never exceeds it); padding zeros are not in the median
    sample = torch.nn.functional.pad(p.sample, (0, 2 * MEDIAN_SAMPLE - p.sample.shape[1]))
    return (*slots, ex.add_samples(sample))


def _combined_pieces(ex: Exchange, p: Pieces, slots: tuple[int, ...]) -> Pieces:
    l2_sq, unit_sum, numel, unit_max, neg_min = (ex.get(s) for s in slots[:5])
    sample = None
    if len(slots) > 5:
        pooled = ex.get(slots[5])  # (world, layers, width)
        sample = pooled.permute(1, 0, 2).reshape(pooled.shape[1], -1)
    return Pieces(l2_sq.sqrt().to(p.l2.dtype), unit_sum, unit_max, -neg_min,
                  tuple(int(n) for n in numel.tolist()), p.units, sample)


def rank_log(log: Any, rank: int, per_rank: bool) -> Any:
    """Where this rank writes: its own ``log/rank<r>`` folder (``per_rank``), the shared log on
    rank 0, nothing on the other ranks (their rows are kept in memory, never written)."""
    if per_rank:
        if log is None or hasattr(log, "log_many"):
            raise ValueError("per_rank=True needs log= to be a folder path (each rank writes "
                             "log/rank<r>); pass a path instead of a RunLog or None")
        return Path(log) / f"rank{rank}"
    return log if rank == 0 else None
