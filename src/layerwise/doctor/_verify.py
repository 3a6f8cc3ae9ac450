"""``verify``: re-run a diagnosed recipe with its top prescriptions and say whether each helped.

For every seed the recipe is trained from the same initialisation and data once as it is (the
baseline) and once per prescription, applied by :func:`layerwise.doctor._remedies.apply`; every
run is diagnosed. A prescription is judged as the studies judge an arm (paired by seed,
Student-t interval of the per-seed differences, ``layerwise.studies._stats``):

- ``confirmed``: the symptom is gone in every seed and the held-out loss improved (the 95%
  interval of treated - baseline lies below 0);
- ``harm``: the interval lies above 0 (the remedy made the target metric worse);
- ``symptom gone, no gain shown`` / ``not fixed``: neither; the symptom is gone in every seed, or not;
- ``not applicable``: the remedy cannot be applied to this model automatically (and why);
- ``not judged``: the baseline re-run shows the symptom in no seed (the recipe does not reproduce
  the run), so there is nothing for a remedy to remove, or its held-out loss is not finite even
  before training (the loss itself returns NaN or Inf), so there is no scale to compare on;
  nothing else is re-run.

The target metric is the held-out loss at the end, capped at that of the untrained network: a
run that diverged (non-finite) or ended worse than it started scores "no better than not
training", so every seed enters the paired comparison on one bounded scale.

``restart="checkpoint"``: the baseline re-runs save a checkpoint every ``checkpoint_every``
steps, and each treated run starts from its seed's last checkpoint before the symptom's onset in
that seed (the last healthy one; from scratch when there is none), with the remedy applied
there: the steps before it are not re-trained, and the remedy is judged as a rollback would use
it. A fault injected before that step carries over through the weights and the optimizer's state
(learning rates included), not through flags such as ``requires_grad``; a re-initialisation is
not applicable from a checkpoint (it discards the training the checkpoint holds).

``baselines={seed: (folder, loss)}``: baseline runs trained before by :func:`train_baseline`
(its run folder and the loss it returned) are read instead of trained again; a seeded recipe
trains the same run twice, so the verdicts do not change (from scratch only: such runs hold no
checkpoints).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from layerwise.doctor._checkpoint import checkpoints, restore
from layerwise.doctor._diagnose import diagnose
from layerwise.doctor._finding import Diagnosis, Finding, Prescription
from layerwise.doctor._remedies import NotApplicable, apply
from layerwise.doctor._setup import Setup, held_out_loss, load_recipe, train
from layerwise.studies._stats import paired_differences, t_interval

Recipe = Callable[[int], Setup]


@dataclass
class Check:
    """One prescription re-run over the seeds."""

    prescription: Prescription
    verdict: str
    gone: list[bool] = field(default_factory=list)  # symptom absent from the treated run, per seed
    treated: list[float] = field(default_factory=list)  # held-out loss, per seed
    diff: float = math.nan  # mean treated - baseline (lower is better)
    ci: tuple[float, float] = (math.nan, math.nan)
    reason: str = ""
    starts: list[int] = field(default_factory=list)  # the step each seed's treated run started from


@dataclass
class Verification:
    """The paired re-runs of one diagnosis."""

    symptom: str
    seeds: list[int]
    baseline: list[float]  # held-out loss per seed
    reproduced: list[bool]  # the baseline re-run shows the symptom, per seed
    checks: list[Check] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        seen = sum(self.reproduced)
        lines = [f"verify {self.symptom}: baseline re-run shows it in {seen}/{len(self.seeds)} seeds, "
                 f"held-out loss {_mean(self.baseline):.4g}"]
        for c in self.checks:
            p = c.prescription
            head = f"- {p.component}({', '.join(f'{k}={v}' for k, v in p.settings.items())}): {c.verdict}"
            if c.verdict in ("not applicable", "not judged"):
                lines.append(f"{head} ({c.reason})")
                continue
            since = f" (from steps {', '.join(map(str, c.starts))})" if any(c.starts) else ""
            lines.append(f"{head}; symptom gone in {sum(c.gone)}/{len(c.gone)} seeds; treated - baseline "
                         f"{c.diff:+.4g} [{c.ci[0]:+.4g}, {c.ci[1]:+.4g}] (95%, paired t){since}")
        return "\n".join(lines)


def verify(recipe: Recipe | str, diagnosis: Diagnosis | None = None, *, seeds: Sequence[int] = (0, 1, 2),
           top_k: int = 2, out: str | Path = "verify", progress: Callable[[str], None] | None = None,
           restart: str = "scratch", checkpoint_every: int = 10,
           baselines: Mapping[int, tuple[str | Path, float]] | None = None) -> Verification:
    """Re-run ``recipe`` (a function of the seed, or ``"module:function"``) with the top ``top_k``
    prescriptions of the first root-cause finding of ``diagnosis`` (default: the diagnosis of the
    first seed's baseline run), each treated run from scratch or (``restart="checkpoint"``) from
    its seed's last checkpoint before the onset; run folders go under ``out``; the baseline runs
    of the seeds in ``baselines`` are read from there instead of trained."""
    fn = load_recipe(recipe) if isinstance(recipe, str) else recipe
    seeds = _check(seeds, top_k, restart, checkpoint_every)
    given = _given(baselines, restart)
    out, say = Path(out), progress or (lambda _: None)
    every = checkpoint_every if restart == "checkpoint" else None
    baseline, folders = [], [Path(given[s][0]) if s in given else out / f"baseline-s{s}" for s in seeds]
    for seed, folder in zip(seeds, folders, strict=True):
        if seed in given:
            baseline.append(float(given[seed][1]))
            continue
        say(f"baseline, seed {seed}")
        baseline.append(_score(fn, seed, None, folder, checkpoint_every=every))
    runs = [diagnose(folder) for folder in folders]
    target = _target(diagnosis or runs[0])
    result = Verification(target.symptom, list(seeds), baseline,
                          [_has(d, target.symptom) for d in runs])
    starts = {seed: _last_healthy(folder, run, target) if every else SCRATCH
              for seed, folder, run in zip(seeds, folders, runs, strict=True)}
    unjudged = _unjudged(result)
    for rank, p in enumerate(target.prescriptions[:top_k], 1):
        if unjudged:
            result.checks.append(Check(p, "not judged", reason=unjudged))
            continue
        say(f"prescription {rank}: {p.component}")
        folder = out / f"rx{rank}-{p.component}"
        result.checks.append(_check_one(fn, seeds, p, target.symptom, baseline, folder, starts))
    (out / "verification.json").write_text(json.dumps(result.as_dict(), indent=1, default=str) + "\n")
    return result


def _check(seeds: Sequence[int], top_k: int, restart: str, checkpoint_every: int) -> list[int]:
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least 2 distinct seeds for a paired interval, got {seeds}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if restart not in ("scratch", "checkpoint"):
        raise ValueError(f"restart must be 'scratch' or 'checkpoint', got {restart!r}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive number of steps, got {checkpoint_every}")
    return seeds


def _given(baselines: Mapping[int, tuple[str | Path, float]] | None, restart: str) -> dict:
    given = dict(baselines or {})
    if given and restart != "scratch":
        raise ValueError("baselines trained elsewhere hold no checkpoints to restart from: verify them with "
                         "restart='scratch', or leave baselines out to train the baselines here")
    missing = [seed for seed, (folder, _) in given.items() if not Path(folder).is_dir()]
    if missing:
        raise ValueError(f"the baseline run folders of seeds {missing} do not exist: pass the folders "
                         "train_baseline wrote, or leave those seeds out of baselines")
    return given


def train_baseline(recipe: Recipe | str, seed: int, folder: str | Path) -> float:
    """One seed's baseline run of ``recipe`` trained into ``folder`` as :func:`verify` trains it:
    its held-out loss, capped at the untrained one (pass both back as ``baselines``)."""
    fn = load_recipe(recipe) if isinstance(recipe, str) else recipe
    return _score(fn, int(seed), None, Path(folder))


SCRATCH: tuple[int, Path | None] = (0, None)  # (step, checkpoint) of a run from scratch


def _last_healthy(run: Path, diagnosis: Diagnosis, target: Finding) -> tuple[int, Path | None]:
    """(step, path) of the run's last checkpoint before the onset of ``target``'s symptom in that
    run (the target's own onset where the run does not show it); SCRATCH when none comes before."""
    onset = next((f.onset_step for f in diagnosis.findings if f.symptom == target.symptom), target.onset_step)
    before = [(step, path) for step, path in checkpoints(run).items() if step <= (onset or 0)]
    return max(before) if before else SCRATCH


def _unjudged(result: Verification) -> str:
    """Why no prescription can be judged on these baselines ("" when they can)."""
    if not any(result.reproduced):
        return f"no baseline re-run shows {result.symptom}: the recipe does not reproduce the diagnosed run"
    broken = [s for s, v in zip(result.seeds, result.baseline, strict=True) if not math.isfinite(v)]
    if broken:
        return (f"the held-out loss is not finite even before training (seeds {broken}): the loss itself "
                "returns NaN or Inf, so no remedy can be scored on it; fix the loss, then verify")
    return ""


def _target(diagnosis: Diagnosis) -> Finding:
    roots = [f for f in diagnosis.findings if f.explained_by is None]
    if not roots:
        raise ValueError(f"{diagnosis.run}: no symptom found, so there is nothing to verify")
    if not roots[0].prescriptions:
        raise ValueError(f"{roots[0].symptom} has no prescription to verify")
    return roots[0]


def _check_one(fn: Recipe, seeds: list[int], p: Prescription, symptom: str, baseline: list[float],
               folder: Path, starts: dict[int, tuple[int, Path | None]]) -> Check:
    treated, gone = [], []
    for seed in seeds:
        try:
            treated.append(_score(fn, seed, p, folder / f"s{seed}", start=starts[seed][1]))
        except NotApplicable as err:
            return Check(p, "not applicable", reason=str(err))
        gone.append(not _has(diagnose(folder / f"s{seed}"), symptom))
    interval = t_interval(paired_differences(treated, baseline))
    if interval.hi < 0 and all(gone):
        verdict = "confirmed"
    elif interval.lo > 0:
        verdict = "harm"
    else:
        verdict = "symptom gone, no gain shown" if all(gone) else "not fixed"
    return Check(p, verdict, gone, treated, interval.mean, (interval.lo, interval.hi),
                 starts=[starts[seed][0] for seed in seeds])


def _score(fn: Recipe, seed: int, p: Prescription | None, folder: Path, *, start: Path | None = None,
           checkpoint_every: int | None = None) -> float:
    """Held-out loss of one seeded run (from checkpoint ``start``, with ``p`` applied), capped at
    its untrained loss."""
    setup = fn(seed)
    untrained = held_out_loss(setup)
    setup.checkpoint_every = checkpoint_every
    step = restore(setup, start) if start is not None else 0
    if p is not None:
        if step and p.component == "init":
            raise NotApplicable("a re-initialisation discards the training the checkpoint holds: "
                                "verify it from scratch (restart='scratch')")
        apply(p, setup)
    final = train(setup, folder, meta={"seed": seed, "prescription": asdict(p) if p else None,
                                       "start_step": step}, start=step)
    return min(final, untrained)


def _has(d: Diagnosis, symptom: str) -> bool:
    return any(f.symptom == symptom for f in d.findings)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
