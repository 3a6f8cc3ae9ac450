"""Loss spikes: the loss jumps far above its recent level and stays there for a few steps.

Source: practice in large-model training (issue #16's survey): a loss above twice the mean of
the previous 100 logged steps, or above the mean plus 6 standard deviations of the previous 128;
either must hold on 4 consecutive logged steps (a single noisy value is not a spike). A run
short enough that its loss is still falling inflates the plain standard deviation with the trend,
so a third test reads the same 6 sigma against the median of the last 10 values, with sigma the
step-to-step noise (from the median absolute difference, robust to the trend). The layer
named is the one whose gradient norm grew most at the onset (where ``grad_norm`` was recorded).
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, first_sustained, nan_reduce

FACTOR, WINDOW, RUN = 2.0, 100, 4
SIGMAS, SIGMA_WINDOW, MIN_HISTORY, RECENT = 6.0, 128, 10, 10
SOURCE = "practice: 2x the 100-step mean for 4 steps, or mean + 6 sd over 128 steps (or over the noise)"


def spike_mask(loss: np.ndarray) -> np.ndarray:
    """Where the loss is a spike against the window before it (never in the first 10 values)."""
    mask = np.zeros(len(loss), dtype=bool)
    for i in range(MIN_HISTORY, len(loss)):
        past = loss[max(0, i - WINDOW):i]
        wide = loss[max(0, i - SIGMA_WINDOW):i]
        past, wide = past[np.isfinite(past)], wide[np.isfinite(wide)]
        if past.size < MIN_HISTORY or not np.isfinite(loss[i]):
            continue
        recent = loss[max(0, i - RECENT):i]
        recent = recent[np.isfinite(recent)]
        mask[i] = (loss[i] > FACTOR * past.mean() or loss[i] > wide.mean() + SIGMAS * wide.std()
                   or loss[i] > np.median(recent) + SIGMAS * step_noise(wide))
    return mask


def step_noise(loss: np.ndarray) -> float:
    """The loss's step-to-step noise as a standard deviation: the median absolute difference of
    consecutive values, x 1.4826 (normal consistency) / sqrt(2) (a difference of two draws); a
    trend (the descent of a young run) barely moves it, unlike the plain standard deviation."""
    diffs = np.abs(np.diff(loss))
    return float(1.4826 * np.median(diffs) / np.sqrt(2)) if diffs.size else np.inf


@rule("loss_spike", symptom="loss spike", needs=("loss",), source=SOURCE)
def check(s: Signals) -> Finding | None:
    if "loss" not in s.scalars:
        return None
    steps, loss = s.scalars["loss"]
    mask = spike_mask(loss)
    start = first_sustained(mask, RUN)
    if start is None:
        return None
    before = loss[max(0, start - WINDOW):start]
    layers = _jumping_layers(s, int(steps[start]))
    return Finding("loss spike", layers, int(steps[start]),
                   {"loss_at_onset": float(loss[start]), "mean_before": float(np.nanmean(before)),
                    "factor": FACTOR, "steps_above": int(mask[start:].sum())},
                   "high", "loss_spike", SOURCE, prescriptions("loss spike"))


def _jumping_layers(s: Signals, step: int) -> tuple[str, ...]:
    m = s.metrics.get("grad_norm")
    if m is None or step not in set(m.steps.tolist()):
        return ()
    row = int(np.nonzero(m.steps == step)[0][0])
    if row < 3:
        return ()
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = m.values[row] / nan_reduce(np.nanmedian, m.values[max(0, row - 20):row], axis=0)
    if not np.isfinite(jump).any():
        return ()
    return (m.layers[int(np.nanargmax(jump))],)
