"""A doctor rule: the metrics it reads, its source, and a check from signals to a finding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from layerwise.doctor._finding import Finding
from layerwise.doctor._signals import Signals

RULES: list[Rule] = []


@dataclass(frozen=True)
class Rule:
    name: str
    symptom: str
    needs: tuple[str, ...]  # any one of these metrics lets the rule run
    source: str
    check: Callable[[Signals], Finding | None]


def rule(name: str, *, symptom: str, needs: tuple[str, ...], source: str) -> Callable:
    """Register ``check(signals) -> Finding | None`` as a doctor rule."""

    def add(check: Callable[[Signals], Finding | None]) -> Callable:
        RULES.append(Rule(name, symptom, needs, source, check))
        return check

    return add
