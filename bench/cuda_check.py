"""CUDA checks of the Monitor that CI (CPU only) cannot make; run on a GPU machine.

1. The same one-step run on CPU and on CUDA (float32, TF32 off) gives the same per-layer values,
   with ``sync="step"`` and ``sync="deferred"``.
2. A NaN planted in one block's weights is localised to that block on CUDA (raise and record).
3. The deferred mode reads each logged step one logged step late and never misses the last one.

    python bench/cuda_check.py        # exits non-zero when a check fails
"""

from __future__ import annotations

import copy
import sys

import torch
from torch.nn import functional as F

from layerwise import Monitor
from layerwise.models import GPT
from layerwise.monitor.nonfinite import NonFiniteError


def one_step(model, x, device: str, sync: str) -> dict:
    model = copy.deepcopy(model).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    on_nonfinite = "record" if sync == "deferred" else "raise"
    with Monitor(model, metrics="all", optimizer=opt, sync=sync, on_nonfinite=on_nonfinite) as mon:
        for step in range(2):
            with mon.step(step):
                logits = model(x.to(device))
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.to(device).reshape(-1))
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad()
        rows = mon.table().to_pylist()
    return {(r["step"], r["layer"], r["metric"]): r["value"] for r in rows}


def compare(cpu: dict, gpu: dict, label: str) -> bool:
    assert cpu.keys() == gpu.keys(), f"{label}: different rows {set(cpu) ^ set(gpu)}"
    worst, where = 0.0, None
    for key, want in cpu.items():
        got = gpu[key]
        if want != want and got != got:  # both NaN (e.g. an all-zero median sample)
            continue
        err = abs(got - want) / (abs(want) + 1e-3)  # relative, absolute near zero
        if err > worst:
            worst, where = err, key
    ok = worst < 2e-3
    print(f"{label}: {len(cpu)} values, worst relative difference {worst:.2e} at {where} -> "
          f"{'ok' if ok else 'FAIL'}")
    return ok


def nan_is_localised(model, x, sync: str, device: str = "cuda") -> bool:
    model = copy.deepcopy(model).to(device)
    with torch.no_grad():
        model.blocks[5].mlp.fc.weight[0, 0] = float("nan")
    on_nonfinite = "record" if sync == "deferred" else "raise"
    mon = Monitor(model, metrics="economy", sync=sync, on_nonfinite=on_nonfinite)
    try:
        with mon, mon.step(0):
            model(x.to(device)).float().sum().backward()
    except NonFiniteError as err:
        events = [err.event]
    else:
        events = mon.events
    forward = [e for e in events if e.direction == "forward"]
    ok = bool(forward) and forward[0].layer == "blocks.5"
    print(f"NaN in blocks.5 ({sync}): forward event at {forward[0].layer if forward else None} -> "
          f"{'ok' if ok else 'FAIL'}")
    return ok


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = GPT(n_layer=8, d_model=64, n_head=4, seq_len=32, vocab_size=64)
    x = torch.randint(0, 64, (4, 32))
    cpu = one_step(model, x, "cpu", "step")
    results = [compare(cpu, one_step(model, x, "cuda", sync), f"CPU vs CUDA, sync={sync}")
               for sync in ("step", "deferred")]
    results += [nan_is_localised(model, x, sync) for sync in ("step", "deferred")]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}: "
          f"{sum(results)}/{len(results)} checks passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
