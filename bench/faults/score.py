"""Scores of a doctor on the benchmark's rows: detection, false alarms, top-1 diagnosis,
localisation, detection delay, macro-F1 and a confusion matrix.

A *row* is one run of one case with one seed: ``{"case": name, "seed": s, "findings": {method:
[finding, ...]}}``, a finding being ``{"symptom", "layers", "onset_step", "explained_by",
"prescriptions": [component, ...]}`` (most likely root cause first, as the doctor ranks them).
Definitions (per injected run unless said):

- detected: the method raised any finding; recall: a finding names the true symptom (or one the
  case accepts as the same, ``Case.also``); false alarm: a healthy run with any finding;
- top-1: the first finding not explained by another names the true symptom;
- localisation (cases with a layer band): that top finding names layers, all of them within one
  block of the band (block ``i`` of ``blocks.i``);
- delay: onset of the finding that names the true symptom minus the true onset, in steps (every
  step is logged; the transformer probe logs every 10); ``within 1`` for non-finite and
  exploding cases, the issue's target. The doctor reads a finished log, so its onset can lie
  before the step its criterion first held (an explosion with no healthy phase dates from the
  first step); ``detected within 1`` reads that step instead (``detected_step``, the onset where
  the finding does not say), the latency an online check would have;
- macro-F1: each run's label is its top finding (``healthy`` when none); F1 per injected symptom
  class, averaged; healthy runs count as negatives, so a false alarm costs the class it names;
- remedy ok: the top finding's first prescription is one of the case's accepted remedies.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter

HEALTHY = "healthy"
FAST = ("non-finite values", "exploding gradients")


def top(findings: list[dict]) -> dict | None:
    return next((f for f in findings if not f.get("explained_by")), None)


def block(layer: str) -> int | None:
    m = re.search(r"(?:^|\.)(\d+)(?:\.|$)", layer)
    return int(m.group(1)) if m else None


def localised(finding: dict | None, band: tuple[int, int]) -> bool:
    if finding is None or not finding["layers"]:
        return False
    idx = [block(n) for n in finding["layers"]]
    return all(i is not None and band[0] - 1 <= i <= band[1] + 1 for i in idx)


def label(case, findings: list[dict]) -> str:
    """The run's predicted class: the top finding's symptom, the case's own when it accepts it."""
    t = top(findings)
    if t is None:
        return HEALTHY
    return case.symptom if not case.healthy and case.accepts(t["symptom"]) else t["symptom"]


def _rate(hits: list[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def macro_f1(pairs: list[tuple[str, str]], classes: list[str]) -> float | None:
    """Mean F1 over ``classes`` of (true, predicted) label pairs."""
    scores = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in pairs)
        fp = sum(t != c and p == c for t, p in pairs)
        fn = sum(t == c and p != c for t, p in pairs)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores) if scores else None


def _class_rates(runs: list) -> dict:
    return {"recall": _rate([any(k.accepts(f["symptom"]) for f in fs) for k, fs in runs]),
            "top1": _rate([k.accepts((top(fs) or {}).get("symptom")) for k, fs in runs])}


def score(rows: list[dict], cases: dict, method: str) -> dict:
    """Every metric of ``method`` over ``rows`` (``cases``: name -> Case)."""
    inj = [(cases[r["case"]], r["findings"][method]) for r in rows if not cases[r["case"]].healthy]
    ok = [(cases[r["case"]], r["findings"][method]) for r in rows if cases[r["case"]].healthy]
    delays, fast, latency = [], [], []
    for case, fs in inj:
        hit = next((f for f in fs if case.accepts(f["symptom"]) and f["onset_step"] is not None), None)
        if hit is not None:
            delays.append(hit["onset_step"] - case.onset)
        if case.symptom in FAST:
            fast.append(hit is not None and abs(hit["onset_step"] - case.onset) <= 1)
            detected = None if hit is None else hit.get("detected_step", hit["onset_step"])
            latency.append(detected is not None and abs(detected - case.onset) <= 1)
    pairs = [(c.symptom if not c.healthy else HEALTHY, label(c, fs)) for c, fs in inj + ok]
    classes = sorted({c.symptom for c, _ in inj})
    remedy = [bool(top(fs) and top(fs).get("prescriptions") and top(fs)["prescriptions"][0] in c.remedies)
              for c, fs in inj if c.accepts((top(fs) or {}).get("symptom"))]
    return {
        "runs_injected": len(inj), "runs_healthy": len(ok),
        "detected": _rate([bool(fs) for _, fs in inj]),
        "recall": _rate([any(c.accepts(f["symptom"]) for f in fs) for c, fs in inj]),
        "false_alarm": _rate([bool(fs) for _, fs in ok]),
        "top1": _rate([c.accepts((top(fs) or {}).get("symptom")) for c, fs in inj]),
        "localisation": _rate([localised(top(fs), c.band) for c, fs in inj if c.band is not None]),
        "delay_median": statistics.median(delays) if delays else None,
        "delay_mean": statistics.fmean(delays) if delays else None,
        "fast_within_1": _rate(fast),
        "fast_detected_within_1": _rate(latency),
        "macro_f1": macro_f1(pairs, classes),
        "remedy_ok": _rate(remedy) if method == "doctor" else None,
        "per_class": {c: _class_rates([(k, fs) for k, fs in inj if k.symptom == c]) for c in classes},
        "confusion": {f"{t} -> {p}": n for (t, p), n in sorted(Counter(pairs).items())},
    }
