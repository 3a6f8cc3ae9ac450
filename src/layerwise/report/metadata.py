"""The run-metadata table: one column per run, one row per fact from ``meta.json`` and the records.

Every cell is plain text (the template escapes it); long lists go into ``items``, shown folded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from layerwise.report.data import RunData
from layerwise.report.render import fmt

INLINE_CONFIG = 8  # config entries shown unfolded
ELLIPSIS = "\u2026"
KNOWN_KEYS = {"config", "model", "environment", "monitor", "started", "finished", "status", "resumed"}


@dataclass(frozen=True)
class Cell:
    """Text, and optionally a list shown folded under ``summary``."""

    text: str
    items: tuple[str, ...] = ()
    summary: str = "show all"


def _duration(started: object, finished: object) -> str:
    try:
        a = datetime.strptime(str(started), "%Y-%m-%dT%H:%M:%S%z")
        b = datetime.strptime(str(finished), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return ""
    seconds = int((b - a).total_seconds())
    return f" ({seconds // 3600}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s)" if seconds >= 0 else ""


def _flatten(value: object, prefix: str = "") -> list[str]:
    """``key = value`` lines of a nested config (dotted keys)."""
    if isinstance(value, dict):
        lines: list[str] = []
        for k, v in value.items():
            lines += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return lines
    return [f"{prefix} = {_short(value)}"]


def _short(value: object, limit: int = 160) -> str:
    text = fmt(value) if isinstance(value, int | float) else (
        value if isinstance(value, str) else json.dumps(value, default=repr))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _section(meta: dict, key: str) -> dict:
    value = meta.get(key)
    return value if isinstance(value, dict) else {}


def _model(meta: dict) -> Cell:
    model = _section(meta, "model")
    if not model:
        return Cell("")
    params, trainable = model.get("parameters"), model.get("trainable")
    text = str(model.get("class", "?"))
    if params is not None:
        text += f", {fmt(params)} parameters"
        if trainable is not None and trainable != params:
            text += f" ({fmt(trainable)} trainable)"
    children = model.get("children")
    children = tuple(map(str, children)) if isinstance(children, list) else ()
    return Cell(text, children, f"children ({len(children)})")


def _unmonitored(meta: dict) -> Cell:
    value = _section(meta, "monitor").get("unmonitored")
    if isinstance(value, dict):
        items = tuple(f"{k}: {v}" for k, v in value.items())
    elif isinstance(value, list):
        items = tuple(map(str, value))
    else:
        return Cell("")
    return Cell("" if items else "none", items, f"{len(items)} layer:metric pairs")


def _config(meta: dict) -> Cell:
    config = meta.get("config")
    if config is None:
        return Cell("")
    lines = _flatten(config) if isinstance(config, dict) else [_short(config)]
    return Cell("; ".join(lines[:INLINE_CONFIG]) + (" \u2026" if len(lines) > INLINE_CONFIG else ""),
                tuple(lines) if len(lines) > INLINE_CONFIG else (), f"all {len(lines)} entries")


def _resumed(meta: dict) -> str:
    times = meta.get("resumed")
    return f" (resumed {times}x)" if isinstance(times, int) and not isinstance(times, bool) and times else ""


def _records(run: RunData) -> Cell:
    lo, hi = run.step_range or (0, 0)
    return Cell(f"{fmt(run.n_rows)} rows, steps {lo}\u2013{hi} ({fmt(run.n_steps)} logged)")


def run_columns(run: RunData) -> dict[str, Cell]:
    """Row label -> cell for one run."""
    meta, env, monitor = run.meta, _section(run.meta, "environment"), _section(run.meta, "monitor")
    layers = monitor.get("layers") if isinstance(monitor.get("layers"), list) else run.layers
    metrics = monitor.get("metrics")
    times = f"{meta.get('started', '?')} \u2192 {meta.get('finished', ELLIPSIS)}"
    other = [f"{k}: {_short(v)}" for k, v in meta.items() if k not in KNOWN_KEYS]
    return {
        "folder": Cell(str(run.path)),
        "status": Cell(str(meta.get("status", "unknown")) + _resumed(meta)),
        "time": Cell(times + _duration(meta.get("started"), meta.get("finished"))),
        "model": _model(meta),
        "layers monitored": Cell(f"{len(layers)} layers", tuple(map(str, layers)), "names, in depth order"),
        "not monitored": _unmonitored(meta),
        "cadence": Cell(f"every {monitor['every']} steps" if "every" in monitor else ""),
        "metrics": Cell(", ".join(map(str, metrics)) if isinstance(metrics, list) else ""),
        "records": _records(run),
        "non-finite values": Cell(fmt(run.n_nonfinite)),
        "config": _config(meta),
        "torch": Cell(str(env.get("torch", ""))),
        "python": Cell(str(env.get("python", ""))),
        "layerwise": Cell(str(env.get("layerwise", ""))),
        "device": Cell(f"CUDA {env['cuda']}" if env.get("cuda") else ("CPU" if env else "")),
        "git revision": Cell(str(env.get("git_revision") or "")),
        "other": Cell("", tuple(other), f"{len(other)} more fields"),
    }


def metadata_table(runs: Sequence[RunData]) -> list[tuple[str, list[Cell]]]:
    """``[(row label, [cell per run])]``, dropping rows that are empty for every run."""
    columns = [run_columns(run) for run in runs]
    rows = []
    for label in columns[0]:
        cells = [col[label] for col in columns]
        if any(c.text or c.items for c in cells):
            rows.append((label, cells))
    return rows
