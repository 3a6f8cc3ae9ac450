"""Reversible MBConv3d stack against the plain stack: activation memory and step time.

Issue #7 targets: activation memory of the reversible stack at depth 32 within 1.5x of depth 4, and
its training step within 2x of the plain stack's. Measured here:

- saved-tensor bytes (``layerwise.nn.memory.saved_tensor_bytes``: what autograd keeps, weights excluded)
  at the shallow and the deep depth, for the reversible stack, the plain stack and revlib (if installed);
- peak RSS growth of one training step (CPU), each variant in a fresh subprocess so that earlier runs
  do not hide later peaks; on CUDA, ``torch.cuda.max_memory_allocated`` growth instead;
- median step time (forward + backward), variants interleaved round by round.

    python bench/reversible.py [--depth 32] [--shallow 4] [--channels 16] [--size 16] [--rounds 5]
                               [--device cpu|cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

from layerwise.nn.mbconv3d import MBConv3d, mbconv3d_stack
from layerwise.nn.memory import saved_tensor_bytes

VARIANTS = ("reversible", "plain", "revlib")


def revlib_available() -> bool:
    try:
        import revlib  # noqa: F401
    except Exception:  # any import failure counts as missing
        return False
    return True


def build(variant: str, depth: int, args) -> torch.nn.Module:
    torch.manual_seed(0)
    if variant == "revlib":
        import revlib

        half = args.channels // 2
        fns = [MBConv3d(half, args.expand) for _ in range(2 * depth)]  # F1, G1, F2, G2, ...
        model = revlib.ReversibleSequential(*fns, split_dim=1)
    else:
        model = mbconv3d_stack(args.channels, depth, expand=args.expand, reversible=variant == "reversible")
    return model.to(args.device).train()


def make_input(args) -> torch.Tensor:
    shape = (args.batch, args.channels, args.size, args.size, args.size)
    return torch.randn(shape, device=args.device, requires_grad=True)


def step(model: torch.nn.Module, x: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    x.grad = None
    model(x).square().mean().backward()


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_child(variant: str, depth: int, args) -> dict:
    """Runs in a fresh process: peak memory growth of one training step after a warm-up step."""
    torch.set_num_threads(args.threads)
    model, x = build(variant, depth, args), make_input(args)
    step(model, x)  # warm-up: parameter gradients and allocator caches exist from here on
    model.zero_grad(set_to_none=True)
    if args.device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(model, x)
        torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - base, "how": "cuda max_memory_allocated"}
    base = _rss_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        how = "RSS peak (VmHWM reset)"
    except OSError:
        how = "RSS peak (VmHWM not resettable: upper bound)"
    step(model, x)
    return {"peak_bytes": (_rss_kib("VmHWM") - base) * 1024, "how": how}


def peak_in_subprocess(variant: str, depth: int, argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, *argv, "--child", f"{variant}:{depth}"]
    # Large blocks go straight to mmap and back to the OS on free, so the warm-up step's freed memory
    # cannot be reused unseen by the measured step (glibc would otherwise keep it in its heap).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        return {"peak_bytes": None, "how": f"failed: {out.stderr.strip().splitlines()[-1:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def step_times(models: dict[str, torch.nn.Module], x: torch.Tensor, rounds: int, device: str) -> dict:
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        step(model, x)  # warm-up
    for _ in range(rounds):
        for name, model in models.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step(model, x)
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def mib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:8.2f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=32, help="couplings in the deep stack")
    parser.add_argument("--shallow", type=int, default=4, help="couplings in the shallow stack")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--expand", type=int, default=4)
    parser.add_argument("--size", type=int, default=16, help="cube side of the input volume")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    argv = [a for a in sys.argv[1:] if a != "--json" and a != args.json]
    if args.child:
        variant, depth = args.child.split(":")
        print(json.dumps(peak_child(variant, int(depth), args)))
        return
    torch.set_num_threads(args.threads)
    variants = [v for v in VARIANTS if v != "revlib" or revlib_available()]
    if "revlib" not in variants:
        print("revlib: missing (pip install --no-deps revlib); comparing reversible vs plain only")
    x = make_input(args)
    print(
        f"MBConv3d stacks: channels {args.channels} (F and G on {args.channels // 2}), expand {args.expand}, "
        f"input {tuple(x.shape)} {x.dtype}, device {args.device}, threads {args.threads}"
    )
    result: dict = {"config": {k: v for k, v in vars(args).items() if k not in ("child", "json")}}
    for name in variants:
        row = {}
        for depth in (args.shallow, args.depth):
            saved = saved_tensor_bytes(build(name, depth, args), x)
            row[depth] = {"saved_bytes": saved, **peak_in_subprocess(name, depth, argv)}
        result[name] = row
        ratio = row[args.depth]["saved_bytes"] / max(row[args.shallow]["saved_bytes"], 1)
        peaks = [row[d]["peak_bytes"] for d in (args.shallow, args.depth)]
        peak_ratio = peaks[1] / peaks[0] if None not in peaks and peaks[0] > 0 else None
        row["saved_ratio"], row["peak_ratio"] = ratio, peak_ratio
        print(
            f"{name:>10}: saved depth {args.shallow} {mib(row[args.shallow]['saved_bytes'])}, "
            f"depth {args.depth} {mib(row[args.depth]['saved_bytes'])} (x{ratio:.2f}); "
            f"peak step growth {mib(peaks[0])} -> {mib(peaks[1])}"
            + (f" (x{peak_ratio:.2f})" if peak_ratio else "")
            + f" [{row[args.depth]['how']}]"
        )
    models = {name: build(name, args.depth, args) for name in variants}
    times = step_times(models, x, args.rounds, args.device)
    result["step_s"] = times
    for name in variants:
        print(
            f"{name:>10}: step at depth {args.depth}: {times[name] * 1e3:8.1f} ms "
            f"(x{times[name] / times['plain']:.2f} of plain)"
        )
    rev = result["reversible"]
    print(
        f"targets: reversible saved-bytes depth {args.depth}/{args.shallow} = "
        f"{rev['saved_ratio']:.2f} (<= 1.5), "
        f"peak-step {args.depth}/{args.shallow} = "
        + (f"{rev['peak_ratio']:.2f}" if rev["peak_ratio"] else "n/a")
        + f"; step time reversible/plain = {times['reversible'] / times['plain']:.2f} (<= 2)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=str)


if __name__ == "__main__":
    main()
