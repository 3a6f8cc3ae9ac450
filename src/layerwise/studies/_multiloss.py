"""Shared pieces of the multi-loss studies (samgs-toy, gcond, pinn-helmholtz, mtl-digits).

* ``ConflictLog``: writes, for every logged step, the per-layer pairwise cosine and gradient-
  magnitude similarity of the per-loss gradients (``layerwise.multiloss.conflict_rows``) and each
  layer's running conflict frequency (``ConflictCounter``: share of steps so far with cos < 0)
  into a ``RunLog``, so the report draws layer x step conflict heatmaps. Conflict diagnostics
  follow "Gradient Surgery for Multi-Task Learning" (Yu et al., 2020, arXiv 2001.06782).
* ``Recording``: wraps an aggregator so that each (K, P) matrix it sees is logged first.
* ``aggregator_for``: the aggregator behind a name ("sum", "pcgrad", "samgs", "mgda").

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.monitor import RunLog
    >>> from layerwise.multiloss import ParamLayout
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    >>> clog = ConflictLog(RunLog(), ParamLayout.from_module(net), ("a", "b"))
    >>> clog.record(0, torch.randn(2, 13))
    >>> sorted(clog.frequency()), 0.0 <= clog.mean_frequency() <= 1.0
    (['0', '1'], True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import Tensor

from layerwise.monitor import RunLog
from layerwise.multiloss import MGDA, SAMGS, ConflictCounter, ParamLayout, PCGrad, conflict_rows

Aggregate = Callable[[Tensor], Tensor]


class ConflictLog:
    """Per-layer conflict rows of (K, P) per-loss gradients into ``log`` every ``every`` steps.

    ``layout`` names the columns (``None``: one whole-model layer called ``"model"``); the
    conflict counter sees every recorded matrix, logged or not.
    """

    def __init__(self, log: RunLog, layout: ParamLayout | None, task_names: Sequence[str], *,
                 every: int = 1, threshold: float = 0.0) -> None:
        self.log, self.layout, self.every = log, layout, max(1, every)
        self.task_names = tuple(task_names)
        self.counter = ConflictCounter(threshold=threshold)

    def split(self, grads: Tensor) -> dict[str, Tensor]:
        return self.layout.split(grads) if self.layout is not None else {"model": grads}

    def record(self, step: int, grads: Tensor, **scalars: float) -> None:
        """Count conflicts of ``grads`` (K, P); on logged steps write the rows and ``scalars``."""
        by_layer = self.split(grads.detach())
        self.counter.update(by_layer)
        if step % self.every:
            return
        rows = conflict_rows(by_layer, task_names=self.task_names)
        if len(self.task_names) == 2:  # one pair: cos_min and gms_mean repeat its cos and gms
            rows = [r for r in rows if r[1] not in ("cos_min", "gms_mean")]
        rows += self.counter.rows()
        layers, metrics, values = zip(*rows, strict=True)
        self.log.log_many(step, layers, metrics, values)
        if scalars:
            self.log.log_scalars(step, **scalars)

    def frequency(self) -> dict[str, float]:
        """Share of recorded steps on which each layer had a pair with cos < threshold."""
        return self.counter.frequency()

    def mean_frequency(self) -> float:
        """The conflict frequency averaged over layers (NaN before anything was recorded)."""
        freq = self.frequency()
        return sum(freq.values()) / len(freq) if freq else math.nan


class Recording:
    """An aggregator that hands each (K, P) matrix to a ``ConflictLog`` before aggregating it."""

    def __init__(self, aggregate: Aggregate, clog: ConflictLog) -> None:
        self.aggregate, self.clog, self.calls = aggregate, clog, 0

    def __call__(self, grads: Tensor) -> Tensor:
        self.clog.record(self.calls, grads)
        self.calls += 1
        return self.aggregate(grads)

    @property
    def last_stats(self) -> dict:
        return getattr(self.aggregate, "last_stats", {})


def summed(grads: Tensor) -> Tensor:
    """Linear scalarisation: the plain sum of the per-loss gradients."""
    return grads.sum(0)


def aggregator_for(name: str, *, seed: int = 0, gamma: float = 0.7,
                   beta2: float = 0.99) -> Callable[[], Aggregate]:
    """Factory of the aggregator called ``name``: sum/ls, pcgrad, samgs (``gamma``, ``beta2``) or
    mgda."""
    factories: dict[str, Callable[[], Aggregate]] = {
        "sum": lambda: summed, "ls": lambda: summed, "pcgrad": lambda: PCGrad(seed=seed),
        "samgs": lambda: SAMGS(gamma=gamma, beta2=beta2), "mgda": MGDA,
    }
    if name not in factories:
        raise ValueError(f"unknown aggregator {name!r}; use one of {', '.join(factories)}")
    return factories[name]
