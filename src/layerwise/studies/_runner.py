"""Run a study: every arm over the seeds (paired), sanity gates, the verdict, a report.

The runner owns what every study shares: one torch thread by default, seeding torch, numpy and
``random`` with the seed before each arm (so arms of a seed share initialisation and data order),
run folders and their metadata, per-layer profiles from each RunLog, divergence accounting, the
sanity gates, the typed :class:`Verdict` with its provenance, and the HTML report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerwise.studies._rules import Deterministic, Judgement, Rule
from layerwise.studies._stats import t_interval
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial
from layerwise.studies._verdict import ArmResult, Verdict, config_json, json_safe

Results = dict[str, list[dict[str, Any]]]


def get_study(name: str) -> Study:
    """The registered study called ``name`` (a KeyError suggests close names)."""
    from layerwise._registry import get

    return get(name, kind="study").obj()


def run_study(study: str | Study, *, size: str = "smoke", seeds: int | None = None,
              out: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
              threads: int = 1, progress: bool = True, report: bool = True,
              resume: bool = False, overwrite: bool = False) -> Verdict:
    """Run every arm of ``study`` over its seeds at ``size`` (tiny | smoke | full); write
    ``OUT/verdict.json``, ``OUT/report.html`` and one run folder per arm and seed under
    ``OUT/runs``. Overrides or a non-registered seed count make the mode ``custom``.

    A folder that already holds a study's results is refused unless ``resume=True`` (keep every
    arm and seed that finished before with the same config, its ``trial.json``, and run only the
    rest) or ``overwrite=True`` (replace them); one process writes a folder at a time."""
    s = get_study(study) if isinstance(study, str) else study
    overrides = dict(overrides or {})
    base = s.config(size, overrides)
    registered = s.seeds.get(size, 1)
    n_seeds = registered if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {n_seeds}")
    custom = bool(overrides) or n_seeds != registered
    mode = "custom" if custom else size
    if resume and overwrite:
        raise ValueError("resume and overwrite contradict each other; choose one")
    out_dir = study_folder(s, out)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with _claimed(out_dir, resume, overwrite):
            return _run(s, base, size, n_seeds, mode, overrides, out_dir, threads, progress, report,
                        resume)
    except Exception:
        if created:  # a run that failed (a bad setting the model refused) leaves no empty folder
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


def study_folder(s: Study, out: str | Path | None) -> Path:
    """Where a run of ``s`` writes: ``out``, or ``runs/NAME`` by default."""
    return Path(out) if out is not None else Path("runs") / s.name


@contextlib.contextmanager
def _claimed(out_dir: Path, resume: bool, overwrite: bool) -> Iterator[None]:
    """Hold ``out_dir`` exclusively; refuse one with earlier results unless told to resume or
    overwrite them (overwrite clears them first)."""
    from layerwise.monitor.runfolder import FolderLock

    lock = FolderLock(out_dir)
    lock.acquire()
    try:
        if overwrite:
            shutil.rmtree(out_dir / "runs", ignore_errors=True)
            for name in ("verdict.json", "report.html"):
                (out_dir / name).unlink(missing_ok=True)
        elif not resume and ((out_dir / "verdict.json").exists() or any((out_dir / "runs").glob("*"))):
            raise FileExistsError(
                f"{out_dir} already holds a study's results; pass --resume (resume=True) to keep the "
                "arms and seeds that finished, --overwrite (overwrite=True) to replace them, or "
                "choose another --out")
        yield
    finally:
        lock.release()


def _run(s: Study, base: Any, size: str, n_seeds: int, mode: str, overrides: dict[str, Any],
         out_dir: Path, threads: int, progress: bool, report: bool, resume: bool) -> Verdict:
    start = time.perf_counter()
    with torch_threads(threads):
        results, run_dirs = _run_trials(s, base, size, n_seeds, out_dir, progress, resume)
    provenance = _provenance(threads, size, n_seeds, time.perf_counter() - start)
    verdict = decide(s, mode, base, results, overrides=overrides, provenance=provenance,
                     run_dirs=[str(p) for p in run_dirs])
    verdict.save(out_dir / "verdict.json")
    if report:
        _write_report(s, base, verdict, results, run_dirs, out_dir, max_metrics=1 if size == "tiny" else None)
    return verdict


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch threads (intra-op), restoring the previous count."""
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _run_trials(s: Study, base: Any, size: str, n_seeds: int, out_dir: Path,
                show: bool, resume: bool) -> tuple[Results, list[Path]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    results: Results = {arm: [] for arm in s.arms}
    run_dirs = []
    columns = (TextColumn("{task.description}", markup=False), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show, transient=False) as bar:
        task = bar.add_task(s.name, total=len(s.arms) * n_seeds)
        steps = bar.add_task("steps of this trial", total=None, visible=False)

        def on_progress(done: int, total: int) -> None:
            bar.update(steps, completed=done, total=total, visible=True)

        for seed in range(n_seeds):
            for arm, delta in s.arms.items():
                bar.update(task, description=f"{s.name}: {arm} seed {seed}")
                run_dir = out_dir / "runs" / f"{arm}-s{seed}"
                cfg = dataclasses.replace(base, **delta)
                done = _finished(run_dir, cfg) if resume else None
                if done is None:
                    if run_dir.exists():  # a rerun replaces its runs (a RunLog would append to them)
                        shutil.rmtree(run_dir)
                    seed_everything(seed)
                    bar.reset(steps, total=None, visible=False)
                    done = _one_trial(s, cfg, Trial(s.name, arm, seed, run_dir, cfg, size, on_progress))
                    _save_trial(run_dir, cfg, done)
                results[arm].append(done)
                run_dirs.append(run_dir)
                bar.advance(task)
    return results, run_dirs


def _one_trial(s: Study, cfg: Any, trial: Trial) -> dict[str, Any]:
    result = dict(s.trial(cfg, trial))
    if s.profiles:
        from layerwise.monitor import RunLog
        from layerwise.monitor.summary import layer_profile

        table = RunLog.read(trial.run_dir)
        for key, p in s.profiles.items():
            value = p.reduce(layer_profile(table, p.metric, last_fraction=p.last_fraction))
            result[key] = [float(v) for v in value] if isinstance(value, list | tuple) else float(value)
    missing = [m for m in _rule_metrics(s) if m not in result]
    if missing:
        raise KeyError(f"study {s.name}: trial() must return {missing}; it returned {sorted(result)}")
    if not (trial.run_dir / "meta.json").exists():  # a measurement with no Monitor: log its numbers
        _log_result(trial, result)
    return result


def _save_trial(run_dir: Path, cfg: Any, result: dict[str, Any]) -> None:
    """``trial.json``: the trial's config and results, the mark of a finished trial."""
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"config": config_json(cfg), "result": json_safe(result)}
    tmp = run_dir / "trial.json.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(run_dir / "trial.json")


def _finished(run_dir: Path, cfg: Any) -> dict[str, Any] | None:
    """The saved results of a finished trial with this config, else None."""
    path = run_dir / "trial.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("config") != config_json(cfg):
        return None
    return {k: (math.nan if v is None else v) for k, v in data["result"].items()}


def _rule_metrics(s: Study) -> list[str]:
    metrics = []
    for rule in (s.rule, *s.also):
        metrics += [c.metric for c in rule.checks] if isinstance(rule, Deterministic) else [rule.metric]
    return metrics


def _log_result(trial: Trial, result: Mapping[str, Any]) -> None:
    from layerwise.monitor import RunLog

    scalars = {k: float(v) for k, v in result.items() if isinstance(v, int | float)}
    with RunLog(trial.run_dir, meta=trial.meta) as log:
        log.log_scalars(0, **scalars)


# ----------------------------------------------------------------------------- the verdict

def decide(s: Study, mode: str, cfg: Any, results: Results, *, overrides: Mapping[str, Any],
           provenance: dict[str, Any], run_dirs: list[str]) -> Verdict:
    """Apply the study's gates and rule to ``results`` (arm -> one result dict per seed)."""
    n_seeds = min(len(rows) for rows in results.values())
    blockers = _size_blockers(mode, n_seeds, s.rule)
    for gate in s.gates:
        blockers += gate.failures(results, _rule_arms(s, s.rule))
    main, why = _judge(s, s.rule, results)
    reason = "; ".join(blockers + why)
    verdict = "not-judged" if reason else main.verdict
    secondary = []
    for rule in s.also:
        j, w = _judge(s, rule, results)
        b = _size_blockers(mode, n_seeds, rule) + [g for gate in s.gates
                                                   for g in gate.failures(results, _rule_arms(s, rule))]
        secondary.append({"rule": rule.kind, "metric": rule.metric,
                          "verdict": "not-judged" if b or w else j.verdict,
                          "reason": "; ".join(b + w), "summary": j.summary,
                          "effect": j.effect, "ci": list(j.ci), "comparisons": j.comparisons})
    rule = s.rule
    effect = {"value": main.effect, "ci": list(main.ci), "level": main.level, "summary": main.summary,
              "comparisons": main.comparisons}
    if s.cost_note and mode == "full":
        effect["cost_note"] = s.cost_note
    return Verdict(
        study=s.name, paper=s.paper, arxiv=s.arxiv, claim=s.claim, mode=mode, rule=rule.kind,
        metric=rule.metric, better=rule.better, seeds=n_seeds, arms=_arm_results(s, results),
        effect=effect, verdict=verdict, reason=reason, secondary=secondary,
        details=_details(results), config=config_json(cfg), overrides=json_safe(dict(overrides)),
        provenance=provenance, seconds=round(provenance["seconds"], 2), run_dirs=run_dirs)


def _rule_arms(s: Study, rule: Rule) -> tuple[str, ...]:
    return rule.arms or (next(iter(s.arms)),)


def _size_blockers(mode: str, n_seeds: int, rule: Rule) -> list[str]:
    if mode in ("tiny", "smoke"):
        return [f"{mode} size: reduced settings, not evidence (run --size full)"]
    if n_seeds < rule.min_seeds:
        return [f"{n_seeds} seed(s): the {rule.kind} rule needs at least {rule.min_seeds}"]
    return []


def _judge(s: Study, rule: Rule, results: Results) -> tuple[Judgement, list[str]]:
    """The rule's judgement, and reasons it cannot stand (unscored divergence)."""
    if isinstance(rule, Deterministic):
        values = {arm: {c.metric: np.array([float(r.get(c.metric, math.nan)) for r in rows])
                        for c in rule.checks}
                  for arm, rows in results.items()}
        return rule.judge(values), []
    values, why = {}, []
    for arm in _rule_arms(s, rule):
        scored, unscored = _score(rule, results[arm])
        values[arm] = scored
        if unscored:
            why.append(f"arm {arm!r} diverged in {unscored}/{len(scored)} seed(s) and the rule declares "
                       f"no worst score (Rule(worst=...)), so the comparison is not judged")
    if why:  # show the effect on the seeds where every arm is finite (the verdict is not-judged)
        keep = np.logical_and.reduce([np.isfinite(v) for v in values.values()])
        values = {a: v[keep] for a, v in values.items()}
    return rule.judge(values), why


def _score(rule: Rule, rows: list[dict[str, Any]]) -> tuple[np.ndarray, int]:
    """Per-seed values of the rule's metric; a diverged (non-finite) seed gets ``rule.worst``."""
    out, unscored = [], 0
    for r in rows:
        v = float(r[rule.metric])
        if not math.isfinite(v):
            if rule.worst is None:
                unscored += 1
            else:
                v = float(r[rule.worst]) if isinstance(rule.worst, str) else float(rule.worst)
        out.append(v)
    return np.array(out), unscored


def _arm_results(s: Study, results: Results) -> dict[str, ArmResult]:
    metric = s.rule.metric
    arms = {}
    for arm, rows in results.items():
        values = [float(r.get(metric, math.nan)) for r in rows]
        finite = [v for v in values if math.isfinite(v)]
        iv = t_interval(finite) if finite else None
        arms[arm] = ArmResult(values=values, mean=iv.mean if iv else math.nan,
                              ci95=(iv.lo, iv.hi) if iv else (math.nan, math.nan),
                              n_finite=len(finite), n_diverged=len(values) - len(finite))
    return arms


def _details(results: Results) -> dict[str, dict[str, Any]]:
    """Every number the trials returned, averaged per arm over finite seeds (lists elementwise)."""
    keys = dict.fromkeys(k for rows in results.values() for r in rows for k in r)
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        out[key] = {}
        for arm, rows in results.items():
            vals = [r[key] for r in rows if key in r]
            out[key][arm] = _mean(vals)
    return out


def _mean(vals: list[Any]) -> Any:
    if vals and all(isinstance(v, list | tuple) for v in vals):
        width = min(len(v) for v in vals)
        return [_mean([v[i] for v in vals]) for i in range(width)]
    x = np.array([float(v) for v in vals if isinstance(v, int | float)], dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _provenance(threads: int, size: str, n_seeds: int, seconds: float) -> dict[str, Any]:
    from layerwise.monitor.runlog import environment

    env = environment()
    return {"size": size, "seeds": n_seeds, "threads": threads, "seconds": seconds,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **env}


def _write_report(s: Study, cfg: Any, verdict: Verdict, results: Results, run_dirs: list[Path],
                  out_dir: Path, max_metrics: int | None) -> None:
    """The study's report; the tiny size (tests) draws one per-layer metric, the rest listed."""
    from layerwise.report import verdict_section, write_report

    extra = s.sections(cfg, results, out_dir)
    write_report(run_dirs, out_dir / "report.html", title=f"{s.name}: {s.paper}",
                 names=[p.name for p in run_dirs], sections=[verdict_section(verdict.to_json()), *extra],
                 max_metrics=max_metrics)
