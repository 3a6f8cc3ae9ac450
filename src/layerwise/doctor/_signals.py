"""A run's rows as arrays the rules read: per-layer metrics as (steps x layers) matrices in model
order, model-level scalars as series, the run's sidecar."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerwise.monitor.runlog import RunLog

PROBE = "analysis.TransformerProbe"
TIER_OF = {"act_rms": "economy", "act_mean": "economy", "act_max": "economy",
           "act_max_median": "economy", "dead_fraction": "economy", "grad_norm": "economy",
           "weight_norm": "economy", "update_ratio": "economy (needs optimizer=)",
           "act_grad_norm": "economy", "bias_shift": "business", "eff_lr": "business",
           "grad_noise": "business", "grad_snr": "business", "loss": "mon.log(loss=loss)",
           "cos_min": "multiloss.conflict_rows", "cos_update_min": "doctor.train with an aggregator",
           "attn_entropy": PROBE, "attn_logit_max": PROBE,
           "token_spread": PROBE, "block_contrib": PROBE}


@dataclass
class Layered:
    """One per-layer metric: ``values[i, j]`` at ``steps[i]`` for ``layers[j]`` (NaN where absent);
    ``present[i, j]``: a row was logged there (a layer that got no gradient on a step, its block
    skipped or its expert unused, logs none; its NaN is no value, not a non-finite one)."""

    steps: np.ndarray
    layers: list[str]
    values: np.ndarray
    present: np.ndarray | None = None  # None: every cell was logged

    def nonfinite(self) -> np.ndarray:
        """Where a logged value is NaN or infinite (cells without a row are not)."""
        bad = ~np.isfinite(self.values)
        return bad if self.present is None else bad & self.present


@dataclass
class Signals:
    """Everything a rule may read of one run."""

    path: Path | None
    layers: list[str]  # monitored layers in model order (shallow first)
    metrics: dict[str, Layered] = field(default_factory=dict)
    scalars: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.metrics or name in self.scalars


def load(path: str | Path) -> Signals:
    """The signals of the run folder ``path``; an error that says what is wrong when it holds no run."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: pass a run folder the Monitor wrote (log=...)")
    table = RunLog.read(folder)
    meta = RunLog.read_meta(folder)
    if len(table) == 0:
        raise ValueError(f"{folder} holds no rows yet: nothing to diagnose (the Monitor flushes every "
                         "flush_every logged steps and at close)")
    order = meta.get("monitor", {}).get("layers") or []
    return from_rows(table.to_pydict(), order, meta, folder)


def from_rows(cols: dict[str, list], order: list[str], meta: dict | None = None,
              path: Path | None = None) -> Signals:
    """Signals from columns ``step, layer, metric, value`` (a RunLog table's ``to_pydict()``)."""
    per: dict[str, dict[tuple[int, str], float]] = {}
    for step, layer, metric, value in zip(cols["step"], cols["layer"], cols["metric"], cols["value"],
                                          strict=True):
        per.setdefault(metric, {})[(int(step), layer)] = float(value) if value is not None else math.nan
    seen = [layer for layer in dict.fromkeys(cols["layer"]) if layer]
    layers = [n for n in order if n in seen] + [n for n in seen if n not in order]
    signals = Signals(path, layers, meta=meta or {})
    for metric, cells in per.items():
        if all(layer == "" for _, layer in cells):
            steps = np.array(sorted(s for s, _ in cells))
            signals.scalars[metric] = (steps, np.array([cells[(s, "")] for s in steps]))
            continue
        steps = np.array(sorted({s for s, _ in cells}))
        mine = [n for n in layers if any(layer == n for _, layer in cells)]
        values = np.full((len(steps), len(mine)), np.nan)
        present = np.zeros(values.shape, dtype=bool)
        row = {s: i for i, s in enumerate(steps)}
        col = {n: j for j, n in enumerate(mine)}
        for (s, layer), v in cells.items():
            if layer in col:
                values[row[s], col[layer]], present[row[s], col[layer]] = v, True
        signals.metrics[metric] = Layered(steps, mine, values, None if present.all() else present)
    return signals


def first_sustained(mask: np.ndarray, run: int) -> int | None:
    """Index of the first row from which ``mask`` (rows, or rows x layers: any layer) holds for
    ``run`` consecutive rows; None when it never does."""
    rows = mask.any(axis=1) if mask.ndim == 2 else mask
    count = 0
    for i, hit in enumerate(rows):
        count = count + 1 if hit else 0
        if count >= run:
            return i - run + 1
    return None


def sustained(s: Signals, metric: str, hit, run: int) -> tuple[Layered, int, tuple[str, ...]] | None:
    """Where ``hit(values)`` (a steps x layers mask of ``metric``) holds on ``run`` consecutive
    rows: the metric, the first such row and the layers; None when it never does."""
    m = s.metrics.get(metric)
    if m is None or len(m.steps) < run:
        return None
    mask = hit(m.values)
    start = first_sustained(mask, run)
    return None if start is None else (m, start, layers_where(mask, m.layers, start, run))


def layers_where(mask: np.ndarray, layers: list[str], start: int, run: int) -> tuple[str, ...]:
    """Layers (model order) for which ``mask`` holds on ``run`` consecutive rows from ``start`` on."""
    hit = [j for j in range(mask.shape[1])
           if first_sustained(mask[start:, j], min(run, len(mask) - start)) is not None]
    return tuple(layers[j] for j in hit)


def interval(steps: np.ndarray) -> int:
    """Steps between logged rows: the median gap (1 for a single row, or rows on every step)."""
    return max(1, int(np.median(np.diff(steps)))) if len(steps) > 1 else 1


def nan_reduce(fn, values: np.ndarray, **kwargs) -> np.ndarray | float:
    """``fn`` (np.nanmax, np.nanmedian, ...) with all-NaN slices giving NaN without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(values, **kwargs)


# an effective learning rate (update ratio per unit gradient norm) 10x its median over the 10 logged
# steps before, within 2 logged steps of an onset: the step size jumped (ours)
STEP_JUMP, LEAD, RECENT = 10.0, 2, 10


def effective_lr_rows(s: Signals) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, update ratio, update ratio per unit gradient norm: the effective learning rate) on
    the rows ``update_ratio`` and ``grad_norm`` share; None without both on the same layers."""
    u, g = s.metrics.get("update_ratio"), s.metrics.get("grad_norm")
    if u is None or g is None or u.layers != g.layers:
        return None
    steps, iu, ig = np.intersect1d(u.steps, g.steps, return_indices=True)
    ratio, grad = u.values[iu], g.values[ig]
    with np.errstate(divide="ignore", invalid="ignore"):
        return steps, ratio, np.where(grad > 0, ratio / grad, np.nan)


def effective_lr_jump(s: Signals, onset: int) -> tuple[float, float] | None:
    """(jump, ratio): over the LEAD logged steps up to ``onset``, the largest growth of the update
    ratio per unit gradient norm (the effective learning rate) over its median on the RECENT
    logged steps before them, and the update ratio there, when that growth is at least
    STEP_JUMP: the step size went up, not the gradient; None otherwise (or without both metrics
    on the same rows). Read by the exploding-gradient and loss-spike rules."""
    rows = effective_lr_rows(s)
    if rows is None:
        return None
    steps, ratio, effective = rows
    first = int(np.searchsorted(steps, onset - LEAD))
    last = int(np.searchsorted(steps, onset, side="right"))
    if first < 3 or last <= first:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        before = nan_reduce(np.nanmedian, effective[max(0, first - RECENT):first], axis=0)
        jump = effective[first:last] / np.where(before > 0, before, np.nan)
    if not np.isfinite(jump).any() or np.nanmax(jump) < STEP_JUMP:
        return None
    row, col = np.unravel_index(np.nanargmax(jump), jump.shape)
    return float(jump[row, col]), float(ratio[first + row, col])
