"""Transforms and optimizers of issue #5: step-time ratios measured in one run.

1. DP-SGD step (per-sample gradients, clipping, noise, SGD step) on a 4-layer MLP of width 256,
   batch 128: ours (``layerwise.transforms.dp.DPSGD``, flat and per-layer clipping) against opacus's
   hook mode (``GradSampleModule`` + ``DPOptimizer``) when opacus is installed, both over a plain step.
2. Muon step (optimizer.step only, fixed gradients) on transformer-like matrices: ours in fp32 (the
   CPU default) and bf16 against ``torch.optim.Muon`` (which always iterates in bf16) where it exists.
3. TrAct: training step of a small CNN and of an MLP with the first layer wrapped, over the plain one.

Variants are interleaved round by round (median of rounds) so machine drift hits all alike.

    python bench/transforms.py [--rounds 7] [--steps 10] [--threads 1] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.nn.tract import TrAct
from layerwise.optim import Muon
from layerwise.transforms.dp import DPSGD


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def interleave(fns: dict[str, Callable[[], None]], rounds: int, steps: int, device: str) -> dict[str, float]:
    """Median over rounds of the mean step time (seconds) of each variant, after one warm-up round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds + 1):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            _sync(device)
            if r:
                times[name].append((time.perf_counter() - t0) / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def _mlp(device: str) -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    ).to(device)


def bench_dp(args) -> None:
    dev = args.device
    x, y = torch.randn(128, 256, device=dev), torch.randint(0, 10, (128,), device=dev)
    fns: dict[str, Callable[[], None]] = {}

    plain = _mlp(dev)
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.01)

    def plain_step():
        plain_opt.zero_grad()
        F.cross_entropy(plain(x), y).backward()
        plain_opt.step()

    fns["plain"] = plain_step
    for label, per_layer in (("ours flat", False), ("ours per-layer", "uniform")):
        model = _mlp(dev)
        dp = DPSGD(model, F.cross_entropy, clip=1.0, noise_multiplier=1.0, per_layer=per_layer, seed=0)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        fns[label] = lambda dp=dp, opt=opt: (dp.step_grads(x, y), opt.step())
    try:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer
    except ImportError:
        print("  opacus is not installed (pip install 'layerwise[dp]'): no opacus comparison")
    else:
        gsm = GradSampleModule(_mlp(dev), batch_first=True, loss_reduction="mean", force_functorch=False)
        dpo = DPOptimizer(
            torch.optim.SGD(gsm.parameters(), lr=0.01),
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            expected_batch_size=128,
        )

        def opacus_step():
            dpo.zero_grad()
            F.cross_entropy(gsm(x), y).backward()
            dpo.step()

        fns["opacus hooks"] = opacus_step
    t = interleave(fns, args.rounds, args.steps, dev)
    for k, v in t.items():
        print(f"  {k:16s} {v * 1e3:8.2f} ms/step   {v / t['plain']:5.2f}x plain")
    if "opacus hooks" in t:
        for k in ("ours flat", "ours per-layer"):
            print(f"  {k} / opacus hooks = {t[k] / t['opacus hooks']:.2f}")


def bench_muon(args) -> None:
    dev = args.device
    shapes = [(256, 256)] * 8 + [(1024, 256)] * 4 + [(256, 1024)] * 4
    gen = torch.Generator(device=dev).manual_seed(0)
    grads = [torch.randn(*s, device=dev, generator=gen) for s in shapes]

    def make(cls, **kw):
        params = [nn.Parameter(torch.randn(*s, device=dev)) for s in shapes]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt = cls(params, lr=0.02, momentum=0.95, weight_decay=0.0, **kw)
        return opt.step

    fns = {
        "ours fp32": make(Muon),
        "ours bf16": make(Muon, ns_dtype=torch.bfloat16),
    }
    if hasattr(torch.optim, "Muon"):
        fns["torch.optim.Muon"] = make(torch.optim.Muon)
    else:
        print("  torch.optim.Muon is not in this torch (needs >= 2.9)")
    t = interleave(fns, args.rounds, args.steps, dev)
    ref = t.get("torch.optim.Muon")
    for k, v in t.items():
        ratio = f"   {v / ref:5.2f}x torch.optim.Muon" if ref else ""
        print(f"  {k:16s} {v * 1e3:8.2f} ms/step{ratio}")


def bench_tract(args) -> None:
    dev = args.device

    def cnn(first: nn.Module) -> nn.Module:
        return nn.Sequential(
            first,
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 10),
        ).to(dev)

    def mlp(first: nn.Module) -> nn.Module:
        return nn.Sequential(first, nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).to(dev)

    workloads = {
        "CNN 3x32x32 b64": (
            cnn,
            lambda: nn.Conv2d(3, 32, 3, padding=1),
            torch.randn(64, 3, 32, 32, device=dev),
        ),
        "MLP 784 b128": (mlp, lambda: nn.Linear(784, 256), torch.randn(128, 784, device=dev)),
    }
    for label, (build, first, x) in workloads.items():
        y = torch.randint(0, 10, (x.shape[0],), device=dev)
        fns = {}
        for arm, wrap in (("plain", lambda m: m), ("tract", lambda m: TrAct(m, l=0.1))):
            model = build(wrap(first()))
            opt = torch.optim.SGD(model.parameters(), lr=0.01)

            def step(model=model, opt=opt, x=x, y=y):
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()

            fns[arm] = step
        t = interleave(fns, args.rounds, args.steps, dev)
        print(
            f"  {label:16s} plain {t['plain'] * 1e3:7.2f} ms, tract {t['tract'] * 1e3:7.2f} ms: "
            f"{t['tract'] / t['plain']:.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} thread(s)")
    print("DP-SGD step, 4-layer MLP width 256, batch 128:")
    bench_dp(args)
    print("Muon step, 8x(256,256) + 4x(1024,256) + 4x(256,1024):")
    bench_muon(args)
    print("TrAct, first layer wrapped vs plain (training step):")
    bench_tract(args)


if __name__ == "__main__":
    main()
