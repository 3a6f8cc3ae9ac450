"""What the doctor says of a run: findings (symptom, where, since when, evidence, prescriptions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Prescription:
    """A layerwise component to try, with its settings and why it addresses the symptom."""

    component: str
    settings: dict[str, Any]
    why: str


@dataclass(frozen=True)
class Finding:
    """One symptom: ``layers`` where it shows (model order), ``onset_step`` when it began,
    ``evidence`` (the metric values and the thresholds they crossed), ranked ``prescriptions``."""

    symptom: str
    layers: tuple[str, ...]
    onset_step: int | None
    evidence: dict[str, Any]
    severity: str
    rule: str
    source: str
    prescriptions: tuple[Prescription, ...] = ()
    explained_by: str | None = None  # an earlier finding this one likely follows from
    resolution: int = 1  # steps between the rows the rule read (a probe every 10 steps: 10)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")


@dataclass
class Diagnosis:
    """Every finding of a run (most severe first), the rules that could not run and why."""

    run: str
    findings: list[Finding] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # rule -> which metrics it lacked
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.findings

    @property
    def top(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run, "healthy": self.healthy,
                "findings": [asdict(f) for f in self.findings], "skipped": self.skipped,
                "notes": self.notes}

    def text(self) -> str:
        """A plain-text summary, most severe finding first."""
        lines = [f"{self.run}: " + ("no symptom found" if self.healthy else
                                    f"{len(self.findings)} finding(s)")]
        lines += [f"  note: {n}" for n in self.notes]
        for f in self.findings:
            where = ", ".join(f.layers[:4]) + (" ..." if len(f.layers) > 4 else "") or "model"
            since = _since(f)
            lines.append(f"- [{f.severity}] {f.symptom} in {where}{since} ({f.rule}; {f.source})")
            if f.explained_by:
                lines.append(f"    likely a consequence of the {f.explained_by} above")
            lines.append("    evidence: " + ", ".join(f"{k}={_fmt(v)}" for k, v in f.evidence.items()))
            for i, p in enumerate(f.prescriptions, 1):
                settings = ", ".join(f"{k}={v}" for k, v in p.settings.items())
                lines.append(f"    {i}. {p.component}({settings}): {p.why}")
        if self.skipped:
            lines.append("  not checked: " + _skipped(self.skipped))
        return "\n".join(lines)


def _skipped(skipped: dict[str, str]) -> str:
    """Rules that could not run, grouped by what records their metrics: "a, b (needs x or y [tier])"."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for rule_name, why in skipped.items():
        needs, _, tier = why.removeprefix("needs ").partition(" [")
        rules, metrics = groups.setdefault(tier, ([], []))
        rules.append(rule_name)
        metrics += [m for m in needs.split(" or ") if m not in metrics]
    return "; ".join(f"{', '.join(rules)} (needs {' or '.join(metrics)} [{tier})"
                     for tier, (rules, metrics) in groups.items())


def _since(f: Finding) -> str:
    """" since step N", with where the rule's criterion was met when the onset was dated before it."""
    if f.onset_step is None:
        return ""
    detected = f.evidence.get("detected_step")
    met = f" (criterion met at step {detected})" if detected not in (None, f.onset_step) else ""
    return f" since step {f.onset_step}{met}"


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
