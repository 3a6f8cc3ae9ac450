"""Time every study's smoke size (the CLI default) at one thread: CPU and wall seconds each.

``python bench/study_smoke_times.py [NAME ...]`` prints one line per study and flags any over the
60 s budget of issue #11. CPU time is the budget's measure on a shared machine (wall time grows
with the load); each study runs in a fresh process, so imports are counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, resource, sys, time, tempfile
t0 = time.perf_counter()
from layerwise.studies import run_study
run_study(sys.argv[1], size="smoke", out=tempfile.mkdtemp(), progress=False)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "wall": time.perf_counter() - t0}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="studies (default: all)")
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    names = args.names
    if not names:
        from layerwise._index import query

        names = [e["name"] for e in query(kind="study")]
    over = []
    for name in names:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, name], capture_output=True, text=True,
                              cwd=tempfile.gettempdir())
        if done.returncode != 0:
            print(f"{name:22s} FAILED: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            over.append(name)
            continue
        t = json.loads(done.stdout.strip().splitlines()[-1])
        flag = "" if t["cpu"] <= args.budget else "  OVER BUDGET"
        print(f"{name:22s} cpu {t['cpu']:6.1f} s   wall {time.perf_counter() - start:6.1f} s{flag}",
              flush=True)
        if flag:
            over.append(name)
    print(f"{len(names) - len(over)}/{len(names)} within {args.budget:.0f} s of CPU" +
          (f"; over or failed: {', '.join(over)}" if over else ""))


if __name__ == "__main__":
    main()
