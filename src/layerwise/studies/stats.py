"""Bootstrap confidence intervals and the verdict rule of every study."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 10_000


def bootstrap_mean_ci(values: Sequence[float], *, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    x = _finite(values)
    if x.size < 2:  # one value has no spread to resample
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (RESAMPLES, x.size))].mean(axis=1)
    return _percentiles(means, level)


def bootstrap_diff_ci(treatment: Sequence[float], baseline: Sequence[float], *, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """(mean difference, lo, hi): percentile bootstrap of mean(treatment) - mean(baseline).

    The two arms are resampled independently (seeds are not paired across arms).
    """
    t, b = _finite(treatment), _finite(baseline)
    if t.size == 0 or b.size == 0:
        return float("nan"), float("nan"), float("nan")
    diff = float(t.mean() - b.mean())
    if t.size < 2 or b.size < 2:
        return diff, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boot = (t[rng.integers(0, t.size, (RESAMPLES, t.size))].mean(axis=1)
            - b[rng.integers(0, b.size, (RESAMPLES, b.size))].mean(axis=1))
    lo, hi = _percentiles(boot, level)
    return diff, lo, hi


def judge(lo: float, hi: float, better: str) -> str:
    """'holds' when the whole interval of treatment - baseline lies on the better side of 0,
    'fails' when it lies on the worse side, 'inconclusive' otherwise (or when undefined)."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    sign = -1.0 if better == "lower" else 1.0
    if sign * lo > 0 and sign * hi > 0:
        return "holds"
    if sign * lo < 0 and sign * hi < 0:
        return "fails"
    return "inconclusive"


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)
