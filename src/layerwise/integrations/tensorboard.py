"""Export a RunLog to TensorBoard event files (``layerwise export tensorboard RUN_DIR``).

Model-level scalars keep their name (``loss``); per-layer rows become ``metric/layer`` tags
(``grad_norm/blocks.3``), so TensorBoard groups every layer of a metric on one card. Each event
carries the step and, where the Monitor logged ``wall_time``, the wall-clock time of that step.
Needs the ``tensorboard`` package (``pip install layerwise[tb]``).
"""

from __future__ import annotations

import calendar
import math
import time
from pathlib import Path

import numpy as np

from layerwise.monitor.runlog import RunLog


def export_tensorboard(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the rows of ``run_dir`` as TensorBoard scalars under ``out`` (default
    ``RUN_DIR/tensorboard``); returns the folder to point ``tensorboard --logdir`` at."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:  # torch raises this when the tensorboard package is missing
        raise ImportError("exporting to TensorBoard needs the tensorboard package: "
                          "pip install 'layerwise[tb]' (or pip install tensorboard)") from err
    run = Path(run_dir)
    table = RunLog.read(run)
    target = Path(out) if out is not None else run / "tensorboard"
    clock = _wall_clock(table, RunLog.read_meta(run))
    rows = zip(table["step"].to_pylist(), table["layer"].to_pylist(), table["metric"].to_pylist(),
               table["value"].to_numpy(zero_copy_only=False).tolist(), strict=True)
    with SummaryWriter(log_dir=str(target)) as writer:
        for step, layer, metric, value in rows:
            tag = metric if not layer else f"{metric}/{layer}"
            writer.add_scalar(tag, value, global_step=step, walltime=clock.get(step))
    return target


def _wall_clock(table, meta: dict) -> dict[int, float]:
    """Step -> seconds since the epoch, from the run's start time and its ``wall_time`` rows."""
    started = meta.get("started")
    if not isinstance(started, str):
        return {}
    try:
        t0 = calendar.timegm(time.strptime(started[:19], "%Y-%m-%dT%H:%M:%S")) - _offset(started)
    except ValueError:
        return {}
    mask = np.array([m == "wall_time" for m in table["metric"].to_pylist()], dtype=bool)
    steps = table["step"].to_numpy()[mask]
    seconds = table["value"].to_numpy(zero_copy_only=False)[mask]
    return {int(s): t0 + float(v) for s, v in zip(steps, seconds, strict=True) if math.isfinite(v)}


def _offset(stamp: str) -> int:
    """Seconds east of UTC of a ``+HHMM`` suffix (0 when absent)."""
    tail = stamp[19:]
    if len(tail) == 5 and tail[0] in "+-" and tail[1:].isdigit():
        sign = 1 if tail[0] == "+" else -1
        return sign * (int(tail[1:3]) * 3600 + int(tail[3:]) * 60)
    return 0
