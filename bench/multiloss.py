"""Multi-loss aggregation cost: median step time over plain summed-loss training, in one run.

Workload (issue #6): an MLP trunk 64-256-256-256 (ReLU) with two linear regression heads,
batch 256, K = 2 losses, SGD. Variants, interleaved round by round so machine drift hits all alike:

* plain: (L1 + L2).backward(), the reference (one backward pass);
* floor: ``aggregate_backward`` with a plain sum as the aggregator (two backward passes, no surgery);
* each layerwise aggregator through ``aggregate_backward``: PCGrad, MGDA, SAM-GS, GCond (resolution
  and momentum on the per-step gradients), PCGrad per layer; GradNorm (its own backward);
* torchjd's PCGrad and UPGrad (``mtl_backward`` + ``jac_to_grad``) when torchjd is importable.

Then GCond's accumulation modes: backward passes and time per GCondTrainer step (24 batches).

    python bench/multiloss.py [--rounds 7] [--steps 20] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from layerwise.multiloss import (
    MGDA,
    SAMGS,
    GCond,
    GCondTrainer,
    GradNorm,
    ParamLayout,
    PCGrad,
    PerLayer,
    aggregate_backward,
)


def workload(batch: int = 256):
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 256), nn.ReLU())
    heads = nn.ModuleList([nn.Linear(256, 1), nn.Linear(256, 1)])
    x = torch.randn(batch, 64)
    y1, y2 = torch.randn(batch, 1), torch.randn(batch, 1)
    opt = torch.optim.SGD([*trunk.parameters(), *heads.parameters()], lr=1e-3)

    def features_and_losses():
        h = trunk(x)
        return h, [F.mse_loss(heads[0](h), y1), 10 * F.mse_loss(heads[1](h), -y2)]

    return trunk, heads, opt, features_and_losses


def make_variants() -> dict[str, Callable[[], None]]:
    trunk, heads, opt, fl = workload()
    layout = ParamLayout.from_module(trunk)

    def plain():
        opt.zero_grad(set_to_none=True)
        sum(fl()[1]).backward()
        opt.step()

    def with_aggregator(agg):
        def step():
            opt.zero_grad(set_to_none=True)
            aggregate_backward(fl()[1], trunk, agg, task_params=heads)
            opt.step()
        return step

    gradnorm = GradNorm(trunk[4], n_tasks=2)

    def gradnorm_step():
        opt.zero_grad(set_to_none=True)
        gradnorm.backward(fl()[1])
        opt.step()

    variants = {
        "plain": plain,
        "floor (2 backward, sum)": with_aggregator(lambda g: g.sum(0)),
        "pcgrad": with_aggregator(PCGrad()),
        "pcgrad per layer": with_aggregator(PerLayer(PCGrad, layout)),
        "mgda": with_aggregator(MGDA()),
        "samgs": with_aggregator(SAMGS()),
        "gcond (resolve + momentum)": with_aggregator(GCond()),
        "gradnorm": gradnorm_step,
    }
    try:
        from torchjd.aggregation import PCGrad as JDPCGrad
        from torchjd.aggregation import UPGrad
        from torchjd.autojac import jac_to_grad, mtl_backward
    except ImportError as exc:
        print(f"torchjd not importable ({exc}); skipping its variants")
        return variants
    shared = list(trunk.parameters())

    def torchjd_step(agg):
        def step():
            opt.zero_grad(set_to_none=True)
            h, losses = fl()
            mtl_backward(losses, features=h)
            jac_to_grad(shared, agg)
            opt.step()
        return step

    variants["torchjd pcgrad"] = torchjd_step(JDPCGrad())
    try:
        variants["torchjd upgrad"] = torchjd_step(UPGrad())
    except ImportError as exc:
        print(f"torchjd UPGrad unavailable ({exc})")
    return variants


def time_variants(variants: dict[str, Callable[[], None]], rounds: int, steps: int) -> dict[str, float]:
    for fn in variants.values():  # warm-up
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            samples[name].append((time.perf_counter() - t0) / steps)
    return {name: statistics.median(v) for name, v in samples.items()}


def gcond_modes(rounds: int) -> dict[str, dict[str, float]]:
    out = {}
    for mode, stochastic in (("stochastic", True), ("classical", False)):
        trunk, heads, _, _ = workload()
        model = nn.Sequential(trunk, nn.Linear(256, 2))
        gen = torch.Generator().manual_seed(0)
        data = lambda g=gen: (torch.randn(256, 64, generator=g), torch.randn(256, 1, generator=g))  # noqa: E731
        losses = [lambda o, y: F.mse_loss(o[:, :1], y), lambda o, y: F.l1_loss(o[:, 1:], -y)]
        trainer = GCondTrainer(model, losses, accumulation_steps=24, stochastic=stochastic)
        times, passes = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            passes.append(trainer.step(data)["backward_passes"])
            times.append(time.perf_counter() - t0)
        out[mode] = {"backward_passes_per_step": passes[-1], "seconds_per_step": statistics.median(times)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    med = time_variants(make_variants(), args.rounds, args.steps)
    plain, floor = med["plain"], med["floor (2 backward, sum)"]
    print(f"torch {torch.__version__}, threads {args.threads}, K=2, trunk 64-256-256-256, batch 256")
    print(f"{'variant':30s} {'ms/step':>8s} {'x plain':>8s} {'x floor':>8s}")
    for name, t in med.items():
        print(f"{name:30s} {1e3 * t:8.3f} {t / plain:8.2f} {t / floor:8.2f}")
    modes = gcond_modes(max(3, args.rounds // 2))
    for mode, row in modes.items():
        print(f"gcond {mode:10s}: {row['backward_passes_per_step']} backward passes, "
              f"{1e3 * row['seconds_per_step']:.1f} ms per step (24 batches)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"median_s": med, "gcond_modes": modes}, f, indent=2)


if __name__ == "__main__":
    main()
