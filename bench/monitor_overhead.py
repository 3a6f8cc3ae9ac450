"""Monitor overhead: median step time of monitored training over plain training, in one run.

Workloads (issue #3): (a) 16-layer MLP, width 256, batch 128; (b) the reference GPT, 12 layers,
d=128, seq 128, batch 16; on CUDA also (c) GPT 12 layers, d=768, seq 1024, batch 8, bf16.
Variants: plain; economy tier every step (and without ``update_ratio``, whose exact weight snapshot
is the costliest part on small models); on CUDA also economy with ``sync="deferred"`` (no host
wait at all); business tier (both tiers) every 10 steps; a naive hook logger (per-layer ``.item()``
on activation stats and per-parameter gradient norms, the simple baseline). Variants are
interleaved round by round so machine drift hits all of them alike. On the CPU each step is timed;
on CUDA a run of steps is timed between two synchronisations (a per-step sync would hide the cost
of the Monitor's own), and its mean step time is one sample.

    python bench/monitor_overhead.py [--rounds 7] [--steps 15] [--only mlp|gpt|gpt-large|mlp-tiny|gpt-tiny]
                                     [--json out.json]
                                     [--parts] [--parts-sync step|deferred] [--compiled]

``--compiled`` adds, for each workload, ``torch.compile`` (inductor) plain against compiled with the
economy tier attached before compiling (target 1.05x), timed one after the other (not interleaved:
see ``measure_compiled``).

``--parts`` adds the economy tier's parts alone (activation statistics, activation gradients,
parameter statistics with ``update_ratio``, and no statistics at all), to see where its cost
lies; ``--parts-sync deferred`` runs them (and economy without ``update_ratio``) without host waits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext

import torch
from torch.nn import functional as F

from layerwise import Monitor
from layerwise.metrics import resolve
from layerwise.models import GPT, MLP


def mlp_workload(device: str, width: int = 256, batch: int = 128):
    model = MLP(in_dim=width, out_dim=10, depth=16, width=width).to(device)
    x = torch.randn(batch, width, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def loss(run=model):  # run: the model, or its compiled form
        return F.cross_entropy(run(x), y)

    loss.floor = lambda: Floor(model, x, y)  # the MLP also has the "floor" variant
    return model, loss, None


def gpt_workload(device: str, d_model=128, n_head=4, seq=128, batch=16, bf16=False):
    model = GPT(n_layer=12, d_model=d_model, n_head=n_head, seq_len=seq, vocab_size=256).to(device)
    x = torch.randint(0, 256, (batch, seq), device=device)

    def loss(run=model):
        logits = run(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), x.reshape(-1))

    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else nullcontext
    return model, loss, autocast


ECONOMY = [m.name for m in resolve("economy")]
PARTS = {  # the economy tier without update_ratio, and its parts alone (--parts)
    "economy-no-update": [m for m in ECONOMY if m != "update_ratio"],
    "part:activations": [m for m in ECONOMY if m.startswith("act_") and m != "act_grad_norm"]
    + ["dead_fraction"],
    "part:act_grad": ["act_grad_norm"],
    "part:params": ["grad_norm", "weight_norm", "update_ratio"],
    "part:none": [],  # hooks, step protocol and log, no statistics
}
PART_SYNC = {"sync": "step", "on_nonfinite": "raise"}  # --parts-sync deferred: no host wait


class NaiveLogger:
    """The simple baseline: forward hooks with per-layer .item(), per-parameter grad norms."""

    def __init__(self, model):
        self.model, self.rows = model, []
        self.handles = [b.register_forward_hook(self.hook) for b in model.blocks]

    def hook(self, module, args, out):
        h = out.detach().float()
        self.rows += [h.pow(2).mean().sqrt().item(), h.mean().item(), h.abs().max().item()]

    def after_backward(self):
        self.rows += [p.grad.norm().item() for p in self.model.parameters() if p.grad is not None]

    def close(self):
        for h in self.handles:
            h.remove()


class Floor:
    """The economy tier's statistics by direct calls in the loop, with no hooks and no bookkeeping:
    what the numbers cost at least with torch operators (MLP only). Forward statistics as each
    block's output appears; activation gradients kept with ``retain_grad``; parameter norms, a
    weight snapshot and the update norm with foreach calls; one host copy per step."""

    def __init__(self, model, x, y) -> None:
        self.model, self.x, self.y = model, x, y
        self.weights = [p.detach() for p in model.blocks.parameters()]
        self.before = [w.clone() for w in self.weights]
        self.outs: list = []
        self.stats: list = []

    def loss(self):
        h, self.outs, self.stats = self.x, [], []
        for block in self.model.blocks:
            h = block(h)
            h.retain_grad()
            self.outs.append(h)
            d = h.detach()
            flat = d.reshape(-1)
            self.stats += [torch.dot(flat, flat), flat.sum(), d.amax(0).amax(), flat.amin(),
                           flat[:: max(1, flat.numel() // 512)].clone().median()]
        return F.cross_entropy(self.model.head(h), self.y)

    def before_step(self) -> None:
        grads = [p.grad for p in self.model.blocks.parameters()]
        self.stats += torch._foreach_norm(grads + self.weights)
        self.stats += torch._foreach_norm([o.grad for o in self.outs])
        torch._foreach_copy_(self.before, self.weights)

    def after_step(self) -> None:
        torch._foreach_sub_(self.before, self.weights)
        self.stats += torch._foreach_norm(self.before)
        torch.stack([t.reshape(()) for t in self.stats]).tolist()


def time_steps(model, loss_fn, autocast, variant: str, steps: int, device: str, tmp: str) -> list[float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    with ExitStack() as stack:
        mon = naive = None
        if variant in ("economy", "economy-deferred"):
            sync = "deferred" if variant == "economy-deferred" else "step"
            on_nonfinite = "record" if sync == "deferred" else "raise"
            mon = stack.enter_context(Monitor(model, metrics="economy", every=1, optimizer=opt, log=tmp,
                                              sync=sync, on_nonfinite=on_nonfinite))
        elif variant in PARTS:
            mon = stack.enter_context(Monitor(model, metrics=PARTS[variant], every=1, optimizer=opt, log=tmp,
                                              **PART_SYNC))
        elif variant == "business/10":
            mon = stack.enter_context(Monitor(model, metrics="business", every=10, optimizer=opt, log=tmp))
        elif variant == "naive":
            naive = NaiveLogger(model)
            stack.callback(naive.close)
        floor = loss_fn.floor() if variant == "floor" else None
        per_step = device != "cuda"
        _sync(device)
        start = time.perf_counter()
        for i in range(steps):
            with mon.step(i) if mon else nullcontext():
                with (autocast or nullcontext)():
                    loss = floor.loss() if floor else loss_fn()
                loss.backward()
            if naive:
                naive.after_backward()
            if floor:
                floor.before_step()
            opt.step()
            if floor:
                floor.after_step()
            opt.zero_grad(set_to_none=True)
            if per_step:
                times.append(time.perf_counter() - start)
                start = time.perf_counter()
        _sync(device)
        if not per_step:
            times.append((time.perf_counter() - start) / steps)
    return times


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(name: str, make: Callable, device: str, rounds: int, steps: int, parts: bool) -> dict:
    model, loss_fn, autocast = make(device)
    variants = ["plain", "economy", "economy-no-update", "business/10", "naive"]
    if parts:
        variants += [v for v in PARTS if v.startswith("part:")]
    if hasattr(loss_fn, "floor"):
        variants.append("floor")
    if device == "cuda":
        variants.insert(2, "economy-deferred")
    samples: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for v in variants:  # warm-up
            time_steps(model, loss_fn, autocast, v, 3, device, f"{tmp}/warm-{v}")
        for r in range(rounds):
            for v in variants:
                # business/10 logs on steps 0 and 10: per-step median over whole 10-step cycles
                n = max(steps, 20) if v == "business/10" else steps
                samples[v] += time_steps(model, loss_fn, autocast, v, n, device, f"{tmp}/{r}-{v}")
    plain = statistics.median(samples["plain"])
    out = {"workload": name, "device": device, "plain_ms": plain * 1e3}
    for v in variants[1:]:
        # business/10 reports the mean over its cycles (one expensive step in ten)
        stat = statistics.mean if v == "business/10" else statistics.median
        out[v] = stat(samples[v]) / (statistics.mean(samples["plain"]) if v == "business/10" else plain)
    return out


def measure_compiled(make: Callable, device: str, rounds: int, steps: int, tmp: str) -> float:
    """Median step time of compiled monitored over compiled plain training (the Monitor attached
    before compiling). The two run one after the other, each after ``torch._dynamo.reset()``:
    dynamo shares compiled code between instances of one class, so a second compiled instance
    could run the first one's graph (without its hooks) if they were interleaved."""
    medians = {}
    for variant in ("plain", "economy"):
        torch._dynamo.reset()
        torch.manual_seed(0)
        model, loss_fn, autocast = make(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        with ExitStack() as stack:
            mon = None
            if variant == "economy":
                mon = stack.enter_context(Monitor(model, metrics="economy", optimizer=opt, log=f"{tmp}/m"))
            compiled = torch.compile(model)
            times = []
            for i in range(3 + rounds * steps):  # the first 3 compile and warm up
                start = time.perf_counter()
                with mon.step(i) if mon else nullcontext():
                    with (autocast or nullcontext)():
                        loss = loss_fn(compiled)
                    loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                _sync(device)
                times.append(time.perf_counter() - start)
        medians[variant] = statistics.median(times[3:])
    return medians["economy"] / medians["plain"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--only", choices=["mlp", "gpt", "gpt-large", "mlp-tiny", "gpt-tiny"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    parser.add_argument("--parts", action="store_true")
    parser.add_argument("--parts-sync", choices=["step", "deferred"], default="step")
    parser.add_argument("--compiled", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.parts_sync == "deferred":
        PART_SYNC.update(sync="deferred", on_nonfinite="record")
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    workloads = {"mlp": mlp_workload, "gpt": gpt_workload,
                 # same depth, negligible arithmetic: what is left is host work (--only; a proxy
                 # for a GPU step bound by Python and launches)
                 "mlp-tiny": lambda d: mlp_workload(d, width=8, batch=4),
                 "gpt-tiny": lambda d: gpt_workload(d, 16, 2, 8, 2)}
    if device == "cuda":
        workloads["gpt-large"] = lambda d: gpt_workload(d, 768, 12, 1024, 8, bf16=True)
    results = []
    for name, make in workloads.items():
        if args.only == name or (args.only is None and not name.endswith("-tiny")):
            results.append(measure(name, make, device, args.rounds, args.steps, args.parts))
            r = results[-1]
            deferred = f" | deferred sync {r['economy-deferred']:.3f}x" if "economy-deferred" in r else ""
            added = r["plain_ms"] * (r["economy"] - 1)
            print(f"{name:10s} {device}: plain {r['plain_ms']:.1f} ms | economy/1 {r['economy']:.3f}x"
                  f" (+{added:.2f} ms)"
                  f"{deferred} | "
                  f"economy without update_ratio {r['economy-no-update']:.3f}x | business/10 "
                  f"{r['business/10']:.3f}x | naive hook logger {r['naive']:.3f}x"
                  + "".join(f" | {k} {v:.3f}x" for k, v in r.items() if k.startswith("part:"))
                  + (f" | floor (direct calls) {r['floor']:.3f}x" if "floor" in r else ""), flush=True)
            if args.compiled:
                with tempfile.TemporaryDirectory() as tmp:
                    r["compiled-economy"] = measure_compiled(make, device, args.rounds, args.steps, tmp)
                print(f"{name:10s} {device}: compiled economy/1 {r['compiled-economy']:.3f}x "
                      "of compiled plain", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); target: economy/1 <= 1.10x "
          "on CPU, <= 1.03x on the CUDA gpt-large workload")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
