"""Baseline doctors on the same Monitor rows as the doctor, each mapped to the doctor's symptoms.

Both read :class:`layerwise.doctor.Signals` (per-layer ``grad_norm``, ``dead_fraction``,
``act_rms``, ``act_max``, ``update_ratio``; the ``loss``) and return findings, earliest first, as
:class:`layerwise.doctor.Finding`, so the scorer treats all three alike. Re-implemented from the
papers' descriptions and thresholds (issue #16 quotes them); no code is copied.

- :func:`autotrainer`: AUTOTRAINER (Zhang, Zhai, Chen, Su, Xiong, Yu, Liu, "AUTOTRAINER: An
  Automatic DNN Training Problem Detection and Repair System", ICSE 2021). Gradient features per
  logged step: vanishing when ||g_first|| / ||g_last|| < 1e-3 and ||g_first|| < 1e-4; exploding
  when that ratio > 70; dying ReLU when >= 70% of units are zero (``dead_fraction`` averaged over
  the layers, the tool's whole-model zero ratio); NaN loss/gradients/weights count as exploding.
  The gradient problems are only reported when training did not converge (AUTOTRAINER's gate),
  in its order dying ReLU > exploding > vanishing > slow convergence; a converged run is checked
  for oscillation. AUTOTRAINER judges accuracy per epoch; with only a loss, an "epoch" here is 10
  logged steps and accuracy is the loss's reduction from the first window: not converged = less
  than a 30% reduction (its satisfied accuracy 0.7 read as 0.3 of the way down; ours), slow
  convergence = no window improves on the previous by 1% (delta = 0.01), oscillation = at least
  eta = 20% of windows in max-min swings of zeta = 3% (its thresholds).
- :func:`sagemaker`: the SageMaker Debugger built-in rules (AWS documentation, "List of Debugger
  built-in rules") with DeepDiagnosis's thresholds (Wardat, Cruz, Le, Rajan, "DeepDiagnosis:
  Automatically Diagnosing Faults and Recommending Actionable Fixes in Deep Learning Programs",
  ICSE 2022): exploding tensor (a non-finite value, or a per-element gradient RMS above 1, our
  reading of "very large"), vanishing gradient (mean |g| < 1e-7, estimated as the per-element RMS
  ||g|| / sqrt(numel)), dead ReLU (>= 70% of a layer's units non-positive), saturated activation
  (outputs bounded by 1 with RMS >= 0.9, the doctor's proxy for "> 50% beyond +-5" since the
  Monitor records outputs), weight-update ratio outside [1e-5, 1e-1], loss not decreasing (a
  10-step window's mean not 0.1% below the previous one's; the rule's num_steps and diff_percent).
  Each rule fires on the first logged step where it holds, with no persistence requirement.
"""

from __future__ import annotations

import numpy as np

from layerwise.doctor import Finding, Signals
from layerwise.doctor._signals import nan_reduce

WINDOW = 10


def _finding(symptom: str, layers, step, source: str, **evidence) -> Finding:
    return Finding(symptom, tuple(layers), None if step is None else int(step), evidence, "high",
                   source.split(" ")[0].lower(), source)


def _first(mask: np.ndarray) -> int | None:
    rows = np.nonzero(mask.any(axis=1) if mask.ndim == 2 else mask)[0]
    return int(rows[0]) if rows.size else None


def _nonfinite(s: Signals) -> tuple[int, tuple[str, ...]] | None:
    """The first step with a non-finite loss, output or gradient, and the layer it shows in."""
    hits = []
    for name in ("act_max", "grad_norm"):
        m = s.metrics.get(name)
        if m is not None:
            bad = ~np.isfinite(m.values)
            row = _first(bad)
            if row is not None:
                hits.append((int(m.steps[row]), (m.layers[int(np.argmax(bad[row]))],)))
    if "loss" in s.scalars:
        steps, loss = s.scalars["loss"]
        row = _first(~np.isfinite(loss))
        if row is not None:
            hits.append((int(steps[row]), ()))
    return min(hits, key=lambda h: (h[0], not h[1])) if hits else None


def _windows(s: Signals) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean finite loss per window of 10 logged steps, and each window's last step."""
    if "loss" not in s.scalars:
        return None
    steps, loss = s.scalars["loss"]
    n = len(loss) // WINDOW
    if n < 3:
        return None
    means = np.array([nan_reduce(np.nanmean, np.where(np.isfinite(w), w, np.nan))
                      for w in np.split(loss[: n * WINDOW], n)])
    return means, steps[WINDOW - 1: n * WINDOW: WINDOW]


def _oscillates(progress: np.ndarray, zeta: float = 0.03, eta: float = 0.2) -> bool:
    """AUTOTRAINER's oscillation test: local maxima and minima of the progress curve paired in
    order; unstable when at least ``eta`` of the windows swing by ``zeta`` or more."""
    inner = range(1, len(progress) - 1)
    peaks = [progress[i] for i in inner if progress[i] >= progress[i - 1] and progress[i] >= progress[i + 1]]
    dips = [progress[i] for i in inner if progress[i] <= progress[i - 1] and progress[i] <= progress[i + 1]]
    swings = sum(p - d >= zeta for p, d in zip(peaks, dips, strict=False))
    return swings >= eta * len(progress)


def autotrainer(s: Signals) -> list[Finding]:
    """AUTOTRAINER's detection on one run (see the module docstring)."""
    src = "AUTOTRAINER (ICSE 2021)"
    bad = _nonfinite(s)
    if bad is not None:
        return [_finding("exploding gradients", (), bad[0], src, cause="NaN/inf")]
    win = _windows(s)
    if win is None:
        return []
    means, ends = win
    progress = 1.0 - means / means[0]
    not_converged = np.nanmax(progress) < 0.3
    slow = np.nanmax(np.diff(progress)) < 0.01
    if not (not_converged or slow):
        if _oscillates(progress):
            return [_finding("loss spike", (), ends[0], src, cause="oscillating loss")]
        return []
    g = s.metrics.get("grad_norm")
    dead = s.metrics.get("dead_fraction")
    if dead is not None:
        row = _first(nan_reduce(np.nanmean, dead.values, axis=1) >= 0.7)
        if row is not None:
            return [_finding("dead units", (), dead.steps[row], src, cause="dying ReLU")]
    if g is not None and g.values.shape[1] >= 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = g.values[:, 0] / g.values[:, -1]
        row = _first(ratio > 70)
        if row is not None:
            return [_finding("exploding gradients", (g.layers[0],), g.steps[row], src,
                             ratio=float(ratio[row]))]
        row = _first((ratio < 1e-3) & (g.values[:, 0] < 1e-4))
        if row is not None:
            return [_finding("vanishing gradients", (g.layers[0],), g.steps[row], src,
                             ratio=float(ratio[row]))]
    if slow:
        return [_finding("no progress", (), s.scalars["loss"][0][0], src, cause="slow convergence")]
    return []


ORDER = ("non-finite values", "exploding gradients", "vanishing gradients", "dead units", "saturation",
         "update too large", "update too small", "no progress")


def _per_layer(s: Signals, metric: str, hit, symptom: str, src: str) -> Finding | None:
    """A finding at the first logged step where ``hit(values)`` holds in any layer."""
    m = s.metrics.get(metric)
    if m is None:
        return None
    mask = hit(m.values)
    row = _first(mask)
    if row is None:
        return None
    layers = tuple(n for n, h in zip(m.layers, mask[row], strict=True) if h)
    return _finding(symptom, layers, m.steps[row], src)


def _rms(s: Signals) -> np.ndarray | None:
    g, numel = s.metrics.get("grad_norm"), s.meta.get("numel", {})
    if g is None:
        return None
    sizes = np.array([max(1, int(numel.get(n, 1))) for n in g.layers], dtype=float)
    return g.values / np.sqrt(sizes)


def sagemaker(s: Signals) -> list[Finding]:
    """The SageMaker Debugger / DeepDiagnosis rules on one run (see the module docstring)."""
    src = "SageMaker Debugger rules / DeepDiagnosis (ICSE 2022)"
    out: list[Finding] = []
    bad = _nonfinite(s)
    if bad is not None:
        out.append(_finding("non-finite values", bad[1], bad[0], src))
    rms = _rms(s)
    if rms is not None:
        g = s.metrics["grad_norm"]
        for symptom, mask in (("exploding gradients", np.nan_to_num(rms, nan=0.0) > 1.0),
                              ("vanishing gradients", np.nan_to_num(rms, nan=1.0) < 1e-7)):
            row = _first(mask)
            if row is not None:
                out.append(_finding(symptom, tuple(n for n, h in zip(g.layers, mask[row], strict=True) if h),
                                    g.steps[row], src))
    found = _per_layer(s, "dead_fraction", lambda v: np.nan_to_num(v, nan=0.0) >= 0.7, "dead units", src)
    out += [found] if found else []
    rms_a, peak = s.metrics.get("act_rms"), s.metrics.get("act_max")
    if rms_a is not None and peak is not None and rms_a.values.shape == peak.values.shape:
        mask = (np.nan_to_num(peak.values, nan=np.inf) <= 1.0 + 1e-6) & (np.nan_to_num(rms_a.values) >= 0.9)
        row = _first(mask)
        if row is not None:
            hit = tuple(n for n, h in zip(rms_a.layers, mask[row], strict=True) if h)
            out.append(_finding("saturation", hit, rms_a.steps[row], src))
    for symptom, hit in (("update too large", lambda v: np.nan_to_num(v, nan=0.0) > 1e-1),
                         ("update too small", lambda v: np.nan_to_num(v, nan=1.0) < 1e-5)):
        found = _per_layer(s, "update_ratio", hit, symptom, src)
        out += [found] if found else []
    win = _windows(s)
    if win is not None:
        means, ends = win
        row = _first(means[1:] >= means[:-1] * (1 - 0.001))
        if row is not None:
            out.append(_finding("no progress", (), ends[row + 1], src))
    return sorted(out, key=lambda f: (f.onset_step, ORDER.index(f.symptom)))


BASELINES = {"autotrainer": autotrainer, "sagemaker": sagemaker}
