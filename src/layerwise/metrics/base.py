"""What a Monitor metric is: a named, registered reference definition plus where it is measured.

Each metric is a plain function giving its *naive* definition (used by the tests and as the
documentation); the Monitor computes the same numbers with fused, on-device reductions. The
``stage`` tells the Monitor when the inputs exist:

* ``forward``: a layer's output, in a forward hook;
* ``backward``: the gradient of the loss with respect to a layer's output;
* ``params``: the layer's parameters and their gradients, once backward is done;
* ``update``: the parameters before and after ``optimizer.step()``;
* ``samples``: per-sample gradients of the layer's Linear weights.

Tiers: ``economy`` metrics are cheap enough for every step; ``business`` ones cost more and are
meant for a sparser cadence (``every=10``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from layerwise._registry import register

TIERS = ("economy", "business")
STAGES = ("forward", "backward", "params", "update", "samples")


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, tier, stage and naive reference function."""

    name: str
    tier: str
    stage: str
    reference: Callable


METRICS: dict[str, MetricSpec] = {}


def metric(name: str, *, tier: str, stage: str, paper: str, arxiv: str | None = None) -> Callable:
    """Register ``fn`` as the reference definition of Monitor metric ``name``."""
    if tier not in TIERS or stage not in STAGES:
        raise ValueError(f"metric {name!r}: tier must be one of {TIERS}, stage one of {STAGES}")

    def decorate(fn: Callable) -> Callable:
        METRICS[name] = MetricSpec(name, tier, stage, fn)
        return register(name, kind="metric", paper=paper, arxiv=arxiv)(fn)

    return decorate


def resolve(metrics: str | list[str] | tuple[str, ...]) -> list[MetricSpec]:
    """Metric specs for a tier name (``"economy"``, ``"business"`` = both tiers, ``"all"``) or names."""
    if isinstance(metrics, str) and metrics in ("economy", "business", "all"):
        tiers = {"economy": ("economy",)}.get(metrics, TIERS)
        return [m for m in METRICS.values() if m.tier in tiers]
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(sorted(METRICS))} "
            "or a tier: 'economy', 'business', 'all'"
        )
    return [METRICS[n] for n in dict.fromkeys(names)]
