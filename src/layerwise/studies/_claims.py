"""The claims table: every registered study's committed full-size verdict from ``results/``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from layerwise.studies._study import Study
from layerwise.studies._verdict import config_json

RESULTS = Path("results")


def claim_rows(results: str | Path = RESULTS) -> list[dict[str, Any]]:
    """One row per registered study: its verdict from ``results/<study>/verdict.json`` (or
    ``missing``), the effect, seeds, minutes, and why a result is stale or not judged."""
    from layerwise._registry import list_methods

    rows = []
    for entry in list_methods(kind="study"):
        study = entry.obj()
        path = Path(results) / study.name / "verdict.json"
        if not path.exists():
            rows.append({"study": study.name, "arxiv": study.arxiv, "claim": study.claim,
                         "verdict": "missing", "reason": f"no {path}; run `make claims STUDY={study.name}`"})
            continue
        data = json.loads(path.read_text())
        stale = stale_reasons(study, data)
        rows.append({
            "study": study.name, "arxiv": study.arxiv, "claim": study.claim,
            "verdict": data["verdict"], "rule": data.get("rule"), "metric": data.get("metric"),
            "effect": data.get("effect", {}).get("value"), "ci": data.get("effect", {}).get("ci"),
            "summary": data.get("effect", {}).get("summary", ""), "seeds": data.get("seeds"),
            "minutes": round((data.get("seconds") or 0) / 60, 1), "mode": data.get("mode"),
            "reason": data.get("reason", ""), "stale": stale,
            "revision": data.get("provenance", {}).get("git_revision"),
        })
    return rows


def stale_reasons(study: Study, data: dict[str, Any]) -> list[str]:
    """Why a saved verdict no longer describes the registered full-size study (empty: current)."""
    reasons = []
    if data.get("mode") != "full":
        reasons.append(f"mode is {data.get('mode')!r}, not 'full'")
    registered = config_json(study.config("full"))
    saved = data.get("config", {})
    changed = sorted(k for k in set(registered) | set(saved) if registered.get(k) != saved.get(k))
    if changed:
        reasons.append("config differs from the registered full size in " + ", ".join(changed))
    if data.get("seeds") != study.seeds.get("full"):
        reasons.append(f"{data.get('seeds')} seeds, registered {study.seeds.get('full')}")
    if list(data.get("arms", {})) != list(study.arms):
        reasons.append(f"arms {list(data.get('arms', {}))} differ from {list(study.arms)}")
    return reasons


def claims_markdown(rows: list[dict[str, Any]]) -> str:
    """``results/CLAIMS.md``: claim, verdict, effect and interval, seeds, minutes."""
    lines = ["# Claims", "",
             "Each study's verdict at its registered full size, written by `make claims` "
             "(`layerwise claims` prints this table). Rules: README, section Verdicts.", "",
             "| study | arXiv | verdict | effect [95% CI] | seeds | minutes | why / summary |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        note = r.get("reason") or r.get("summary", "")
        if r.get("stale"):
            note = "STALE: " + "; ".join(r["stale"]) + (f". {note}" if note else "")
        lines.append(f"| `{r['study']}` | {r['arxiv']} | **{r['verdict']}** | {_effect(r)} | "
                     f"{r.get('seeds', '')} | {r.get('minutes', '')} | {_cell(note)} |")
    return "\n".join(lines) + "\n"


def write_claims(results: str | Path = RESULTS) -> Path:
    path = Path(results) / "CLAIMS.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(claims_markdown(claim_rows(results)))
    return path


def _effect(r: dict[str, Any]) -> str:
    value, ci = r.get("effect"), r.get("ci") or []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    bounds = [b for b in ci if b is not None]
    return f"{value:.4g} [{bounds[0]:.4g}, {bounds[1]:.4g}]" if len(bounds) == 2 else f"{value:.4g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

