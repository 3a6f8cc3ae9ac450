"""CKA speed and values: layerwise.analysis against the PyPI package ``torch-cka`` on the same inputs.

Workloads:
  (a) one pair of 10,000 x 768 activations (issue #4's target: linear CKA under 1 s on CPU):
      layerwise full linear CKA (float64, biased and unbiased), layerwise mini-batch CKA, and
      torch-cka's mini-batch unbiased CKA (float32, n x n Gram per batch) on the same batches;
  (b) the collapsed default-init 16-layer ReLU MLP (per-unit spread ~1e-7 deep down; DESIGN's
      lesson): each tool's 16 x 16 CKA matrix against float64 ground truth (the model run in float64).

torch-cka is a benchmark-only dependency: ``pip install --no-deps torch-cka -c constraints.txt``.
Its module imports tqdm only for a progress bar; when tqdm is absent a pass-through stand-in is
put in ``sys.modules`` so the comparison runs without installing anything else. torch-cka works
on models and data loaders, so the stored activations are served by a lookup module keyed by
sample index, batch by batch, in a fixed order.

    python bench/similarity.py [--rounds 5] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from layerwise.analysis import MinibatchCKA, cka_matrix, linear_cka
from layerwise.layers import block_outputs
from layerwise.models import MLP


def load_torch_cka():
    """torch_cka.CKA, or None with the reason printed."""
    if "tqdm" not in sys.modules:
        try:
            import tqdm  # noqa: F401
        except ImportError:
            stub = types.ModuleType("tqdm")
            stub.tqdm = lambda iterable, *args, **kwargs: iterable
            sys.modules["tqdm"] = stub
    try:
        from torch_cka import CKA
    except ImportError as err:
        print(f"torch-cka unavailable ({err}); install with `pip install --no-deps torch-cka`")
        return None
    return CKA


class _Lookup(nn.Module):
    """Returns the stored activations of the samples whose indices it is given."""

    def __init__(self, acts: torch.Tensor) -> None:
        super().__init__()
        self.acts = acts

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.acts[idx]


class _Bank(nn.Module):
    """A 'model' whose layers ``layers.i`` output stored activations, for hook-based tools."""

    def __init__(self, acts: list[torch.Tensor]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Lookup(a) for a in acts)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            layer(idx)
        return idx


def torch_cka_matrix(CKA, acts_a, acts_b, batch_size: int) -> np.ndarray:
    a, b = _Bank(acts_a), _Bank(acts_b)
    names_a = [f"layers.{i}" for i in range(len(acts_a))]
    names_b = [f"layers.{j}" for j in range(len(acts_b))]
    loader = DataLoader(TensorDataset(torch.arange(acts_a[0].shape[0])), batch_size=batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cka = CKA(a, b, model1_name="A", model2_name="B", model1_layers=names_a, model2_layers=names_b)
        cka.compare(loader)
    return cka.export()["CKA"].double().numpy()


def ours_minibatch(acts_a, acts_b, batch_size: int) -> np.ndarray:
    acc = MinibatchCKA()
    for s in range(0, acts_a[0].shape[0], batch_size):
        acc.update([a[s : s + batch_size] for a in acts_a], [b[s : s + batch_size] for b in acts_b])
    return acc.compute()


def median_time(fn: Callable, rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def pair_workload(rounds: int, CKA) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10_000, 768, generator=g)
    noise = 0.5 * torch.randn(10_000, 768, generator=g)
    y = torch.tanh(x @ torch.randn(768, 768, generator=g) / 28.0) + noise
    rows = {}
    t, v = median_time(lambda: linear_cka(x, y), rounds)
    rows["layerwise linear_cka (float64, biased)"] = (t, v)
    t, v = median_time(lambda: linear_cka(x, y, unbiased=True), rounds)
    rows["layerwise linear_cka (float64, unbiased)"] = (t, v)
    t, v = median_time(lambda: float(ours_minibatch([x], [y], 1000)[0, 0]), rounds)
    rows["layerwise MinibatchCKA (batch 1000)"] = (t, v)
    if CKA is not None:
        t, v = median_time(lambda: float(torch_cka_matrix(CKA, [x], [y], 1000)[0, 0]), max(1, rounds // 2))
        rows["torch-cka CKA.compare (batch 1000, float32)"] = (t, v)
    print("\n(a) one pair, 10,000 x 768 (median seconds, CKA value)")
    for name, (t, v) in rows.items():
        print(f"  {name:48s} {t:7.3f} s   {v:.8f}")
    return {k: {"seconds": t, "cka": v} for k, (t, v) in rows.items()}


def collapsed_workload(CKA) -> dict:
    torch.manual_seed(0)
    model = MLP(in_dim=32, out_dim=10, depth=16, width=256)
    x = torch.randn(512, 32)
    acts = block_outputs(model, x)
    truth = cka_matrix(block_outputs(copy.deepcopy(model).double(), x.double()), unbiased=True)
    print("\n(b) collapsed 16-layer ReLU MLP, 512 samples, unbiased CKA 16 x 16 vs float64 ground truth")
    spread = [float(a.std(0).mean()) for a in (acts[0], acts[-1])]
    print(f"  per-unit std over the batch: block 0 {spread[0]:.1e}, block 15 {spread[1]:.1e}")
    results = {}
    candidates = {
        "layerwise cka_matrix (full)": lambda: cka_matrix(acts, unbiased=True),
        "layerwise MinibatchCKA (batch 512)": lambda: ours_minibatch(acts, acts, 512),
    }
    if CKA is not None:
        candidates["torch-cka (batch 512)"] = lambda: torch_cka_matrix(CKA, acts, acts, 512)
    for name, fn in candidates.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = fn()
            err = float(np.nanmax(np.abs(m - truth)))
            nans = int(np.isnan(m).sum())
            print(f"  {name:40s} max |error| {err:.2e}   NaN entries {nans}")
            results[name] = {"max_abs_error": err, "nan_entries": nans}
        except Exception as exc:  # torch-cka asserts on NaN
            print(f"  {name:40s} failed: {type(exc).__name__}: {str(exc)[:80]}")
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # only scipy's BLAS would then use its default thread count
        threadpool_limits = None
    limit = threadpool_limits(args.threads) if threadpool_limits else None
    CKA = load_torch_cka()
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    out = {"threads": args.threads, "pair": pair_workload(args.rounds, CKA)}
    out["collapsed"] = collapsed_workload(CKA)
    if limit is not None:
        limit.unregister()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
