"""Study ``samgs-toy``: the 2-D two-objective toy with a magnitude imbalance.

"Similarity-Aware Momentum Gradient Surgery" (SAM-GS, 2025, arXiv 2506.06130; shared/papers/
SPECS-B.md, paper 2): SAM-GS targets *magnitude* conflicts between task gradients; on the 2-D
toys of its repository (the two-objective problem used since CAGrad, here with f1 scaled by 0.1)
linear scalarisation drifts to the dominant task's optimum or stalls, while SAM-GS reaches
balanced points of the Pareto set. Each seed draws ``n_starts`` starting points in the square
[-10, 10]^2; every start runs its own optimiser state and its own aggregator (the starts are the
"layers" of the run: ``start3`` etc.), so the report shows per-start loss and conflict heatmaps.

Reaching the Pareto set (``pareto_reached``): the end point lies in the lower basin (x2 < 0,
where only the quadratic parts of the objectives are active; the plateau near x2 = 0 and the
log valleys above it are traps) and is Pareto-stationary: the min-norm convex combination of
the unscaled gradients (MGDA's, Sener & Koltun 2018, arXiv 1810.04650) is below ``tol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from layerwise.monitor import RunLog
from layerwise.multiloss import ParamLayout, PerLayer, min_norm_weights, per_loss_grads, write_grad
from layerwise.studies._multiloss_common import ConflictLog, aggregator_for, arm_means, one_thread
from layerwise.studies.recipe import Recipe, study

_FLOOR = 5e-6  # the toy's clamp inside the logarithms


@dataclass(frozen=True)
class SamgsToyConfig:
    """Paper setting (full): Adam lr 1e-3, 20,000 steps, f1 scaled by 0.1, gamma 0.1 (its 2-D toys).

    ``smoke`` runs 1,500 steps at lr 1e-2 from 4 starts (the same path length, coarser steps).
    """

    n_starts: int = 8
    steps: int = 20000
    lr: float = 1e-3
    imbalance: float = 0.1
    gamma: float = 0.1
    tol: float = 0.05
    box: float = 10.0
    every: int = 20


def objectives(x: Tensor) -> tuple[Tensor, Tensor]:
    """(f1, f2) per row of ``x`` (N, 2): log valleys above x2 = 0, quadratics below (CAGrad's toy)."""
    x1, x2 = x[:, 0], x[:, 1]
    upper = torch.tanh(x2 / 2).clamp_min(0)
    lower = torch.tanh(-x2 / 2).clamp_min(0)
    log1 = (0.5 * (-x1 - 7) - torch.tanh(-x2)).abs().clamp_min(_FLOOR).log() + 6
    log2 = (0.5 * (-x1 + 3) + torch.tanh(-x2) + 2).abs().clamp_min(_FLOOR).log() + 6
    sq1 = ((x1 - 7) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20
    sq2 = ((x1 + 7) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20
    return upper * log1 + lower * sq1, upper * log2 + lower * sq2


def pareto_gap(x: Tensor) -> Tensor:
    """Per row: norm of the min-norm convex combination of grad f1 and grad f2 (0: Pareto-stationary)."""
    x = x.detach().double().requires_grad_(True)
    f1, f2 = objectives(x)
    (g1,) = torch.autograd.grad(f1.sum(), x, retain_graph=True)
    (g2,) = torch.autograd.grad(f2.sum(), x)
    gaps = []
    for a, b in zip(g1, g2, strict=True):
        g = torch.stack([a, b])
        gaps.append(min_norm_weights(g @ g.T) @ g)
    return torch.stack(gaps).norm(dim=1)


def reached(x: Tensor, tol: float) -> Tensor:
    """Boolean per row: in the lower basin and Pareto-stationary within ``tol``."""
    return (x[:, 1].detach() < 0) & (pareto_gap(x) < tol)


def starts(cfg: SamgsToyConfig, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(1000 + seed)
    return (torch.rand(cfg.n_starts, 2, generator=gen) * 2 - 1) * cfg.box


def run(cfg: SamgsToyConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Optimise every start with one arm's aggregator; return the share reaching the Pareto set."""
    one_thread()
    x = torch.nn.Parameter(starts(cfg, seed))
    names = [f"start{i}" for i in range(cfg.n_starts)]
    layout = ParamLayout.from_named((f"{n}.x", x[i]) for i, n in enumerate(names))
    agg = PerLayer(aggregator_for(arm, seed=seed, gamma=cfg.gamma), layout)
    opt = torch.optim.Adam([x], lr=cfg.lr)
    meta = {"study": "samgs-toy", "arm": arm, "seed": seed, "config": vars(cfg)}
    with RunLog(run_dir, meta=meta) as log:
        clog = ConflictLog(log, layout, ("f1", "f2"))  # conflict frequency over the logged steps
        for step in range(cfg.steps):
            f1, f2 = objectives(x)
            grads = per_loss_grads([cfg.imbalance * f1.sum(), f2.sum()], [x])
            if step % cfg.every == 0:
                clog.record(step, grads)
                _log_losses(log, step, names, f1, f2)
            opt.zero_grad()
            write_grad([x], agg(grads))
            opt.step()
        return _finish(cfg, x.detach(), log, names)


def _log_losses(log: RunLog, step: int, names: list[str], f1: Tensor, f2: Tensor) -> None:
    vals = torch.stack([f1.detach(), f2.detach()], dim=1).tolist()
    log.log_many(step, [n for n in names for _ in range(2)], ["f1", "f2"] * len(names),
                 [v for row in vals for v in row])
    log.log_scalars(step, loss=float(f1.detach().mean() + f2.detach().mean()))


def _finish(cfg: SamgsToyConfig, x: Tensor, log: RunLog, names: list[str]) -> dict[str, float]:
    hit = reached(x, cfg.tol)
    f1, f2 = objectives(x)
    gap = pareto_gap(x)
    rows = [(n, m, float(v)) for i, n in enumerate(names)
            for m, v in (("pareto", hit[i]), ("gap", gap[i]), ("x1", x[i, 0]), ("x2", x[i, 1]))]
    layers, metrics, values = zip(*rows, strict=True)
    log.log_many(cfg.steps, layers, metrics, values)
    finite = torch.isfinite(f1) & torch.isfinite(f2)
    return {
        "pareto_fraction": float(hit.double().mean()),
        "imbalance": float((f1 - f2).abs()[finite].mean()) if finite.any() else math.nan,
        "final_f1": float(f1.mean()), "final_f2": float(f2.mean()),
        "median_gap": float(gap.median()),
    }


def summarize(cfg: SamgsToyConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of the Pareto share, the final |f1 - f2| and the final losses."""
    return arm_means(results, ("pareto_fraction", "imbalance", "final_f1", "final_f2", "median_gap"))


RECIPE = study(Recipe(
    name="samgs-toy",
    paper="Similarity-Aware Momentum Gradient Surgery (SAM-GS, 2025)",
    arxiv="2506.06130",
    claim="On the 2-D two-objective toy with f1 scaled by 0.1 (a magnitude conflict), SAM-GS brings "
          "more starting points to the Pareto set than linear scalarisation (PCGrad shown beside); we "
          "test the share of random starts that end Pareto-stationary in the lower basin",
    metric="pareto_fraction",
    better="higher",
    arms=("ls", "pcgrad", "samgs"),
    treatment="samgs",
    config=SamgsToyConfig,
    run=run,
    summarize=summarize,
    smoke=dict(n_starts=4, steps=1500, lr=1e-2, every=25),
    full={},
))
