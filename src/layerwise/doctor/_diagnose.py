"""``diagnose(run)``: every rule over a run's signals, findings ranked, nothing written over the run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from layerwise.doctor import rules as _rules  # noqa: F401  (registers the rules)
from layerwise.doctor._finding import SEVERITIES, Diagnosis, Finding
from layerwise.doctor._prescribe import fit_to_model
from layerwise.doctor._rule import RULES
from layerwise.doctor._signals import TIER_OF, Signals, interval, load

NOT_COVERED: tuple[str, ...] = ()


def diagnose(run: str | Path | Signals) -> Diagnosis:
    """Findings of the run folder ``run`` (or of ready :class:`Signals`), most severe and earliest
    first. Rules whose metrics the run lacks are listed in ``skipped`` with the Monitor tier or
    call that records them; a run still in progress is diagnosed as far as it got, and says so."""
    signals = run if isinstance(run, Signals) else load(run)
    out = Diagnosis(str(signals.path or "run"))
    status = signals.meta.get("status")
    if status in ("running", "crashed"):
        how = "is still in progress" if status == "running" else "crashed without closing"
        out.notes.append(f"the run {how}: diagnosed up to step {_last_step(signals)}, its last "
                         "flushed one")
    activations = _activations(signals)
    for r in RULES:
        if not any(signals.has(n) for n in r.needs):
            tiers = " / ".join(dict.fromkeys(TIER_OF.get(n, "Monitor") for n in r.needs))
            out.skipped[r.name] = f"needs {' or '.join(r.needs)} [{tiers}]"
            continue
        finding = r.check(signals)
        if finding is not None:
            out.findings.append(replace(finding, resolution=_interval(signals, r.needs),
                                        prescriptions=fit_to_model(finding.prescriptions, finding.symptom,
                                                                   activations)))
    out.findings = explain(out.findings)
    return out


def _interval(signals: Signals, needs: tuple[str, ...]) -> int:
    """Steps between the logged rows of the first metric a rule read (1: every step)."""
    for name in needs:
        steps = signals.metrics[name].steps if name in signals.metrics else (
            signals.scalars[name][0] if name in signals.scalars else None)
        if steps is not None and len(steps) > 1:
            return interval(steps)
    return 1


def _activations(signals: Signals) -> dict[str, int] | None:
    model = signals.meta.get("model")
    return model.get("activations") if isinstance(model, dict) else None


# symptom -> symptoms it brings about (a dead layer passes no gradient to the layers below it)
CONSEQUENCES = {
    "non-finite values": {"exploding gradients", "loss spike", "update too large", "no progress",
                          "dead units", "vanishing gradients", "massive activations"},
    # a few huge entries scale the weight gradients they meet and, normalised, swamp what tells
    # tokens apart (Sun et al. 2024, arXiv 2402.17762)
    "massive activations": {"exploding gradients", "rank collapse", "loss spike", "no progress"},
    "exploding gradients": {"non-finite values", "loss spike", "update too large", "no progress"},
    "dead units": {"vanishing gradients", "update too small", "no progress", "loss spike"},
    "vanishing gradients": {"update too small", "no progress"},
    "update too small": {"no progress"},
    "saturation": {"vanishing gradients", "update too small", "no progress"},
    "update too large": {"loss spike", "no progress", "dead units"},  # steps that throw ReLU inputs negative
    "attention-logit growth": {"attention-entropy collapse", "rank collapse", "loss spike",
                               "no progress", "exploding gradients", "massive activations"},
    "attention-entropy collapse": {"rank collapse", "loss spike", "no progress"},
    "rank collapse": {"no progress", "vanishing gradients"},
    "loss spike": {"no progress"},  # a spike can undo what the run had learned
    # a block whose output counts for nothing gets no gradient either (its output scales both)
    "unused depth": {"update too small"},
    # gradients that point against each other cancel in their sum: the shared layers barely move
    # for either loss (Yu et al. 2020, arXiv 2001.06782, sec. 2)
    "gradient conflict": {"no progress"},
}


def causal_order(graph: dict[str, set[str]]) -> dict[str, int]:
    """Rank of each symptom in an order where every cause comes before what it brings about
    (breaking ties in onset); of two symptoms that list each other, the one listed first in
    ``graph`` comes first, and among symptoms free to go next, the one listed first."""
    keys = list(graph)
    causes: dict[str, set[str]] = {b: set() for b in keys}
    for i, a in enumerate(keys):
        for b in graph[a] & causes.keys():
            if not (a in graph[b] and keys.index(b) < i):  # of a pair citing each other, the first
                causes[b].add(a)
    order: list[str] = []
    while len(order) < len(keys):
        ready = [k for k in keys if k not in order and causes[k] <= set(order)]
        if not ready:
            raise ValueError(f"the causes of {[k for k in keys if k not in order]} form a cycle: break it")
        order.append(ready[0])
    return {symptom: rank for rank, symptom in enumerate(order)}


CAUSAL_ORDER = causal_order(CONSEQUENCES)


# symptoms judged over the whole run (their onset is the run's start): a cause anywhere in the
# list, at any step, explains them (they cause nothing in turn, so no cycle can form)
WHOLE_RUN = {"no progress"}


def explain(findings: list[Finding]) -> list[Finding]:
    """Mark each finding that another explains, and list the findings that stand on their own
    first (most severe, then earliest: the first finding is the likeliest root cause).

    A cause must have begun no later than its effect: findings are taken in order of their
    earliest possible onset (a symptom read on rows logged every k steps may have begun up to
    k - 1 steps before it was seen; one read on a step's update, AFTER_THE_STEP, comes after that
    step's other rows), at a tie the cause first (CAUSAL_ORDER); each is explained by the most
    severe earlier finding that lists it as a consequence, or by one whose earliest onset falls
    within the window it was seen in (massive activations on the step a probe first shows the
    rank collapse they bring about: the collapse began in the probe's window, possibly on that
    step), unless it lists that one as a consequence itself.
    A whole-run symptom (WHOLE_RUN) is explained by any finding that lists it."""
    order = sorted(findings, key=lambda f: (_earliest(f), _causal_rank(f.symptom),
                                            SEVERITIES.index(f.severity)))
    marked = []
    for i, f in enumerate(order):
        pool = [g for g in order if g is not f] if f.symptom in WHOLE_RUN else order[:i] + [
            g for g in order[i + 1:] if _earliest(g) <= _latest(f)
            and g.symptom not in CONSEQUENCES.get(f.symptom, ())]
        causes = [g for g in pool if f.symptom in CONSEQUENCES.get(g.symptom, ())]
        cause = min(causes, key=lambda g: SEVERITIES.index(g.severity), default=None)
        marked.append(replace(f, explained_by=cause.symptom) if cause else f)
    return sorted(marked, key=lambda f: (f.explained_by is not None, SEVERITIES.index(f.severity),
                                         f.onset_step if f.onset_step is not None else 0))


# read on the update a step makes after its forward and backward passes: what such an update
# brings about shows from the next step's rows, after anything the same step's rows showed
AFTER_THE_STEP = {"update too large", "update too small"}


def _earliest(f: Finding) -> float:
    return (f.onset_step or 0) - (f.resolution - 1) + (0.5 if f.symptom in AFTER_THE_STEP else 0.0)


def _latest(f: Finding) -> float:
    return (f.onset_step or 0) + (0.5 if f.symptom in AFTER_THE_STEP else 0.0)


def _causal_rank(symptom: str) -> int:
    return CAUSAL_ORDER.get(symptom, len(CAUSAL_ORDER))


def write_diagnosis(diagnosis: Diagnosis, path: str | Path) -> Path:
    """``diagnosis.json`` at ``path`` (a file, or a folder to write it in)."""
    target = Path(path)
    if target.is_dir():
        target = target / "diagnosis.json"
    target.write_text(json.dumps(diagnosis.as_dict(), indent=1, default=str) + "\n", encoding="utf-8")
    return target


def _last_step(s: Signals) -> int | None:
    steps = [int(m.steps[-1]) for m in s.metrics.values() if len(m.steps)]
    steps += [int(v[0][-1]) for v in s.scalars.values() if len(v[0])]
    return max(steps) if steps else None
