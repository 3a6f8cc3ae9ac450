"""Where the Monitor's step time goes on a GPU: host enqueue time, GPU kernel time, top operators.

For plain training and the economy tier (deferred sync), on the CUDA gpt-large workload of
``monitor_overhead.py``: the median wall time per step (synchronised), the host time to enqueue a
step without synchronising, and the profiler's operator tables (self CPU and self CUDA time).
When the host enqueue time is close to the wall time, the step is bound by Python and kernel
launches, and the Monitor's cost is its host-side work.

    python bench/monitor_profile.py [--workload gpt-large|gpt|mlp] [--steps 10] [--python]

``--python`` adds a cProfile of the monitored steps (host time of Python functions, which the
operator tables do not show).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from contextlib import nullcontext

import torch
from monitor_overhead import gpt_workload, mlp_workload
from torch.profiler import ProfilerActivity, profile

from layerwise import Monitor


def steps(model, loss_fn, autocast, mon, opt, n: int, sync_each: bool) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        with mon.step(i) if mon else nullcontext():
            with (autocast or nullcontext)():
                loss = loss_fn()
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if sync_each:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    torch.cuda.synchronize()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="gpt-large", choices=["gpt-large", "gpt", "mlp"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--python", action="store_true")
    args = parser.parse_args()
    make = {"gpt-large": lambda d: gpt_workload(d, 768, 12, 1024, 8, bf16=True), "gpt": gpt_workload,
            "mlp": mlp_workload}[args.workload]
    model, loss_fn, autocast = make("cuda")
    for variant in ("plain", "economy"):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        mon = (Monitor(model, metrics="economy", optimizer=opt, sync="deferred", on_nonfinite="record")
               if variant == "economy" else None)
        steps(model, loss_fn, autocast, mon, opt, 3, True)  # warm-up
        wall = statistics.median(steps(model, loss_fn, autocast, mon, opt, args.steps, True))
        enqueue = statistics.median(steps(model, loss_fn, autocast, mon, opt, args.steps, False)[1:])
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            steps(model, loss_fn, autocast, mon, opt, args.steps, False)
        table = prof.key_averages()
        gpu = sum(e.self_device_time_total for e in table) / args.steps / 1e3
        print(f"\n== {args.workload} {variant}: wall {wall * 1e3:.2f} ms/step (synchronised), host enqueue "
              f"{enqueue * 1e3:.2f} ms/step, GPU kernels {gpu:.2f} ms/step")
        print(table.table(sort_by="self_device_time_total", row_limit=14))
        print(table.table(sort_by="self_cpu_time_total", row_limit=14))
        if mon and args.python:
            prof_py = cProfile.Profile()
            prof_py.enable()
            steps(model, loss_fn, autocast, mon, opt, args.steps, False)
            prof_py.disable()
            pstats.Stats(prof_py).sort_stats("tottime").print_stats(30)
            pstats.Stats(prof_py).sort_stats("cumulative").print_stats("layerwise", 30)
        if mon:
            mon.close()


if __name__ == "__main__":
    main()
