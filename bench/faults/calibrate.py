"""Rank each symptom's remedies by paired re-runs: every prescription of the doctor's top finding
re-run (``layerwise.doctor.verify``, 5 paired seeds, from scratch) on each injected case of the
calibration splits whose first seed the doctor names right. Writes
``bench/results/remedy-calibration.json`` after every case (an interrupted run keeps what it
measured) and prints, per symptom and remedy, how its re-runs came out.

    python bench/faults/calibrate.py                      # every split but the newest held-out one
    python bench/faults/calibrate.py --splits tuned       # one split
    python bench/faults/calibrate.py --summary            # the saved file summarised, no training

The summary is evidence for the order of ``layerwise.doctor._prescribe.PRESCRIPTIONS``; the
newest held-out split stays out of it so that the benchmark's verify on that split measures a
remedy order chosen without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from faults.cases import CATALOGUE, VERIFY_SEEDS  # noqa: E402
from faults.run import SPLITS, run_case  # noqa: E402
from faults.score import top  # noqa: E402

VERDICTS = ("confirmed", "symptom gone, no gain shown", "not fixed", "harm", "not applicable", "not judged")


def calibration_splits() -> tuple[str, ...]:
    """Every split but the newest held-out one (the last declared in ``run.SPLITS``)."""
    held_out = [s for s in SPLITS if s.startswith("held_out")]
    return ("tuned", *held_out[:-1])


def check_case(case, folder: Path, seeds, say=print) -> dict | None:
    """Every prescription of the first seed's top finding re-run over ``seeds``; None when the
    doctor's top finding is not the case's symptom."""
    from layerwise.doctor import verify

    row = run_case(case, seeds[0], folder / "diagnosed")
    first = top(row["findings"]["doctor"])
    if not case.accepts((first or {}).get("symptom")) or not first["prescriptions"]:
        say(f"{case.name}: top finding {first and first['symptom']!r}, not calibrated")
        return None
    given = {} if row["held_out_loss"] is None else {seeds[0]: (folder / "diagnosed", row["held_out_loss"])}
    result = verify(case.recipe, seeds=seeds, top_k=len(first["prescriptions"]), out=folder / "verify",
                    baselines=given)
    say(result.text())
    return {"case": case.name, "split": case.split, "symptom": result.symptom,
            "checks": [{"component": c.prescription.component, "settings": c.prescription.settings,
                        "verdict": c.verdict, "diff": c.diff, "ci": list(c.ci), "gone": sum(c.gone),
                        "accepted": c.prescription.component in case.remedies}
                       for c in result.checks]}


def summary(cases: list[dict]) -> dict[str, dict[str, dict[str, int]]]:
    """symptom -> remedy -> verdict counts over the calibrated cases."""
    out: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for case in cases:
        for check in case["checks"]:
            out[case["symptom"]][check["component"]][check["verdict"]] += 1
    return {s: {r: dict(c) for r, c in remedies.items()} for s, remedies in out.items()}


def summary_text(table: dict) -> str:
    head = ["symptom", "remedy", *VERDICTS]
    rows = [[s, r, *(str(c.get(v, 0)) for v in VERDICTS)] for s, rem in sorted(table.items())
            for r, c in rem.items()]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in [head, *rows])


def _save(result: dict, out: Path, start: float) -> None:
    result["summary"], result["seconds"] = summary(result["cases"]), round(time.time() - start, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=list(calibration_splits()))
    parser.add_argument("--summary", action="store_true", help="summarise the saved file, no training")
    parser.add_argument("--out", default=str(HERE.parent / "results" / "remedy-calibration.json"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.summary:
        result = json.loads(out.read_text())
        print(summary_text(result["summary"]))
        return result
    torch.set_num_threads(1)
    seeds = VERIFY_SEEDS["smoke"]
    chosen = [c for c in CATALOGUE if not c.healthy and c.split in args.splits]
    result = {"splits": args.splits, "seeds": list(seeds), "torch": torch.__version__, "cases": []}
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(chosen, 1):
            print(f"[{i}/{len(chosen)}] {case.name} ({time.time() - start:.0f}s)", flush=True)
            try:
                done = check_case(case, Path(tmp) / f"case{i}", seeds)
            except Exception as err:  # one case's failure is recorded, not fatal to the rest
                print(f"{case.name}: {type(err).__name__}: {err}")
                result.setdefault("errors", {})[case.name] = f"{type(err).__name__}: {err}"
                done = None
            if done is not None:
                result["cases"].append(done)
            _save(result, out, start)
    print(summary_text(result["summary"]))
    print(f"wrote {out} ({result['seconds']} s)")
    return result


if __name__ == "__main__":
    main()
