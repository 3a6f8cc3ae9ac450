"""A training recipe the doctor can re-run: what ``--verify`` and the fault benchmark train.

A *recipe* is a function ``recipe(seed) -> Setup`` (importable as ``"module:function"``): it builds
a fresh model, optimizer and data stream from the seed alone, so two calls with one seed train the
same run. :func:`train` runs a setup under a Monitor (economy tier, loss logged) and returns its
target metric: the held-out loss at the end, lower is better; a run whose loss went non-finite
stops there and scores ``inf``, unless its optimizer skips such steps (``skips_nonfinite``, as
:class:`layerwise.transforms.SkipNonfinite` does). A model with layerwise attention also gets a
:class:`layerwise.analysis.TransformerProbe` on the held-out inputs every ``probe_every`` steps,
so the attention, rank-collapse and depth rules have rows to read. A ``loss_fn`` that returns a
mapping of named losses trains on their sum and logs their per-layer gradient conflict every
``probe_every`` steps (:func:`layerwise.doctor._conflict.log_conflict`). The batches of a
``skip_batches`` window are skipped, a rewind-and-skip of the batches around a loss spike, and the
run keeps its step count, as PaLM did by training on the data after them; a recipe's data ends
with its run, so each step of a window of ``n`` steps trains on the batch of the step ``n``
before it instead (``n`` after it, in the first ``n`` steps of the run).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from layerwise.doctor._conflict import log_conflict, total
from layerwise.multiloss.grads import aggregate_backward

Batch = tuple[Tensor, Tensor]


@dataclass
class Setup:
    """One seeded run: ``batch(step)`` gives the step's (inputs, targets); ``loss_fn(out, y)`` a
    loss or a mapping of named losses; ``before_step(step,
    setup)``, if given, runs first at every step (an injected fault or a schedule); ``held_out``
    is the batch the target metric is measured on; ``aggregator`` (a layerwise.multiloss
    aggregator: PCGrad, SAM-GS, ...) combines the per-loss gradients of a multi-loss recipe
    instead of summing them; ``checkpoint_every`` makes :func:`train` save checkpoints that
    :func:`layerwise.doctor._checkpoint.restore` reads back (``verify(..., restart="checkpoint")``);
    the batches of the steps ``skip_batches = (start, stop)`` covers (``start`` .. ``stop - 1``)
    are replaced by others (:func:`batch_of`)."""

    model: nn.Module
    optimizer: Any  # a torch optimizer, or a TransformedOptimizer once a remedy wrapped it
    batch: Callable[[int], Batch]
    loss_fn: Callable[[Tensor, Tensor], Tensor | Mapping[str, Tensor]]
    steps: int
    held_out: Batch
    before_step: Callable[[int, Setup], None] | None = None
    probe_every: int = 10
    aggregator: Callable[[Tensor], Tensor] | None = None  # per-loss gradients (K, P) -> one (P,)
    checkpoint_every: int | None = None  # save model and optimizer state every k steps
    skip_batches: tuple[int, int] | None = None  # steps start .. stop - 1 train on other batches


def load_recipe(target: str) -> Callable[[int], Setup]:
    """The recipe function named ``"package.module:function"``."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"recipe {target!r} must name a function as 'package.module:function'")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"recipe {target!r} cannot be imported: {err}") from err
    if not callable(fn):
        raise ValueError(f"recipe {target!r} is not a function of the seed")
    return fn


def held_out_loss(setup: Setup) -> float:
    """The loss on ``setup.held_out`` in eval mode (``inf`` when it is not finite)."""
    model = setup.model
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x, y = setup.held_out
        value = float(total(setup.loss_fn(model(x), y)))
    model.train(was_training)
    return value if math.isfinite(value) else math.inf


def train(setup: Setup, log: str | Path, *, meta: dict | None = None, start: int = 0) -> float:
    """Train ``setup`` under a Monitor writing to ``log`` from step ``start`` (0, or the step of
    a checkpoint ``restore`` loaded into it); the held-out loss at the end."""
    from layerwise import Monitor
    from layerwise.doctor._checkpoint import save_checkpoint
    from layerwise.monitor.monitor import unwrap_optimizer

    opt = setup.optimizer
    probe, several = _probe(setup), False
    if not 0 <= start < setup.steps:
        raise ValueError(f"start must be a step in 0..{setup.steps - 1}, got {start}")
    with Monitor(setup.model, optimizer=unwrap_optimizer(opt), log=log, on_nonfinite="record",
                 overwrite=True, meta=meta) as mon:
        for step in range(start, setup.steps):
            if setup.before_step is not None:
                setup.before_step(step, setup)
            if probe is not None:
                probe.log(step, mon)
            several, finite = _step(setup, opt, mon, step, several)
            if not finite:
                return math.inf  # diverged (a guard such as SkipNonfinite skips the step instead)
            if setup.checkpoint_every and (step + 1) % setup.checkpoint_every == 0 and step + 1 < setup.steps:
                save_checkpoint(setup, Path(log), step + 1)
    return held_out_loss(setup)


def batch_of(step: int, skip: tuple[int, int] | None) -> int:
    """The step whose batch ``step`` trains on: itself, or, inside a skipped window of ``n``
    steps, the step ``n`` before it (``n`` after it where that is before the run's start)."""
    if skip is None or not skip[0] <= step < skip[1]:
        return step
    n = skip[1] - skip[0]
    return step - n if step >= n else step + n


def _step(setup: Setup, opt, mon, step: int, several: bool) -> tuple[bool, bool]:
    """One monitored training step of ``opt`` on the step's batch: (several named losses, the
    loss is finite or the optimizer skips non-finite steps); a diverged step is not taken."""
    model = setup.model
    x, y = setup.batch(batch_of(step, setup.skip_batches))
    if several and step % setup.probe_every == 0:
        _conflict(mon, setup, x, y, step)
    with mon.step(step):
        value = setup.loss_fn(model(x), y)
        several, loss = isinstance(value, Mapping) and len(value) > 1, total(value)
        if several and setup.aggregator is not None:
            aggregate_backward(list(value.values()), model, setup.aggregator)
        else:
            loss.backward()
        mon.log(loss=loss)
    if not math.isfinite(float(loss.detach())) and not getattr(opt, "skips_nonfinite", False):
        return several, False
    opt.step()
    opt.zero_grad()
    return several, True


def _conflict(mon, setup: Setup, x: Tensor, y: Tensor, step: int) -> None:
    """Conflict rows of a multi-loss recipe on this step's batch, from a forward pass of its own
    that the Monitor does not record (from the first probe step after step 0 on)."""
    with mon.paused():
        losses = setup.loss_fn(setup.model(x), y)
        log_conflict(mon, setup.model, losses, step, setup.aggregator)
    setup.model.zero_grad(set_to_none=True)


def _probe(setup: Setup):
    """A transformer probe on (up to 16 of) the held-out inputs, or None for other models."""
    from layerwise.analysis import TransformerProbe

    try:
        return TransformerProbe(setup.model, setup.held_out[0][:16], every=setup.probe_every)
    except ValueError:
        return None
