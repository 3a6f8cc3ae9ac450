"""``Verdict``: the typed result of a study, written as ``verdict.json``."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WORDS = ("holds", "fails", "inconclusive", "not-judged")


@dataclass(frozen=True)
class ArmResult:
    """The judged metric of one arm: one value per seed (NaN where the seed diverged)."""

    values: list[float]
    mean: float
    ci95: tuple[float, float]
    n_finite: int
    n_diverged: int


@dataclass(frozen=True)
class Verdict:
    """A study's call. ``verdict`` is one of :data:`WORDS`; ``reason`` says why a study was not
    judged; ``effect`` carries the rule's estimate, interval and one-sentence summary."""

    study: str
    paper: str
    arxiv: str
    claim: str
    mode: str
    rule: str
    metric: str
    better: str
    seeds: int
    arms: dict[str, ArmResult]
    effect: dict[str, Any]
    verdict: str
    reason: str
    secondary: list[dict[str, Any]]
    details: dict[str, Any]
    config: dict[str, Any]
    overrides: dict[str, Any]
    provenance: dict[str, Any]
    seconds: float
    run_dirs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verdict not in WORDS:
            raise ValueError(f"verdict must be one of {WORDS}, got {self.verdict!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite numbers become null)."""
        return json_safe(asdict(self))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Verdict:
        """Read a ``verdict.json`` written by :meth:`save` (nulls back to NaN)."""
        data = json.loads(Path(path).read_text())
        arms = {k: ArmResult(values=[_num(v) for v in a["values"]], mean=_num(a["mean"]),
                             ci95=tuple(_num(v) for v in a["ci95"]), n_finite=a["n_finite"],
                             n_diverged=a["n_diverged"]) for k, a in data.pop("arms").items()}
        return cls(arms=arms, **data)


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def config_json(cfg: Any) -> dict[str, Any]:
    """A config dataclass as verdict.json and trial.json hold it (what a JSON round trip gives
    back: tuples as lists), so a saved config compares equal to the registered one."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def json_safe(value: Any) -> Any:
    """A JSON-safe copy: tuples as lists, numpy scalars as numbers, non-finite floats as null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    return value
