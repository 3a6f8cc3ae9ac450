"""The benchmark's score table, as plain text (printed) and Markdown (written beside the JSON)."""

from __future__ import annotations

COLUMNS = (("detected", "detected"), ("recall", "recall"), ("false_alarm", "false alarms"),
           ("top1", "top-1"), ("localisation", "localisation"), ("delay_median", "delay (median)"),
           ("fast_within_1", "NaN/explode <= 1 step"),
           ("fast_detected_within_1", "NaN/explode detected <= 1 step"), ("macro_f1", "macro-F1"),
           ("remedy_ok", "remedy accepted"))
TARGETS = {"recall": ">= 0.95", "false_alarm": "<= 0.05", "top1": ">= 0.85", "localisation": ">= 0.80",
           "fast_within_1": "1.00", "macro_f1": "+0.20 over best baseline"}


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _rows(result: dict) -> list[list[str]]:
    verify = result.get("verify") or {}
    out = []
    for split, methods in result["scores"].items():
        for method, s in methods.items():
            rates = verify.get(split, {}) if method == "doctor" else {}
            fix, harm = _fmt(rates.get("confirmed_fix")), _fmt(rates.get("harm"))
            fixable = _fmt(rates.get("confirmed_fix_fixable"))
            out.append([split, method, f"{s['runs_injected']}/{s['runs_healthy']}",
                        *(_fmt(s.get(k)) for k, _ in COLUMNS), fix, harm, fixable])
    return out


HEAD = ["split", "method", "runs inj/healthy", *(name for _, name in COLUMNS), "confirmed fix", "harm",
        "confirmed fix, fixable cases"]


def text_table(result: dict) -> str:
    rows = [HEAD, *_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verify = result.get("verify")
    if verify is None:
        lines.append("confirmed fix / harm: not measured (pass --verify)")
    elif "skipped" in verify:
        lines.append(f"confirmed fix / harm: skipped ({verify['skipped']})")
    return "\n".join(lines)


def _sample(every: int) -> str:
    if every == 1:
        return "Cases verified: every case whose first seed the doctor diagnosed right."
    return (f"Cases verified: of those whose first seed the doctor diagnosed right, every case of the newest "
            f"split and, of the others, those whose name's CRC-32 is 0 mod {every} (declared in run.py).")


def markdown(result: dict) -> str:
    lines = [f"# Fault benchmark, tier {result['tier']} (seeds {result['seeds']}, torch {result['torch']}, "
             f"{result['seconds']} s)", "", "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(result)]
    lines += ["", "Targets (issue #16): " + "; ".join(f"{k} {v}" for k, v in TARGETS.items()), ""]
    doctor = result["scores"]["all"]["doctor"]
    lines += ["## Doctor per symptom class (all splits)", "", "| symptom | recall | top-1 |", "|---|---|---|"]
    lines += [f"| {c} | {_fmt(v['recall'])} | {_fmt(v['top1'])} |" for c, v in doctor["per_class"].items()]
    lines += ["", "## Doctor confusion (true -> top finding), runs", ""]
    lines += [f"- {k}: {n}" for k, n in doctor["confusion"].items()]
    verify = result.get("verify")
    if verify and "verdicts" in verify:
        lines += ["", f"## Verify (top prescription, paired re-runs, seeds {verify.get('seeds')})", "",
                  _sample(verify.get("every", 1)), "",
                  "Judged (all / fixable: cases with accepted remedies): " + "; ".join(
                      f"{split} {verify[split]['judged']} / {verify[split]['judged_fixable']}"
                      for split in result["scores"] if split in verify), ""]
        lines += [f"- {k}: {v}" for k, v in verify["verdicts"].items()]
    return "\n".join(lines) + "\n"
