"""Loss spikes: the loss jumps far above its recent level and stays there for a few steps.

Source: practice in large-model training (issue #16's survey): a loss above twice the mean of
the previous 100 logged steps, or above the mean plus 6 standard deviations of the previous 128;
either must hold on 4 consecutive logged steps (a single noisy value is not a spike). A run
short enough that its loss is still falling inflates the plain standard deviation with the trend,
so a third test reads the same 6 sigma against the median of the last 10 values, with sigma the
step-to-step noise (from the median absolute difference, robust to the trend). The layer
named is the one whose gradient norm grew most at the onset (where ``grad_norm`` was recorded).

The cause is read from the step before the spike (ours): when the effective learning rate
(update ratio per unit gradient norm) jumped 10-fold just before it (the exploding rule's test),
the step size threw the weights off; otherwise the batches did, since the same step size met
data it could not take. A spike from the data puts ``skip_batches`` first: rewind to before the
spike and skip the batches around it, as PaLM did (Chowdhery et al. 2022, sec. 5.1: restart about
100 steps before a spike and skip 200-500 batches, a window reaching 100 steps before it and
100-400 after); here the window starts RUN logged steps before the spike's first sign (its first
spiking value within RECENT rows before the sustained onset) and ends 2 x RUN after it, a run of
these catalogues being 100-150 steps. A spike caused by the step size drops the skip (other
batches would meet the same step).
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor._finding import Finding, Prescription
from layerwise.doctor._prescribe import prescriptions
from layerwise.doctor._rule import rule
from layerwise.doctor._signals import Signals, effective_lr_jump, first_sustained, interval, nan_reduce

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
    first = _first_sign(mask, start)
    evidence = {"loss_at_onset": float(loss[start]), "mean_before": float(np.nanmean(before)),
                "factor": FACTOR, "steps_above": int(mask[start:].sum()),
                "first_sign_step": int(steps[first])}
    every = interval(steps)  # steps between logged losses
    window = {"start": int(steps[max(0, first - RUN)]), "stop": int(steps[first]) + 2 * RUN * every}
    ranked = _ranked(s, int(steps[first]), window, evidence)
    return Finding("loss spike", layers, int(steps[start]), evidence, "high", "loss_spike", SOURCE, ranked)


def _first_sign(mask: np.ndarray, start: int) -> int:
    """The first spiking row within RECENT rows before the sustained onset ``start`` (or ``start``)."""
    earlier = np.nonzero(mask[max(0, start - RECENT):start])[0]
    return max(0, start - RECENT) + int(earlier[0]) if earlier.size else start


def _ranked(s: Signals, first: int, window: dict, evidence: dict) -> tuple[Prescription, ...]:
    """The remedies for a spike whose first sign is at step ``first``, ordered by its cause
    (recorded in ``evidence``): the batches, the step size, or unknown without the metrics;
    ``skip_batches`` skips ``window``."""
    known = "update_ratio" in s.metrics and "grad_norm" in s.metrics
    skip = Prescription("skip_batches", window, _skip_why(first, window, known))
    ranked = tuple(skip if p.component == "skip_batches" else p for p in prescriptions("loss spike"))
    if not known:
        evidence["cause"] = "unknown (needs update_ratio and grad_norm, economy tier)"
        return ranked
    jump = effective_lr_jump(s, first)
    if jump is not None:
        evidence.update(cause="step size", effective_lr_jump=jump[0])
        return tuple(p for p in ranked if p.component != "skip_batches")
    evidence["cause"] = "data"
    return tuple(sorted(ranked, key=lambda p: p.component != "skip_batches"))


def _skip_why(first: int, window: dict, known: bool) -> str:
    start, stop = window["start"], window["stop"]
    cause = (f"the loss rose at step {first} after steps of the usual size: the batches did it"
             if known else f"if the batches from step {first} are at fault")
    return (f"{cause}; rewind to before step {start} and skip batches {start}-{stop - 1}, keeping the "
            "step count, as PaLM did (Chowdhery et al. 2022, sec. 5.1)")


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
