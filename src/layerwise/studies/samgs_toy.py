"""Study ``samgs-toy``: the 2-D two-objective toy with a magnitude imbalance, start by start.

"Similarity-Aware Momentum Gradient Surgery" (SAM-GS, 2025, arXiv 2506.06130; shared/papers/
SPECS-B.md, paper 2): SAM-GS targets *magnitude* conflicts between task gradients; on the 2-D toy
of its repository (``experiments/toy_problem``: the two-objective problem used since CAGrad, here
with f1 scaled by 0.1) linear scalarisation (ls) is pulled toward the dominant task, while SAM-GS
reaches balanced points of the Pareto set.

Unit of analysis: the starting point. Given its start, each method's trajectory is deterministic
(no data, no noise), so seeds carry no information and the study runs once (``seeds`` = 1 at
every size; the trial ignores its seed). The starts are the repository's 7 fixed initial points
of this problem plus an 8 x 8 grid of cell centres over [-10, 10]^2: 71 starts. Every start runs
ls, PCGrad and SAM-GS (the repository's toy setting: gamma 0.1, beta1 0.9, beta2 0.9) for
``steps`` steps, each start with its own optimiser state and aggregator state (the methods are
vectorised over starts; ``test_samgs_toy`` checks them against the library's per-start
``SAMGS`` and ``PCGrad``).

Reaching the Pareto set (``pareto``): the end point lies in the lower basin (x2 < 0, where only
the quadratic parts of the objectives are active; the plateau near x2 = 0 and the log valleys
above it are traps) and is Pareto-stationary: the min-norm convex combination of the unscaled
gradients (MGDA's, Sener & Koltun 2018, arXiv 1810.04650; closed form for two tasks) is below
``tol``.

Decision (paired by start, an exact McNemar test): b = starts where SAM-GS reaches the Pareto set
and ls does not, c = the reverse; p = P(Binomial(b + c, 1/2) >= b). The claim holds iff p < 0.05
with the paper's optimiser (Adam, lr 1e-3, 20,000 steps: primary). "fails" means the paired
comparison did not show SAM-GS reaching the set from more starts. Secondary, reported: the
"balanced" half of the claim (median |f1 - f2| of SAM-GS's end points over that of ls, on the
starts where both reached the set: below 1 means more balanced), and the same test under SGD
(momentum 0.9, lr 1e-2, where Adam's per-coordinate normalisation no longer blunts the x0.1
imbalance; lr 1e-2 puts the lower basin's slowest direction, curvature ~0.02, at a time constant
of ~5,000 steps, within the budget). Cost: the full size is about 3 CPU-minutes (2,000 steps of
each method from all 71 starts took 1.2-1.4 ms a step at one thread on the shared machine:
3 methods x 2 optimisers x 20,000 steps x 1.3 ms = 2.6 minutes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise.monitor import RunLog
from layerwise.studies._rules import Check, Deterministic
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

_FLOOR = 5e-6  # the toy's clamp inside the logarithms
_TINY = 1e-30
FIXED_STARTS = ((-8.0, 5.0), (-3.0, 7.5), (0.0, 10.0), (3.0, 7.5), (8.0, 5.0), (-10.0, -3.0), (10.0, -3.0))
METHODS = ("ls", "pcgrad", "samgs")


@dataclass(frozen=True)
class SamgsToyConfig:
    """Full: the repository's toy setting (Adam lr 1e-3, 20,000 steps, f1 x 0.1, gamma 0.1,
    beta2 0.9) from 7 fixed starts plus an 8 x 8 grid."""

    steps: int = 20000
    optimizer: str = "adam"
    lr: float = 1e-3
    imbalance: float = 0.1
    gamma: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.9
    grid: int = 8
    box: float = 10.0
    tol: float = 0.05
    every: int = 500


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


def task_grads(x: Tensor, imbalance: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """Per-start gradients (N, 2 tasks, 2 coordinates) of (imbalance * f1, f2), and f1, f2."""
    x = x.detach().requires_grad_(True)
    f1, f2 = objectives(x)
    (g1,) = torch.autograd.grad(f1.sum(), x, retain_graph=True)
    (g2,) = torch.autograd.grad(f2.sum(), x)
    return torch.stack([imbalance * g1, g2], dim=1), f1.detach(), f2.detach()


def pareto_gap(x: Tensor) -> Tensor:
    """Per row: norm of the min-norm convex combination of grad f1 and grad f2 (0: Pareto-stationary)."""
    g, _, _ = task_grads(x.double())
    a, b = g[:, 0], g[:, 1]
    diff = (a - b).pow(2).sum(1)
    alpha = torch.where(diff > 0, ((b - a) * b).sum(1) / diff.clamp_min(_TINY), torch.ones_like(diff))
    alpha = alpha.clamp(0, 1)[:, None]
    return (alpha * a + (1 - alpha) * b).norm(dim=1)


def reached(x: Tensor, tol: float) -> Tensor:
    """Boolean per row: in the lower basin and Pareto-stationary within ``tol``."""
    return (x[:, 1].detach() < 0) & (pareto_gap(x) < tol)


def starts(cfg: SamgsToyConfig) -> Tensor:
    """The 7 fixed starts, then the ``grid`` x ``grid`` cell centres of [-box, box]^2."""
    half = cfg.box / cfg.grid
    axis = torch.linspace(-cfg.box + half, cfg.box - half, cfg.grid)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return torch.cat([torch.tensor(FIXED_STARTS), grid])


class BatchedSAMGS:
    """SAM-GS for two tasks, one independent state per start: (N, 2, D) -> (N, D). Equal, start by
    start, to ``layerwise.multiloss.SAMGS`` (mean trigger, scaled by the task count)."""

    def __init__(self, *, gamma: float, beta1: float, beta2: float) -> None:
        self.gamma, self.beta1, self.beta2 = gamma, beta1, beta2
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t = 0

    def __call__(self, g: Tensor) -> Tensor:
        k = g.shape[1]
        if self.m is None:
            self.m, self.v = torch.zeros_like(g), torch.zeros(g.shape[0], dtype=g.dtype)
        self.t += 1
        n = g.norm(dim=2)  # (N, 2)
        nd = n.double()
        den = nd[:, 0] ** 2 + nd[:, 1] ** 2
        s = torch.where(den > 0, 2 * nd[:, 0] * nd[:, 1] / den.clamp_min(_TINY), torch.ones_like(den))
        s = s.to(g.dtype)
        self.m.lerp_(g, 1 - self.beta1)
        self.v = self.beta2 * self.v + (1 - self.beta2) * (1 - s) ** 2 + 1e-8
        v_hat = self.v / (1 - self.beta2**self.t)
        equalise = (n.mean(1, keepdim=True) * k / n.clamp_min(_TINY))[:, :, None] * g
        factor = k / ((1 - self.beta1**self.t) * v_hat.sqrt())
        modulate = self.m.abs() * g * factor[:, None, None]
        return torch.where((s < self.gamma)[:, None, None], equalise, modulate).sum(1)


def batched_pcgrad(g: Tensor) -> Tensor:
    """PCGrad for two tasks, per start: (N, 2, D) -> (N, D) (for K = 2 the order does not matter)."""
    a, b = g[:, 0], g[:, 1]
    dot = (a * b).sum(1, keepdim=True).clamp_max(0)
    return (a - dot / b.pow(2).sum(1, keepdim=True).clamp_min(_TINY) * b
            + b - dot / a.pow(2).sum(1, keepdim=True).clamp_min(_TINY) * a)


def aggregator(cfg: SamgsToyConfig, method: str):
    if method == "ls":
        return lambda g: g.sum(1)
    if method == "pcgrad":
        return batched_pcgrad
    if method == "samgs":
        return BatchedSAMGS(gamma=cfg.gamma, beta1=cfg.beta1, beta2=cfg.beta2)
    raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def optimise(cfg: SamgsToyConfig, method: str, x0: Tensor, log: RunLog) -> Tensor:
    """Run ``method`` from every start at once; log per-start conflict every ``every`` steps."""
    x = torch.nn.Parameter(x0.clone())
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=cfg.lr)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD([x], lr=cfg.lr, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {cfg.optimizer!r}")
    agg = aggregator(cfg, method)
    names = [f"{method}.start{i}" for i in range(len(x0))]
    for step in range(cfg.steps):
        g, _, _ = task_grads(x, cfg.imbalance)
        if step % cfg.every == 0:
            _log_step(log, step, names, g)
        x.grad = agg(g)
        opt.step()
    return x.detach()


def _log_step(log: RunLog, step: int, names: list[str], g: Tensor) -> None:
    """Per start (one "layer" per method and start): the cosine and magnitude similarity of the
    two (scaled) task gradients."""
    n = g.norm(dim=2)
    cos = (g[:, 0] * g[:, 1]).sum(1) / (n[:, 0] * n[:, 1]).clamp_min(_TINY)
    gms = 2 * n[:, 0] * n[:, 1] / (n[:, 0] ** 2 + n[:, 1] ** 2).clamp_min(_TINY)
    cols = {"cos/f1-f2": cos, "gms/f1-f2": gms}
    values = torch.stack(list(cols.values()), dim=1).tolist()  # one host copy
    metrics = list(cols)
    log.log_many(step, [nm for nm in names for _ in metrics], metrics * len(names),
                 [v for row in values for v in row])


def mcnemar_p(b: int, c: int) -> float:
    """Exact one-sided McNemar p: P(Binomial(b + c, 1/2) >= b); 1 when no start is discordant."""
    n = b + c
    return sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n if n else 1.0


class SamgsToy(Study):
    """ls vs SAM-GS (PCGrad beside), start by start, on the 2-D toy with f1 scaled by 0.1."""

    name = "samgs-toy"
    paper = "Similarity-Aware Momentum Gradient Surgery (SAM-GS, 2025)"
    arxiv = "2506.06130"
    claim = ("On the 2-D two-objective toy with f1 scaled by 0.1 (a magnitude conflict), SAM-GS brings "
             "more starting points to the Pareto set than linear scalarisation (Adam, the paper's "
             "setting; 7 fixed starts + an 8 x 8 grid, exact paired McNemar test, p < 0.05), at more "
             "balanced points; SGD and PCGrad beside")
    Config = SamgsToyConfig
    arms = {"adam": {}, "sgd": {"optimizer": "sgd", "lr": 1e-2}}
    rule = Deterministic(checks=(Check("mcnemar_p", "<", 0.05, arm="adam"),))
    also = (Deterministic(checks=(Check("balance_ratio", "<", 1.0, arm="adam"),)),
            Deterministic(checks=(Check("mcnemar_p", "<", 0.05, arm="sgd"),)))
    seeds = {"tiny": 1, "smoke": 1, "full": 1}
    sizes = {
        "tiny": dict(steps=40, lr=0.05, grid=2, every=20),
        "smoke": dict(steps=2000, lr=1e-2, grid=4, every=250),
    }

    def trial(self, cfg: SamgsToyConfig, t: Trial) -> dict[str, float]:
        x0 = starts(cfg)
        hits, gaps = {}, {}
        with t.runlog() as log:
            for method in METHODS:
                x = optimise(cfg, method, x0, log)
                f1, f2 = objectives(x)
                hits[method], gaps[method] = reached(x, cfg.tol), (f1 - f2).abs()
                names = [f"{method}.start{i}" for i in range(len(x0))]
                log.log_many(cfg.steps, names, ["pareto"] * len(names), hits[method].double().tolist())
        return _paired(hits, gaps, len(FIXED_STARTS))


def _paired(hits: dict[str, Tensor], gaps: dict[str, Tensor], n_fixed: int) -> dict[str, float]:
    """Pareto shares, the McNemar counts and p of SAM-GS (and PCGrad) against ls, the balance."""
    ls, sam = hits["ls"], hits["samgs"]
    out: dict[str, float] = {}
    for method, hit in hits.items():
        out[f"pareto_{method}"] = float(hit.double().mean())
        out[f"pareto_fixed_{method}"] = float(hit[:n_fixed].double().mean())
        out[f"abs_f1_f2_{method}"] = float(gaps[method][hit].median()) if hit.any() else math.nan
    b, c = int((sam & ~ls).sum()), int((ls & ~sam).sum())
    pb, pc = int((hits["pcgrad"] & ~ls).sum()), int((ls & ~hits["pcgrad"]).sum())
    both = sam & ls
    ratio = (float(gaps["samgs"][both].median() / gaps["ls"][both].median().clamp_min(_TINY))
             if both.any() else math.nan)
    return {**out, "samgs_only": float(b), "ls_only": float(c), "mcnemar_p": mcnemar_p(b, c),
            "pcgrad_only": float(pb), "ls_not_pcgrad": float(pc), "mcnemar_p_pcgrad": mcnemar_p(pb, pc),
            "balance_ratio": ratio, "starts": float(len(ls))}
