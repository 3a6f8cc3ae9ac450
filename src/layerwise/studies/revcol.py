"""Study ``revcol``: reversible columns (RevCol) against the same columns run with plain autograd.

Reversible Column Networks (Cai et al., ICLR 2023, arXiv 2212.11696). Column ``t`` updates each
level as ``c[l]^t = alpha * c[l]^(t-1) + Level(down(c[l-1]^t) + up(c[l+1]^(t-1)))``, which can be
inverted, so the backward pass rebuilds every earlier column from the last one and activation
memory stays about constant in the number of columns. Tiny reproduction (shared/papers/SPECS-A.md,
paper 16), a RevCol-mini on 8x8 digits (a 3x3 stem to 16 channels, levels of 16 and 32 channels):

(a) gradient equality: parameter and input gradients of the reversible engine against plain
    autograd with the same weights and input, relative to the gradient's scale (float64);
(b) memory against columns (2/4/8/16): bytes autograd saves in the forward pass, plus for the
    reversible arm the backward's working set (what one recomputed level unit saves);
(c) alpha sweep: rebuild column 0 (all zeros) from the last column with alpha in {0.5, 0.05,
    0.005}; the error grows like (1/alpha)^columns, which is why |alpha| is clamped at 1e-3.

Metric: memory growth from the fewest to the most columns (lower). Memory is deterministic, so
seeds change only the weights and the batch; (a) and (c) are properties of the reversible arm
and are reported in the details. Each run writes a RunLog: memory per column count (``step`` =
columns) and, for the reversible arm, the reconstruction error per level (``step`` = sweep index).
The paper's ImageNet accuracy is out of scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from layerwise.data import digits
from layerwise.monitor import RunLog
from layerwise.nn import RevColumns, saved_tensor_bytes
from layerwise.studies.recipe import Recipe, study

ARMS = ("plain", "reversible")
MIB = 2**20


@dataclass(frozen=True)
class RevColConfig:
    """Paper-16 tiny reproduction (full): levels (16, 32), 2..16 columns, batch 64 of 8x8 digits.

    ``grad_columns``: columns of the net used for (a) and (c); ``grad_dtype``: precision of (a)
    (float64: expected below 1e-8 relative; float32: about 1e-4).
    """

    channels: tuple[int, ...] = (16, 32)
    columns: tuple[int, ...] = (2, 4, 8, 16)
    grad_columns: int = 4
    batch_size: int = 64
    alphas: tuple[float, ...] = (0.5, 0.05, 0.005)
    grad_dtype: str = "float64"


def _batch(cfg: RevColConfig, seed: int) -> Tensor:
    x = digits().x_train
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: cfg.batch_size]
    return x[pick]


def step_bytes(net: RevColumns, h: Tensor) -> int:
    """Saved bytes of the forward pass, plus (reversible) the largest single level unit's saved bytes."""
    saved = saved_tensor_bytes(net, h, exclude=list(net.parameters()))
    if not net.reversible:
        return saved
    streams = [s.detach().requires_grad_(True) for s in net.initial_streams(h.detach())]
    work = 0
    for step in net.steps()[: len(net.channels)]:  # column 0: one unit per level
        args = [streams[i] for i in step.sources]
        work = max(work, saved_tensor_bytes(step.fn, *args))
    return saved + work


def grad_difference(net: RevColumns, h: Tensor, seed: int) -> float:
    """Gradient difference, reversible engine vs plain autograd, relative to the gradients' scale:
    the largest ``|g_rev - g_plain|`` over the input and every parameter over the largest ``|g_plain|``
    (per-tensor ratios are meaningless for column 1's alphas, whose exact gradient is 0)."""
    weights = None
    grads = []
    for reversible in (True, False):
        net.reversible = reversible
        x = h.detach().requires_grad_(True)
        net.zero_grad(set_to_none=True)
        out = net(x)
        if weights is None:
            g = torch.Generator().manual_seed(seed)
            weights = [torch.randn(o.shape, generator=g, dtype=o.dtype) for o in out]
        sum((o * w).sum() for o, w in zip(out, weights, strict=True)).backward()
        grads.append([x.grad] + [p.grad for p in net.parameters()])
    net.reversible = True
    pairs = [(a, b) for a, b in zip(*grads, strict=True) if a is not None and b is not None]
    scale = max(float(b.abs().max()) for _, b in pairs)
    return max(float((a - b).abs().max()) for a, b in pairs) / max(scale, 1e-300)


@torch.no_grad()
def reconstruction_error(cfg: RevColConfig, h: Tensor, alpha: float) -> list[float]:
    """Per level: max |rebuilt column 0| / max |last column| (column 0 is exactly zero)."""
    net = RevColumns(cfg.channels, cfg.grad_columns, alpha_init=alpha).eval()
    last = net(h)
    first = net.inverse(h, last)
    return [float(f.abs().max() / c.abs().max().clamp_min(1e-30)) for f, c in zip(first, last, strict=True)]


def run(cfg: RevColConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """One arm ("plain" or "reversible"): memory per column count; (a) and (c) for the reversible arm."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    stem = nn.Conv2d(1, cfg.channels[0], 3, padding=1)
    h = stem(_batch(cfg, seed))
    result: dict[str, float] = {}
    meta = {"study": "revcol", "arm": arm, "seed": seed, "config": vars(cfg)}
    with RunLog(run_dir, meta=meta) as log:
        for n in cfg.columns:
            net = RevColumns(cfg.channels, n, reversible=arm == "reversible").train()
            result[f"mib_columns_{n}"] = step_bytes(net, h) / MIB
            log.log_scalars(n, memory_mib=result[f"mib_columns_{n}"])
        if arm == "reversible":
            _reversible_checks(cfg, h, seed, log, result)
    fewest, most = cfg.columns[0], cfg.columns[-1]
    result["memory_growth"] = result[f"mib_columns_{most}"] / result[f"mib_columns_{fewest}"]
    return result


def _reversible_checks(cfg: RevColConfig, h: Tensor, seed: int, log: RunLog, result: dict) -> None:
    dtype = getattr(torch, cfg.grad_dtype)
    net = RevColumns(cfg.channels, cfg.grad_columns).train().to(dtype)
    result["grad_rel_diff"] = grad_difference(net, h.detach().to(dtype), seed)
    log.log_scalars(0, grad_rel_diff=result["grad_rel_diff"])
    for i, alpha in enumerate(cfg.alphas):
        errors = reconstruction_error(cfg, h.detach(), alpha)
        log.log_many(i, [f"level{lvl}" for lvl in range(len(errors))], ["recon_error"] * len(errors), errors)
        log.log_scalars(i, alpha=alpha, recon_error=max(errors))
        result[f"recon_error_alpha_{alpha:g}"] = max(errors)


def summarize(cfg: RevColConfig, results: dict[str, list[dict]]) -> dict:
    """Memory per column count, gradient differences and the alpha sweep (means over seeds)."""
    rev = results["reversible"]
    return {
        "memory_mib_per_columns": {arm: {n: round(rows[0][f"mib_columns_{n}"], 4) for n in cfg.columns}
                                   for arm, rows in results.items()},
        "grad_rel_diff": max(r["grad_rel_diff"] for r in rev),
        "grad_dtype": cfg.grad_dtype,
        "recon_error_per_alpha": {a: sum(r[f"recon_error_alpha_{a:g}"] for r in rev) / len(rev)
                                  for a in cfg.alphas},
    }


RECIPE = study(Recipe(
    name="revcol",
    paper="Reversible Column Networks (Cai et al., ICLR 2023)",
    arxiv="2212.11696",
    claim="Reversible columns keep activation memory about constant in the number of columns "
          "(plain autograd: linear) with gradients equal to plain autograd; tested on the memory growth "
          "from 2 to 16 columns of a RevCol-mini on 8x8 digits, with gradient equality and the "
          "reconstruction error against alpha reported (the ImageNet accuracy is out of scope)",
    metric="memory_growth",
    better="lower",
    arms=ARMS,
    config=RevColConfig,
    run=run,
    summarize=summarize,
    smoke=dict(columns=(2, 4, 8), grad_columns=3, batch_size=8),
    full={},
    seeds=3,
    smoke_seeds=1,
))
