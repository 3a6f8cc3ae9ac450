"""Shape a run folder into what the report draws: layer x step matrices and scalar curves.

A run is read once with :meth:`layerwise.RunLog.read`; rows of layer ``""`` become model-level
curves (loss, val_loss, ...), every other metric a :class:`Matrix` whose rows are the layers in
depth order (the Monitor's order from ``meta["monitor"]["layers"]``, else order of first
appearance) and whose columns are the steps at which that metric was logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from layerwise.monitor.runlog import RunLog

# Metrics the Monitor records, in the order a reader wants them; unknown ones follow.
PREFERRED_METRICS = (
    "grad_norm", "weight_norm", "update_ratio", "eff_lr", "act_grad_norm", "act_rms", "act_mean",
    "act_max", "act_max_median", "dead_fraction", "bias_shift", "grad_noise", "grad_snr",
)
PREFERRED_SCALARS = ("loss", "train_loss", "val_loss", "test_loss", "accuracy", "val_accuracy")


@dataclass
class Matrix:
    """One per-layer metric of one run: ``values[i, j]`` is layer ``layers[i]`` at ``steps[j]``.

    ``depth[i]`` is the layer's index in the run's full layer order (the x of profile charts);
    NaN marks a cell that was not logged (and NaN/inf values stay as they were recorded).
    """

    layers: list[str]
    depth: np.ndarray
    steps: np.ndarray
    values: np.ndarray


@dataclass
class RunData:
    """A run folder, shaped for the report."""

    name: str
    path: Path
    meta: dict
    layers: list[str]
    scalars: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    matrices: dict[str, Matrix] = field(default_factory=dict)
    n_rows: int = 0
    n_nonfinite: int = 0
    step_range: tuple[int, int] | None = None
    n_steps: int = 0


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``blocks.2`` before ``blocks.10``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)


def order_layers(seen: Sequence[str], preferred: Sequence[str] | None = None) -> list[str]:
    """Depth order of the layers in ``seen`` (first-appearance order, ``""`` dropped).

    ``preferred`` (the Monitor's layer list) wins for the layers it names; the others follow in
    order of appearance. Without it, an order that is merely lexicographic (``blocks.10`` before
    ``blocks.2``, as a sorted writer would emit it) is replaced by the numeric-aware order.
    """
    seen = list(dict.fromkeys(s for s in seen if s != ""))
    if preferred:
        pref = [str(p) for p in dict.fromkeys(preferred)]
        present, named = set(seen), set(pref)
        return [p for p in pref if p in present] + [s for s in seen if s not in named]
    natural = sorted(seen, key=natural_key)
    if seen == sorted(seen) and natural != seen:
        return natural
    return seen


def order_metrics(seen: Sequence[str], preferred: Sequence[str] = PREFERRED_METRICS) -> list[str]:
    """Known metrics in reading order, then the others in order of first appearance."""
    seen = list(dict.fromkeys(seen))
    known = [m for m in preferred if m in seen]
    rest = [m for m in seen if m not in preferred]
    late = [m for m in rest if m.startswith("nonfinite_")]
    return known + [m for m in rest if m not in late] + late


def _encode(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """Distinct strings in order of first appearance, and each row's index into them."""
    arr = pc.fill_null(column.combine_chunks(), "").dictionary_encode()
    return [str(s) for s in arr.dictionary.to_pylist()], arr.indices.to_numpy(zero_copy_only=False)


def _read_meta(folder: Path) -> dict:
    try:
        meta = RunLog.read_meta(folder)
    except (OSError, ValueError) as err:  # includes a JSON error
        return {"meta_error": f"meta.json unreadable: {err}"}
    return meta if isinstance(meta, dict) else {"meta_error": "meta.json is not a JSON object"}


def _monitor_layers(meta: dict) -> list[str] | None:
    monitor = meta.get("monitor")
    layers = monitor.get("layers") if isinstance(monitor, dict) else None
    return [str(x) for x in layers] if isinstance(layers, list) and layers else None


def load_run(path: str | Path, name: str | None = None) -> RunData:
    """Read and shape one run folder; clear errors for a missing folder or one without records."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"run folder {folder} does not exist; pass the folder a layerwise.RunLog wrote "
            "(e.g. Monitor(model, log=FOLDER))"
        )
    table = RunLog.read(folder)
    if table.num_rows == 0:
        raise ValueError(
            f"run {folder} has no records yet: train with a Monitor logging to it (and let it flush, "
            "e.g. by closing it) before writing a report"
        )
    meta = _read_meta(folder)
    steps = table.column("step").to_numpy()
    values = table.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    layer_names, layer_idx = _encode(table.column("layer"))
    metric_names, metric_idx = _encode(table.column("metric"))
    layers = order_layers(layer_names, _monitor_layers(meta))
    run = RunData(name=folder.name if name is None else str(name), path=folder, meta=meta, layers=layers,
                  n_rows=table.num_rows, n_nonfinite=int((~np.isfinite(values)).sum()),
                  step_range=(int(steps.min()), int(steps.max())), n_steps=int(np.unique(steps).size))
    blank = layer_names.index("") if "" in layer_names else -1
    position = {layer: i for i, layer in enumerate(layers)}
    depth_of = np.array([position.get(layer, -1) for layer in layer_names], dtype=np.int64)
    by_metric = np.argsort(metric_idx, kind="stable")
    bounds = np.searchsorted(metric_idx[by_metric], np.arange(len(metric_names) + 1))
    for m in range(len(metric_names)):
        rows = by_metric[bounds[m]:bounds[m + 1]]
        is_scalar = layer_idx[rows] == blank
        if is_scalar.any():
            run.scalars[metric_names[m]] = _curve(steps[rows[is_scalar]], values[rows[is_scalar]])
        if not is_scalar.all():
            rows = rows[~is_scalar]
            run.matrices[metric_names[m]] = _matrix(steps[rows], depth_of[layer_idx[rows]], values[rows],
                                                    layers)
    run.scalars = {k: run.scalars[k] for k in order_metrics(list(run.scalars), PREFERRED_SCALARS)}
    run.matrices = {k: run.matrices[k] for k in order_metrics(list(run.matrices))}
    return run


def _curve(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(steps, return_inverse=True)
    out = np.full(uniq.size, np.nan)
    out[inv] = values  # a step logged twice (a resumed run): the later row wins
    return uniq, out


def _matrix(steps: np.ndarray, depth: np.ndarray, values: np.ndarray, layers: list[str]) -> Matrix:
    uniq_steps, col = np.unique(steps, return_inverse=True)
    uniq_depth, row = np.unique(depth, return_inverse=True)
    grid = np.full((uniq_depth.size, uniq_steps.size), np.nan)
    grid[row, col] = values
    return Matrix(layers=[layers[d] for d in uniq_depth], depth=uniq_depth, steps=uniq_steps, values=grid)
