"""Monitor: per-layer, per-step metrics of a training loop, cheap enough to leave on.

Three lines in a hand-written loop::

    with layerwise.Monitor(model, optimizer=opt, log="runs/a") as mon:
        for i, (x, y) in enumerate(batches):
            with mon.step(i):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step(); opt.zero_grad()

or ``mon.observe(i)`` after ``loss.backward()`` instead of the ``with`` block. Statistics are
reduced on the device as tensors and copied to the host once per logged step; rows go to a
:class:`~layerwise.monitor.runlog.RunLog`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from layerwise.layers import Selector, select_layers
from layerwise.metrics import base
from layerwise.monitor.collector import StepCollector
from layerwise.monitor.distributed import current_ranks, rank_log, unwrap_model
from layerwise.monitor.hooks import HookSet
from layerwise.monitor.layout import build_layout
from layerwise.monitor.nonfinite import NonFiniteError, NonFiniteEvent
from layerwise.monitor.runlog import RunLog, exit_status


class HooksDidNotFire(RuntimeWarning):
    """A logged step passed without the Monitor's hooks firing (e.g. a torch.compile'd model)."""


def unwrap_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside wrappers (accelerate's ``AcceleratedOptimizer``, HF Trainer,
    layerwise's ``TransformedOptimizer`` and ``SkipNonfinite``, nested), whose own step hooks
    never fire: the innermost ``.optimizer`` does the stepping."""
    for _ in range(8):
        inner = getattr(optimizer, "optimizer", None)
        if inner is None or isinstance(optimizer, torch.optim.Optimizer) and not hasattr(
                inner, "register_step_pre_hook"):
            break
        optimizer = inner
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not a torch.optim.Optimizer and wraps none: "
                        "pass the torch optimizer itself (optimizer=...)")
    return optimizer


class StepScope:
    """What ``mon.step(i)`` returns: a context manager around one training step. One that is
    never entered (``mon.step(i)`` without ``with``) warns when dropped, since it records nothing."""

    def __init__(self, monitor: Monitor, i: int) -> None:
        self._monitor, self._i, self._entered = monitor, i, False

    def __enter__(self) -> Monitor:
        self._entered = True
        self._monitor._enter_step(self._i)
        return self._monitor

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._monitor._exit_step(failed=exc_type is not None)

    def __del__(self) -> None:
        if not self._entered:
            warnings.warn(f"mon.step({self._i}) was called without `with`: nothing is recorded for "
                          "that step. Write `with mon.step(i): ...` around forward and backward, or "
                          "call mon.observe(i) after backward()", RuntimeWarning, stacklevel=2)


class Monitor:
    """Attach per-layer metrics to ``model``; a context manager that owns every hook it adds.

    Args:
        model: any ``nn.Module``.
        metrics: ``"economy"`` (every-step tier), ``"business"`` (both tiers), ``"all"``, or names
            (``layerwise.list_methods(kind="metric")``).
        layers: a layer selector (see :func:`layerwise.select_layers`); default: the blocks.
        every: log every ``every``-th step.
        log: a run folder, a :class:`RunLog`, or None (rows kept in memory, see ``table()``).
        optimizer: measure ``update_ratio`` / ``eff_lr`` across its ``step()``.
        on_nonfinite: ``"raise"`` a :class:`NonFiniteError` naming the first layer, step and tensor
            with NaN/Inf, or ``"record"`` it (``events`` and a ``nonfinite_*`` row) and go on.
        loss_reduction: ``"mean"`` or ``"sum"``: how the loss reduces over the batch (noise tier).
        sync: ``"step"`` copies each logged step's statistics to the host at its end (one sync);
            ``"deferred"`` reads them one logged step later, so the host never waits for the GPU
            (needs ``on_nonfinite="record"``); ``"auto"`` defers on CUDA in record mode.
        meta: extra fields for the run's ``meta.json``.
        resume, overwrite: how to open a ``log`` folder that already holds a run (see
            :class:`RunLog`); by default such a folder is refused.
        scaler: the ``torch.amp.GradScaler`` of mixed-precision training: activation gradients
            are divided by the loss scale the backward used, and a backward overflow (which the
            scaler skips) is recorded as ``amp_overflow`` instead of raised. Parameter gradient
            statistics are read at ``optimizer.step()``, after the scaler unscaled them: pass
            ``optimizer=`` too.
        train_only: ignore forward passes of modules in eval mode (``model.eval()``), so an
            evaluation between training steps never replaces a step's statistics (the HF and
            Lightning callbacks set it).
        distributed: under ``torch.distributed`` (DDP, FSDP2 ``fully_shard``), combine each
            logged step's statistics over the ranks in one collective (activation statistics of
            the global batch, norms of whole sharded parameters, averaged scalars) and let rank 0
            write the log. ``None`` (default): whenever a group of more than one process is
            initialised; ``True``: require one; ``False``: never (each rank on its own).
        per_rank: under torch.distributed, skip the combination: every rank writes its own
            statistics to ``log/rank<r>`` and ``RunLog.read(log)`` returns them all with a
            ``rank`` column.
        update_every: measure ``update_ratio`` (a copy of the weights before the step) on every
            ``update_every``-th logged step only: its own cadence, as it costs the most.
    """

    def __init__(self, model: nn.Module, *, metrics: str | list[str] = "economy",
                 layers: Selector = None, every: int = 1, log: RunLog | str | os.PathLike | None = None,
                 optimizer: torch.optim.Optimizer | None = None, on_nonfinite: str = "raise",
                 loss_reduction: str = "mean", sync: str = "auto", meta: dict | None = None,
                 resume: bool = False, overwrite: bool = False, scaler: Any = None,
                 train_only: bool = False, distributed: bool | None = None,
                 per_rank: bool = False, update_every: int = 1) -> None:
        _check_arguments(every, on_nonfinite, loss_reduction, sync)
        if update_every < 1:
            raise ValueError(f"update_every must be a positive number of logged steps, got {update_every}")
        model = unwrap_model(model)
        refuse_compiled(model)
        ranks = current_ranks(True if per_rank and distributed is None else distributed)
        self.rank = ranks.rank if ranks is not None else 0
        self._ranks = None if per_rank else ranks
        self.model, self.every, self.on_nonfinite = model, every, on_nonfinite
        self.update_every = update_every
        self.specs = base.resolve(metrics)
        on_gpu = any(p.is_cuda for p in model.parameters())
        self.deferred = sync == "deferred" or (sync == "auto" and on_gpu and on_nonfinite == "record")
        self._pending: list = []
        self._between: list[tuple[int, dict[str, Tensor]]] = []
        self.layout = build_layout(model, select_layers(model, layers), self.specs)
        self.layers = self.layout.names
        self.events: list[NonFiniteEvent] = []
        if ranks is not None:
            meta = {**(meta or {}), "ranks": {"world": ranks.world, "per_rank": per_rank,
                                              **({"rank": ranks.rank} if per_rank else {})}}
            log = rank_log(log, ranks.rank, per_rank)
        self.log_target = self._open_log(log, model, meta, resume=resume, overwrite=overwrite)
        self._collector = StepCollector(self.layout, self.specs, loss_reduction)
        self.scaler = scaler
        self.train_only = train_only
        self._collector.scaler = scaler
        self._hooks = HookSet(self)
        self._attach()
        self.optimizer: torch.optim.Optimizer | None = None
        if optimizer is not None:
            self.watch_optimizer(optimizer)
        self._step: int | None = None
        self._next = 0
        self._active = True
        self._in_step = False
        self._stepped = False
        self._awaiting_optimizer = False
        self._context_mode = False
        self._paused = False
        self._closed = False
        self._t0 = time.perf_counter()
        self._warned_grads = False
        self._closure_step = False
        self._t_begin: float | None = None

    # -- set-up ----------------------------------------------------------------------------
    def _open_log(self, log: Any, model: nn.Module, meta: dict | None, **opening: bool) -> RunLog:
        self._owns_log = not isinstance(log, RunLog)
        if isinstance(log, RunLog):
            return log
        return RunLog(log, meta={"model": model_summary(model), **(meta or {})}, **opening)

    def _attach(self) -> None:
        owners: dict[int, tuple[nn.Linear, list[int]]] = {}  # a Linear inside nested selections
        for idx, module in enumerate(self.layout.modules):
            self._hooks.forward(module, self._on_forward, idx)
            if self._collector.wants_samples:
                for lin in self.layout.linears[idx]:
                    owners.setdefault(id(lin), (lin, []))[1].append(idx)
        for lin, idxs in owners.values():  # one hook per Linear, feeding every layer around it
            self._hooks.forward(lin, self._on_linear, tuple(idxs))
        self._write_monitor_meta()

    def _write_monitor_meta(self) -> None:
        self.log_target.update_meta(monitor={"layers": self.layers, "every": self.every,
                                             "metrics": [s.name for s in self.specs],
                                             "unmonitored": self.unmonitored,
                                             "output_range": self.layout.output_range})

    def watch_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Measure update/weight ratios and effective learning rates across ``optimizer.step()``.
        A wrapper without step hooks (accelerate's ``AcceleratedOptimizer``) is unwrapped to the
        torch optimizer inside it (``.optimizer``)."""
        if self.optimizer is not None:
            raise RuntimeError("this Monitor already watches an optimizer")
        optimizer = unwrap_optimizer(optimizer)
        self.optimizer = optimizer
        self._collector.watch(optimizer)
        self._hooks.optimizer(optimizer, self._before_opt_step, self._after_opt_step)

    @property
    def unmonitored(self) -> dict[str, str]:
        """``"layer:metric"`` -> why it is not recorded (also in the run's meta.json)."""
        return {**self.layout.unmonitored, **self._collector.unmonitored}

    # -- hooks -----------------------------------------------------------------------------
    def _recording(self) -> bool:
        # With `with mon.step(i)`, only forward passes inside the block count (an evaluation
        # between steps is not training); with observe(), every pass since the last call does.
        return (self._active and not self._closed and not self._paused
                and (self._in_step or not self._context_mode))

    def _on_forward(self, idx: int, module: nn.Module, args: Any, output: Any) -> None:
        if self._recording() and (module.training or not self.train_only):
            self._collector.forward(idx, output)

    def _on_linear(self, idxs: tuple[int, ...], module: nn.Linear, args: Any, output: Any) -> None:
        if self._recording() and self._collector.samples_due and (module.training or not self.train_only):
            self._collector.linear(idxs, module, args[0], output)

    def _optimizer_step_is_ours(self) -> bool:
        # An optimizer step belongs to the current step only after its forward pass ran; one
        # that comes earlier closes an unlogged step while the next one is provisionally armed.
        return self._active and not self._closed and self._collector.fired > 0

    def _before_opt_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        # torch passes the optimizer itself as args[0]; a closure is the callable after it
        closure = kwargs.get("closure") or next((a for a in args if callable(a)), None)
        if closure is not None and self._active and not self._closed and not self._collector.fired:
            # step(closure): forward and backward run inside the step (Lightning, LBFGS); the
            # weights are taken now, the gradients once the closure has made them
            self._closure_step = True
            self._snapshot()
        elif self._optimizer_step_is_ours():
            self._snapshot()  # first: the flat snapshot also measures the weight norms
            self._collector.grads_ready()

    def _snapshot(self) -> None:
        step = self._step if self._step is not None else self._next
        if (step // self.every) % self.update_every == 0:
            self._collector.snapshot()

    def _after_opt_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._optimizer_step_is_ours():
            if self._closure_step:
                self._closure_step = False
                self._collector.grads_ready()
            self._collector.update()
            self._stepped = True
            if self._awaiting_optimizer:
                self._finish()

    # -- the step protocol -----------------------------------------------------------------
    def step(self, i: int) -> StepScope:
        """Record step ``i``: run forward and backward (optionally ``optimizer.step()``) inside
        ``with mon.step(i):``. Calling it without ``with`` records nothing and warns."""
        return StepScope(self, int(i))

    def _enter_step(self, i: int) -> None:
        self._context_mode = True
        self._begin(i)
        self._in_step = True

    def _exit_step(self, failed: bool) -> None:
        self._in_step = False
        if failed:
            self._collector.reset()
            self._step = None
        else:
            self._close_step()

    @contextmanager
    def paused(self) -> Iterator[Monitor]:
        """Forward passes inside (an evaluation, a probe) are not recorded."""
        self._paused = True
        try:
            yield self
        finally:
            self._paused = False

    def observe(self, i: int) -> None:
        """Record step ``i`` from what the hooks saw since the last call (after ``backward()``)."""
        if self._step is None:
            self._step = int(i)
        self._close_step()

    def log(self, **scalars: Tensor | float) -> None:
        """Model-level scalars for the current step (e.g. ``loss=loss``), recorded at every step
        whatever ``every`` is; no host sync (those of unlogged steps are read at the next logged
        step, all in one copy)."""
        if self._active:
            self._collector.scalars(scalars)
        else:
            step = self._step if self._step is not None else self._next
            self._between.append((step, {k: v.detach().float().reshape(()) if isinstance(v, Tensor)
                                         else torch.tensor(float(v)) for k, v in scalars.items()}))

    def _write_between(self) -> None:
        """Scalars logged on steps between logged ones: one device-to-host copy for all of them."""
        if not self._between:
            return
        rows, self._between = self._between, []
        flat = [t for _, values in rows for t in values.values()]
        numbers = iter(torch.stack([t.to(flat[0].device) for t in flat]).tolist())
        for step, values in rows:
            self.log_target.log_scalars(step, **{k: next(numbers) for k in values})

    def log_scalars(self, step: int, **scalars: float) -> None:
        """Model-level scalars for any step (e.g. a validation loss), written now."""
        self.log_target.log_scalars(int(step), **{k: float(v) for k, v in scalars.items()})

    def _begin(self, i: int) -> None:
        self._check_open()
        if self._awaiting_optimizer or self._collector.touched:
            self._finish()  # a previous step whose optimizer.step() never came
        self._step = i
        self._active = i % self.every == 0
        self._collector.reset(samples_due=self._active)
        self._t_begin = time.perf_counter()

    def _close_step(self) -> None:
        self._check_open()
        if self.optimizer is None or self._stepped or not self._active:
            self._finish()
        else:  # optimizer.step() is still to come; its post-hook finishes the step
            self._awaiting_optimizer = True

    def _finish(self) -> None:
        step = self._step if self._step is not None else self._next
        c = self._collector
        gathered = None
        if self._active:
            c.grads_ready()
            self._warn_silent_hooks(step)
            self._warn_cleared_grads(step)
            self._timing(c)
            gathered = c.gather(step, self._ranks)
            gathered.start_copy()
        self._step, self._next = None, step + 1
        self._stepped = self._awaiting_optimizer = False
        self._active = self._next % self.every == 0
        c.reset(samples_due=self._active)
        if gathered is not None:
            self._pending.append(gathered)
            self._drain(keep=1 if self.deferred else 0)  # deferred: read the previous logged step

    def _timing(self, c: StepCollector) -> None:
        """``wall_time`` (s since the Monitor opened) and ``step_time`` (s from entering
        ``mon.step`` to the end of the step, optimizer included) as rows of the logged step."""
        now = time.perf_counter()
        c.values["wall_time"] = torch.tensor(now - self._t0)  # float32, as every gathered value
        if self._t_begin is not None:
            c.values["step_time"] = torch.tensor(now - self._t_begin)
        self._t_begin = None

    def _drain(self, keep: int = 0) -> None:
        """Write every gathered step but the newest ``keep`` to the log; raise on NaN/Inf."""
        self._write_between()
        while len(self._pending) > keep:
            gathered = self._pending.pop(0)
            rows, events = gathered.rows()
            if rows:
                layers, metrics, values = zip(*rows, strict=True)
                self.log_target.log_many(gathered.step, layers, metrics, values)
            if self.scaler is not None and any(e.direction == "backward" for e in events):
                # a loss-scale overflow: GradScaler skips this step and lowers the scale
                self.log_target.log_scalars(gathered.step, amp_overflow=1.0)
                events = [e for e in events if e.direction != "backward"]
            if events and not self.events:  # the report's banner names the first one
                e = events[0]
                self.log_target.update_meta(first_nonfinite={"step": e.step, "direction": e.direction,
                                                             "layer": e.layer, "tensor": e.tensor})
            self.events.extend(events)
            if events and self.on_nonfinite == "raise":
                self.log_target.flush()
                raise NonFiniteError(events[0])

    def _warn_cleared_grads(self, step: int) -> None:
        c = self._collector
        no_backward = c.wants_backward and not c.bwd  # told by the "no backward pass" warning
        # awaiting: optimizer.step() never came (GradScaler or SkipNonfinite skipped a non-finite
        # step), so there were no gradients to read at it; the step's other rows still record it
        skipped = self._awaiting_optimizer
        if c.grads_missing and c.fired and not no_backward and not skipped and not self._warned_grads:
            self._warned_grads = True
            warnings.warn(f"step {step}: no parameter had a gradient when the step closed, so grad_norm "
                          "is not recorded: zero_grad() ran inside the step before the Monitor read the "
                          "gradients. Pass optimizer= (they are then read before optimizer.step()) "
                          "or call zero_grad() after the with block", HooksDidNotFire, stacklevel=4)

    def _warn_silent_hooks(self, step: int) -> None:
        problem = self._collector.silence()
        if problem:
            warnings.warn(f"Monitor: at step {step} {problem}", HooksDidNotFire, stacklevel=4)

    # -- closing ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Monitor is closed; create a new one to keep recording")

    def close(self, status: str = "finished") -> None:
        """Finish a pending step, remove every hook, close the log; calling twice is harmless."""
        if self._closed:
            return
        try:
            if (self._collector.touched or self._awaiting_optimizer) and status == "finished":
                self._finish()
            self._drain()
            self._write_monitor_meta()  # with what turned out unmonitored while running
        finally:
            self._closed = True
            self._hooks.remove()
            self._collector.reset()
            if self._owns_log:
                self.log_target.close(status)
            else:
                self.log_target.flush()

    def table(self):
        """Every row recorded so far, as a ``pyarrow.Table`` (step, layer, metric, value)."""
        self._drain()
        return self.log_target.table()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exit_status(exc_type))


def refuse_compiled(model: nn.Module) -> None:
    """A model that ``torch.compile`` wrapped before the Monitor attached: its compiled code
    never calls hooks added afterwards, so the Monitor would record nothing."""
    compiled = [name or "the model" for name, m in model.named_modules()
                if type(m).__name__ == "OptimizedModule" or getattr(m, "_compiled_call_impl", None)]
    if compiled:
        raise ValueError(f"{compiled[0]} was compiled (torch.compile) before the Monitor attached; hooks "
                         "added to compiled code never fire. Create the Monitor on the uncompiled "
                         "module first, then compile: mon = Monitor(model); model = torch.compile(model)")


def _check_arguments(every: int, on_nonfinite: str, loss_reduction: str, sync: str) -> None:
    if every < 1:
        raise ValueError(f"every must be a positive number of steps, got {every}")
    if on_nonfinite not in ("raise", "record"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'record', got {on_nonfinite!r}")
    if loss_reduction not in ("mean", "sum"):
        raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
    if sync not in ("auto", "step", "deferred"):
        raise ValueError(f"sync must be 'auto', 'step' or 'deferred', got {sync!r}")
    if sync == "deferred" and on_nonfinite == "raise":
        raise ValueError("sync='deferred' reads a step one step late, too late to raise on NaN/Inf: "
                         "use on_nonfinite='record' with it")


def model_summary(model: nn.Module) -> dict[str, Any]:
    """Class, parameter counts, top-level children and activation modules (name -> count) of a
    model (for the run's meta.json; the doctor fits its remedies to the activations)."""
    from layerwise.nn.activations import activation_counts

    params = list(model.parameters())
    return {
        "class": type(model).__qualname__,
        "parameters": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "children": [f"{n}: {type(m).__name__}" for n, m in model.named_children()],
        "activations": activation_counts(model),
    }
