"""Run a study: every arm over the seeds, a report, and ``verdict.json``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from layerwise._registry import get
from layerwise.studies.recipe import Recipe
from layerwise.studies.stats import bootstrap_diff_ci, bootstrap_mean_ci, judge


def get_recipe(name: str) -> Recipe:
    """The registered study called ``name``."""
    return get(name, kind="study").obj()


def run_study(study: str | Recipe, *, full: bool = False, seeds: int | None = None,
              out: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
              progress: bool = True, report: bool = True) -> dict[str, Any]:
    """Train every arm of ``study`` over ``seeds`` seeds, write the report and verdict.json.

    Returns the verdict dict. Smoke mode, or fewer than two seeds, gives ``"not-judged"``.
    """
    recipe = get_recipe(study) if isinstance(study, str) else study
    mode = "full" if full else "smoke"
    cfg = recipe.make_config(mode, overrides)
    n_seeds = seeds if seeds is not None else (recipe.seeds if full else recipe.smoke_seeds)
    if n_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {n_seeds}")
    out_dir = Path(out) if out is not None else Path("runs") / recipe.name
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results, run_dirs = _train_all(recipe, cfg, n_seeds, out_dir, progress)
    verdict = make_verdict(recipe, mode, cfg, results, time.perf_counter() - start)
    (out_dir / "verdict.json").write_text(json.dumps(_json_safe(verdict), indent=2))
    if report:
        extra = recipe.sections(cfg, results, out_dir) if recipe.sections else []
        _write_report(recipe, verdict, run_dirs, out_dir, extra)
    return verdict


def _train_all(recipe: Recipe, cfg: Any, n_seeds: int, out_dir: Path,
               show: bool) -> tuple[dict[str, list[dict]], list[Path]]:
    results: dict[str, list[dict]] = {arm: [] for arm in recipe.arms}
    run_dirs = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, disable=not show, transient=False) as bar:
        task = bar.add_task(recipe.name, total=len(recipe.arms) * n_seeds)
        for seed in range(n_seeds):
            for arm in recipe.arms:
                bar.update(task, description=f"{recipe.name}: {arm} seed {seed}")
                run_dir = out_dir / "runs" / f"{arm}-s{seed}"
                result = dict(recipe.run(cfg, arm, seed, run_dir))
                if recipe.metric not in result:
                    raise KeyError(f"study {recipe.name}: run() must return {recipe.metric!r}, "
                                   f"got {list(result)}")
                results[arm].append(result)
                run_dirs.append(run_dir)
                bar.advance(task)
    return results, run_dirs


def make_verdict(recipe: Recipe, mode: str, cfg: Any, results: dict[str, list[dict]],
                 seconds: float) -> dict[str, Any]:
    """The verdict dict: per-arm values, mean and CI; treatment-minus-baseline effect; the call."""
    arms = {}
    for arm, rows in results.items():
        values = [float(r[recipe.metric]) for r in rows]
        finite = [v for v in values if math.isfinite(v)]
        mean = sum(finite) / len(finite) if finite else float("nan")
        arms[arm] = {"values": values, "mean": mean, "ci95": list(bootstrap_mean_ci(values)),
                     "n_finite": len(finite)}
    effects = {}
    for arm in recipe.arms[1:]:
        diff, lo, hi = bootstrap_diff_ci(arms[arm]["values"], arms[recipe.baseline]["values"])
        effects[arm] = {"diff": diff, "ci95": [lo, hi], "judged": judge(lo, hi, recipe.better)}
    n_seeds = min(len(r) for r in results.values())
    main = effects[recipe.treatment_arm]
    call = "not-judged" if mode == "smoke" or n_seeds < 2 else main["judged"]
    details = recipe.summarize(cfg, results) if recipe.summarize else {}
    return {
        "study": recipe.name, "paper": recipe.paper, "arxiv": recipe.arxiv, "mode": mode,
        "claim": recipe.claim, "metric": recipe.metric, "better": recipe.better,
        "baseline": recipe.baseline, "treatment": recipe.treatment_arm, "seeds": n_seeds,
        "arms": arms, "effect": {"treatment_minus_baseline": main["diff"], "ci95": main["ci95"],
                                 "per_arm": effects},
        "verdict": call, "details": details, "config": _config_dict(cfg), "seconds": round(seconds, 2),
    }


def _write_report(recipe: Recipe, verdict: dict, run_dirs: list[Path], out_dir: Path,
                  extra: list) -> None:
    from layerwise.report import verdict_section, write_report

    write_report(run_dirs, out_dir / "report.html", title=f"{recipe.name}: {recipe.paper}",
                 names=[p.name for p in run_dirs], sections=[verdict_section(verdict), *extra])


def _config_dict(cfg: Any) -> dict[str, Any]:
    import dataclasses

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
