"""Exploding gradients: per-layer gradient norms that grow 100-fold over their early level.

Source: AUTOTRAINER (Zhang et al., ICSE 2021) flags explosion from the ratio of gradient norms
across layers (> 70); on a run's own history, growth against the layer's early median is the
signal that does not depend on the architecture's usual spread, so that is the rule here (the
ratio is reported as evidence). Thresholds: growth >= 100x on 2 consecutive logged steps, or
(ours) 10x over the previous logged step on 2 consecutive steps: a blow-up from the
initialisation leaves no healthy early level to grow from, but compounds step over step.
When the effective learning rate (update ratio per unit gradient norm) jumped to 10x its median
over the 10 logged steps before, within 2 logged steps of the onset, the step size set off the
growth: a learning-rate cut that undoes the jump is prescribed first; otherwise per-layer
clipping is. A surge over the early level that stays finite and settles (every layer back under
100x it from within 10 logged steps of the onset to the end of the run, 3 steps at least) is not
an explosion: a bad batch or a short burst of large steps threw the gradients up and training
absorbed it; the loss-spike rule reads that from the loss.
An explosion found within the first FROM_START logged rows of a run whose first logged update
was already above the update-size bound (1e-1 of the weight norm, the SageMaker rule's) had no
healthy phase: the step size was too large from the first step, so the onset is the first logged
step (``detected_step`` in the evidence says where the growth criterion first held) and a
learning-rate cut, sized to bring that first update a decade inside the bound, is prescribed
first (ours; 10 rows is the window the effective-learning-rate test reads a level from).
An explosion whose rows before it (4 at least, one per quarter) show a run-up from the first step
is dated from that step too (``detected_step`` again says where the growth criterion held): the effective
learning rate, or else the gradient norm, medians over layers, rose quarter over quarter to 10x
its first row (ours). A rising step size names a schedule that went too far (a warm-up to too high
a peak, a learning-rate range test left on), and a learning-rate cut to the first quarter's level
comes first; rising gradients (accumulated by a missing ``zero_grad``, say) keep clipping first.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import learning_rate_first, prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import (
    STEP_JUMP,
    Signals,
    effective_lr_jump,
    effective_lr_rows,
    first_sustained,
    layers_where,
    nan_reduce,
)
from layerwise.doctor.rules.update_size import HIGH as UPDATE_BOUND

GROWTH, RATE, RUN = 100.0, 10.0, 2
FROM_START = 10  # logged rows: an explosion found this early had no healthy level to leave
RUN_UP = 4  # logged rows before an explosion, at least, to read a steady rise from (4 quarters)
SETTLE, CALM = 10, 3  # a surge is over within SETTLE logged steps of its onset, then CALM rows or more
GROWN = "growth over the early level"
SOURCE = "AUTOTRAINER (ICSE 2021), growth form"


def growth(values: np.ndarray, bad: np.ndarray | None = None) -> np.ndarray:
    """Each row over the median of the first tenth of the rows (at least 3), per layer; non-finite
    entries (``bad``, default: every NaN or Inf) count as infinite growth, cells without a value
    (NaN, not ``bad``) as none."""
    bad = ~np.isfinite(values) if bad is None else bad
    early = nan_reduce(np.nanmedian, values[: max(3, len(values) // 10)], axis=0)
    early = np.where(early > 0, early, np.nan)  # a layer without gradient early on: no growth to read
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / early
    return np.where(bad, np.inf, ratio)


def compounding(values: np.ndarray, bad: np.ndarray | None = None) -> np.ndarray:
    """Each row over the row before, per layer (the first row: 0); a non-finite value (``bad``,
    as in :func:`growth`) after a finite one counts as infinite growth."""
    bad = ~np.isfinite(values) if bad is None else bad
    out = np.zeros_like(values, dtype=float)
    prev, cur = values[:-1], values[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(prev > 0, cur / prev, 0.0)
    out[1:] = np.where(bad[1:], np.where(np.isfinite(prev), np.inf, 0.0), step)
    return np.nan_to_num(out, nan=0.0)


def settles(ratio: np.ndarray, start: int) -> bool:
    """Whether the growth ``ratio`` (rows x layers) stays finite from ``start`` on and is under
    GROWTH in every layer from some row within SETTLE rows after ``start`` to the last row, at least
    CALM rows."""
    if np.isposinf(ratio[start:]).any():  # went non-finite (NaN: a layer with no early level)
        return False
    below = np.all(np.nan_to_num(ratio, nan=0.0) < GROWTH, axis=1)
    tail = np.flatnonzero(~below)
    last_bad = int(tail[-1]) if tail.size else -1
    return len(ratio) - (last_bad + 1) >= CALM and last_bad < start + SETTLE


@rule("exploding", symptom="exploding gradients", needs=("grad_norm", "act_grad_norm"), source=SOURCE)
def check(s: Signals) -> Finding | None:
    m = s.metrics.get("grad_norm") or s.metrics.get("act_grad_norm")
    if m is None or len(m.steps) < 4:
        return None
    bad = m.nonfinite()
    ratio = growth(m.values, bad)
    found = [(start, hit, name) for hit, name in ((ratio >= GROWTH, GROWN),
                                                 (compounding(m.values, bad) >= RATE, "10x per logged step"))
             if (start := first_sustained(hit, RUN)) is not None]
    if not found:
        return None
    start, hit, criterion = min(found, key=lambda f: f[0])
    if criterion == GROWN and settles(ratio, start):
        return None
    layers = layers_where(hit, m.layers, start, RUN)
    finite = np.isfinite(ratio)
    peak = float(np.max(ratio[finite])) if finite.any() else np.inf
    row = m.values[start]
    spread = float(row.max() / row.min()) if np.all(np.isfinite(row)) and row.min() > 0 else np.inf
    evidence = {"metric": "grad_norm" if "grad_norm" in s.metrics else "act_grad_norm",
                "criterion": criterion, "growth_at_onset": float(np.nanmax(ratio[start])),
                "peak_growth": peak, "threshold": GROWTH, "layer_ratio_at_onset": spread}
    onset, ranked = _dated(s, (int(m.steps[0]), int(m.steps[start])), start < FROM_START, evidence)
    return Finding("exploding gradients", layers, onset, evidence, "critical", "exploding", SOURCE, ranked)


def _dated(s: Signals, steps: tuple[int, int], early: bool, evidence: dict) -> tuple[int, tuple]:
    """The onset and ranked prescriptions of an explosion detected at ``onset`` (``steps``: the first
    logged step and it; ``early``: within FROM_START rows), from what set it off; ``evidence`` gains
    what was read."""
    (first, onset), ranked, first_update = steps, prescriptions("exploding gradients"), _first_update(s)
    if early and first_update is not None and first_update > UPDATE_BOUND:
        evidence.update(detected_step=onset, first_update_ratio=first_update)
        why = (f"the first update was already {first_update:.2g} of the weight norm: the step size was "
               f"too large from the start; to bring it to {UPDATE_BOUND / 10:g}")
        return first, learning_rate_first(ranked, UPDATE_BOUND / 10 / first_update, why)
    if (step_jump := effective_lr_jump(s, onset)) is not None:
        evidence["effective_lr_jump"], evidence["update_ratio_at_jump"] = step_jump
        why = (f"the update per unit gradient jumped {step_jump[0]:.0f}x just before: the step size set "
               "off the growth; to undo the jump")
        return onset, learning_rate_first(ranked, 1 / step_jump[0], why)
    if (rise := run_up(s, onset)) is None:
        return onset, ranked
    what, factor, first_quarter = rise
    evidence.update(detected_step=onset, run_up=what, run_up_factor=factor)
    if what == GRADIENT:
        return first, ranked
    why = (f"the update per unit gradient rose {factor:.0f}x steadily from the first step until the "
           "gradients exploded: a schedule raised the step size too far (a warm-up's peak, a range test "
           "left on); to hold it at its first quarter's level")
    return first, learning_rate_first(ranked, first_quarter, why)


STEP_SIZE, GRADIENT = "effective learning rate", "gradient norm"


def run_up(s: Signals, onset: int) -> tuple[str, float, float] | None:
    """(what rose, its last quarter over its first row, its first quarter over its last) when, over
    the RUN_UP rows or more logged before ``onset``, the effective learning rate (update ratio per
    unit gradient norm) or else the gradient norm, medians over layers, rose quarter over quarter
    to STEP_JUMP times its first row: the growth that exploded began at the first step."""
    g, rows = s.metrics.get("grad_norm"), effective_lr_rows(s)
    if g is None:
        return None
    series = [] if rows is None else [(STEP_SIZE, rows[0], rows[2])]
    series.append((GRADIENT, g.steps, g.values))
    for what, steps, values in series:
        before = nan_reduce(np.nanmedian, values[steps < onset], axis=1)
        if len(before) < RUN_UP or not np.isfinite(before).all() or before[0] <= 0:
            continue
        quarters = np.array([np.median(q) for q in np.array_split(before, 4)])
        if np.all(np.diff(quarters) > 0) and quarters[-1] >= STEP_JUMP * before[0]:
            return what, float(quarters[-1] / before[0]), float(quarters[0] / quarters[-1])
    return None


def _first_update(s: Signals) -> float | None:
    """The largest layer update ratio on the first logged row (None without the metric or a
    finite value there)."""
    u = s.metrics.get("update_ratio")
    if u is None or not len(u.steps) or not np.isfinite(u.values[0]).any():
        return None
    return float(np.nanmax(np.where(np.isfinite(u.values[0]), u.values[0], np.nan)))
