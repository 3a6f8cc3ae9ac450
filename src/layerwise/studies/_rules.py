"""Claim types and their decision rules: what a study's verdict means, stated before it runs.

- :class:`Superiority`: the treatment beats one or more baselines by at least ``min_effect``
  (paired Student-t over seeds; Holm's correction when there are several baselines).
- :class:`NonInferiority`: the treatment is no worse than the baseline by more than ``margin``.
- :class:`Equivalence`: two arms differ by less than ``margin`` either way (TOST, 90% interval).
- :class:`Descriptive`: one measured quantity per seed (often a within-run contrast such as
  log(second half / first half)) lies on the claimed side of ``null`` (one-sample t).
- :class:`Deterministic`: exact measurements (memory, gradient equality) against thresholds.

Every rule returns one of ``holds``, ``fails`` or ``inconclusive``; the runner adds
``not-judged`` (smoke sizes, too few seeds, a failed sanity gate, unscored divergence).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from layerwise.studies._stats import holm, paired_differences, t_interval

Better = Literal["lower", "higher"]
Values = Mapping[str, np.ndarray]  # arm -> one finite value per seed, seeds aligned


@dataclass(frozen=True)
class Judgement:
    """A rule's call with its effect (in the metric's units) and interval."""

    verdict: str
    effect: float
    ci: tuple[float, float]
    level: float
    summary: str
    comparisons: dict = field(default_factory=dict)


def _sign(better: str) -> float:
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    return -1.0 if better == "lower" else 1.0


def _fmt(x: float) -> str:
    return f"{x:.4g}"


@dataclass(frozen=True)
class Superiority:
    """``treatment`` is better than every arm in ``baseline`` on ``metric``, by at least
    ``min_effect`` (metric units); ``worst`` scores a diverged seed (a number, or the name of a
    trial result such as ``"chance"``); without it divergence leaves the claim not judged."""

    metric: str
    better: Better
    treatment: str
    baseline: str | tuple[str, ...]
    min_effect: float = 0.0
    worst: float | str | None = None
    kind: str = "superiority"
    min_seeds: int = 2

    def __post_init__(self) -> None:
        _sign(self.better)
        if self.min_effect < 0:
            raise ValueError(f"min_effect is a size in {self.metric}'s units and must be >= 0")

    @property
    def baselines(self) -> tuple[str, ...]:
        return (self.baseline,) if isinstance(self.baseline, str) else tuple(self.baseline)

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.treatment, *self.baselines)

    def judge(self, values: Values) -> Judgement:
        s = _sign(self.better)
        ivs = {b: t_interval(paired_differences(values[self.treatment], values[b]))
               for b in self.baselines}
        reject = holm([iv.p for iv in ivs.values()])
        wins = [r and s * iv.mean > 0 for r, iv in zip(reject, ivs.values(), strict=True)]
        losses = [r and s * iv.mean < 0 for r, iv in zip(reject, ivs.values(), strict=True)]
        binding = min(ivs, key=lambda b: s * ivs[b].mean)  # the comparison the claim hinges on
        iv = ivs[binding]
        large = all(s * v.mean >= self.min_effect for v in ivs.values())
        if any(losses):
            verdict = "fails"
        elif all(wins) and large:
            verdict = "holds"
        else:
            verdict = "inconclusive"
        note = "" if large or not all(wins) else f"; below the declared minimum effect {self.min_effect}"
        multi = f", Holm-corrected over {len(ivs)} baselines" if len(ivs) > 1 else ""
        summary = (f"{self.treatment} - {binding} on {self.metric} ({self.better} is better): "
                   f"{_fmt(iv.mean)} [{_fmt(iv.lo)}, {_fmt(iv.hi)}], paired t over {iv.n} seeds{multi}"
                   f"{note}")
        comparisons = {b: {"diff": v.mean, "ci95": [v.lo, v.hi], "p": v.p} for b, v in ivs.items()}
        return Judgement(verdict, iv.mean, (iv.lo, iv.hi), iv.level, summary, comparisons)


@dataclass(frozen=True)
class NonInferiority:
    """``treatment`` is worse than ``baseline`` by less than ``margin`` (metric units): holds when
    the 95% interval of the difference stays inside the margin on the worse side."""

    metric: str
    better: Better
    treatment: str
    baseline: str
    margin: float
    worst: float | str | None = None
    kind: str = "non-inferiority"
    min_seeds: int = 2

    def __post_init__(self) -> None:
        _sign(self.better)
        if not self.margin > 0:
            raise ValueError("a non-inferiority margin must be > 0")

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.treatment, self.baseline)

    def judge(self, values: Values) -> Judgement:
        s = _sign(self.better)
        iv = t_interval(paired_differences(values[self.treatment], values[self.baseline]))
        worse_bound = min(s * iv.lo, s * iv.hi)
        better_bound = max(s * iv.lo, s * iv.hi)
        if not iv.defined:
            verdict = "inconclusive"
        elif worse_bound > -self.margin:
            verdict = "holds"
        elif better_bound < -self.margin:
            verdict = "fails"
        else:
            verdict = "inconclusive"
        summary = (f"{self.treatment} - {self.baseline} on {self.metric} ({self.better} is better): "
                   f"{_fmt(iv.mean)} [{_fmt(iv.lo)}, {_fmt(iv.hi)}], paired t over {iv.n} seeds; "
                   f"non-inferior if no worse than {self.margin}")
        return Judgement(verdict, iv.mean, (iv.lo, iv.hi), iv.level, summary)


@dataclass(frozen=True)
class Equivalence:
    """``treatment`` and ``baseline`` differ by less than ``margin`` either way: two one-sided
    tests at 5% (Schuirmann, 1987), i.e. the 90% interval of the difference inside +-margin."""

    metric: str
    treatment: str
    baseline: str
    margin: float
    worst: float | str | None = None
    better: str = "equivalent"
    kind: str = "equivalence"
    min_seeds: int = 2

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise ValueError("an equivalence margin must be > 0")

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.treatment, self.baseline)

    def judge(self, values: Values) -> Judgement:
        iv = t_interval(paired_differences(values[self.treatment], values[self.baseline]), level=0.90)
        if not iv.defined:
            verdict = "inconclusive"
        elif -self.margin < iv.lo and iv.hi < self.margin:
            verdict = "holds"
        elif iv.lo >= self.margin or iv.hi <= -self.margin:
            verdict = "fails"
        else:
            verdict = "inconclusive"
        summary = (f"{self.treatment} - {self.baseline} on {self.metric}: {_fmt(iv.mean)} "
                   f"[{_fmt(iv.lo)}, {_fmt(iv.hi)}] (90%, paired t over {iv.n} seeds); "
                   f"equivalent if inside +-{self.margin}")
        return Judgement(verdict, iv.mean, (iv.lo, iv.hi), iv.level, summary)


@dataclass(frozen=True)
class Descriptive:
    """One value per seed in ``arm`` (default: the study's only or first arm) lies on the
    ``better`` side of ``null`` by at least ``min_effect`` (one-sample t over seeds)."""

    metric: str
    better: Better
    null: float = 0.0
    min_effect: float = 0.0
    arm: str | None = None
    worst: float | str | None = None
    kind: str = "descriptive"
    min_seeds: int = 2

    def __post_init__(self) -> None:
        _sign(self.better)

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.arm,) if self.arm else ()

    def judge(self, values: Values) -> Judgement:
        s = _sign(self.better)
        arm = self.arm or next(iter(values))
        iv = t_interval(values[arm], null=self.null)
        lo, hi = s * (iv.lo - self.null), s * (iv.hi - self.null)
        large = s * (iv.mean - self.null) >= self.min_effect
        if iv.defined and min(lo, hi) > 0 and large:
            verdict = "holds"
        elif iv.defined and max(lo, hi) < 0:
            verdict = "fails"
        else:
            verdict = "inconclusive"
        side = "below" if self.better == "lower" else "above"
        note = "" if large or not (iv.defined and min(lo, hi) > 0) else (
            f"; below the declared minimum effect {self.min_effect}")
        summary = (f"{self.metric} in {arm}: {_fmt(iv.mean)} [{_fmt(iv.lo)}, {_fmt(iv.hi)}], "
                   f"one-sample t over {iv.n} seeds; claimed {side} {self.null}{note}")
        return Judgement(verdict, iv.mean - self.null, (iv.lo - self.null, iv.hi - self.null),
                         iv.level, summary)


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Check:
    """``metric`` of ``arm`` compared with ``threshold`` by ``op`` (one of < <= > >=)."""

    metric: str
    op: str
    threshold: float
    arm: str | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {', '.join(_OPS)}, got {self.op!r}")


@dataclass(frozen=True)
class Deterministic:
    """Exact measurements against thresholds: holds iff every check passes on every seed (no
    interval: repeated identical values carry no spread to resample)."""

    checks: tuple[Check, ...]
    worst: None = None
    kind: str = "deterministic"
    min_seeds: int = 1

    def __post_init__(self) -> None:
        if not self.checks:
            raise ValueError("a deterministic claim needs at least one check")

    @property
    def metric(self) -> str:
        return self.checks[0].metric

    @property
    def better(self) -> str:
        return "lower" if self.checks[0].op.startswith("<") else "higher"

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.arm for c in self.checks if c.arm))

    def judge(self, values: Mapping[str, Mapping[str, np.ndarray]]) -> Judgement:
        """``values[arm][metric]``: one value per seed."""
        results, words = {}, []
        for c in self.checks:
            arm = c.arm or next(iter(values))
            x = np.asarray(values[arm][c.metric], dtype=float)
            ok = bool(x.size) and all(math.isfinite(v) and _OPS[c.op](v, c.threshold) for v in x)
            results[f"{arm}:{c.metric}"] = {"values": x.tolist(), "op": c.op, "threshold": c.threshold,
                                            "passed": ok}
            words.append(f"{c.metric}[{arm}] = {_fmt(float(np.max(x)) if x.size else math.nan)} "
                         f"{c.op} {c.threshold}: {'yes' if ok else 'no'}")
        first = next(iter(results.values()))["values"]
        verdict = "holds" if all(r["passed"] for r in results.values()) else "fails"
        return Judgement(verdict, float(first[0]) if first else math.nan,
                         (float(min(first, default=math.nan)), float(max(first, default=math.nan))),
                         1.0, "; ".join(words), results)


Rule = Superiority | NonInferiority | Equivalence | Descriptive | Deterministic


@dataclass(frozen=True)
class Gate:
    """What "learned" means: the mean of ``metric`` in ``arms`` (default: every arm the rule
    uses) is above ``above`` / below ``below`` (a number, or the name of a trial result such as
    ``"chance"`` or ``"unigram_entropy"``) by ``margin``. ``which="any"``: one arm suffices."""

    metric: str
    above: float | str | None = None
    below: float | str | None = None
    margin: float = 0.0
    arms: tuple[str, ...] | None = None
    which: Literal["each", "any"] = "each"

    def __post_init__(self) -> None:
        if (self.above is None) == (self.below is None):
            raise ValueError(f"gate on {self.metric}: give exactly one of above= or below=")
        if self.which not in ("each", "any"):
            raise ValueError("gate which= must be 'each' or 'any'")

    def failures(self, results: Mapping[str, Sequence[Mapping[str, float]]],
                 arms: Sequence[str]) -> list[str]:
        """One sentence per arm that fails the gate (empty when the gate passes)."""
        bad = []
        for arm in self.arms or arms:
            reason = self._check(arm, results[arm])
            if reason:
                bad.append(reason)
        if self.which == "any" and len(bad) < len(self.arms or arms):
            return []
        return bad

    def _check(self, arm: str, rows: Sequence[Mapping[str, float]]) -> str | None:
        value = _finite_mean([r.get(self.metric, math.nan) for r in rows])
        ref = self.above if self.above is not None else self.below
        level = ref if not isinstance(ref, str) else _finite_mean([r.get(ref, math.nan) for r in rows])
        if self.above is not None:
            bound, ok, word = level + self.margin, value > level + self.margin, "above"
        else:
            bound, ok, word = level - self.margin, value < level - self.margin, "below"
        if ok:
            return None
        name = f"{ref} {_fmt(level)}" if isinstance(ref, str) else _fmt(level)
        shift = f" {'+' if word == 'above' else '-'} {self.margin}" if self.margin else ""
        return (f"arm {arm!r} did not learn: {self.metric} {_fmt(value)} is not {word} "
                f"{name}{shift} = {_fmt(bound)}")


def _finite_mean(values: Sequence[float]) -> float:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan
