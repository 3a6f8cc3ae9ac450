"""Calibration of the study verdict rules on simulated data: false-call rate and power.

``python bench/calibration.py`` prints, for 3, 5, 10 and 20 seeds, the share of simulated
experiments (per-seed differences ~ N(effect, 1)) that each rule calls holds or fails, next to
the old rule (unpaired percentile bootstrap over independent arms, 2,000 resamples).
"""

from __future__ import annotations

import argparse

import numpy as np

from layerwise.studies import Descriptive, Superiority


def bootstrap_call(t: np.ndarray, b: np.ndarray, rng: np.random.Generator, resamples: int = 2000) -> str:
    """The wave-1 rule: unpaired percentile bootstrap of mean(t) - mean(b), 95% interval."""
    bt = t[rng.integers(0, t.size, (resamples, t.size))].mean(1)
    bb = b[rng.integers(0, b.size, (resamples, b.size))].mean(1)
    lo, hi = np.percentile(bt - bb, [2.5, 97.5])
    return "holds" if lo > 0 else "fails" if hi < 0 else "inconclusive"


def rate(fn, n: int, effect: float, experiments: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([fn(n, effect, rng) in ("holds", "fails") for _ in range(experiments)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=4000)
    args = parser.parse_args()
    sup = Superiority("m", "higher", treatment="t", baseline="b")
    desc = Descriptive("m", "higher")

    def paired(n, effect, rng):
        base = rng.normal(0, 1, n)
        return sup.judge({"t": base + rng.normal(effect, 1.0, n), "b": base}).verdict

    def one_sample(n, effect, rng):
        return desc.judge({"a": rng.normal(effect, 1.0, n)}).verdict

    def old(n, effect, rng):  # independent arms with unit sd, as the audit simulated
        return bootstrap_call(rng.normal(effect, 1, n), rng.normal(0, 1, n), rng)

    head = ("seeds", "old bootstrap", "paired t", "one-sample t", "power paired t (1 sd)")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (5, 14, 9, 13, 22), strict=True)))
    for n in (3, 5, 10, 20):
        e = args.experiments
        print(f"{n:>5} {rate(old, n, 0.0, e, n):>14.3f} {rate(paired, n, 0.0, e, n):>9.3f} "
              f"{rate(one_sample, n, 0.0, e, n):>13.3f} {rate(paired, n, 1.0, e, n):>22.3f}")


if __name__ == "__main__":
    main()
