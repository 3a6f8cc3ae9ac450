"""Study ``pinn-helmholtz``: gradient pathologies of a PINN on the 2-D Helmholtz equation.

"Understanding and mitigating gradient pathologies in physics-informed neural networks"
(Wang, Teng, Perdikaris, 2021, arXiv 2001.04536; shared/papers/SPECS-B.md paper 4): the
back-propagated gradients of the PDE residual loss dwarf those of the boundary loss, so a plain
PINN fits the boundary badly. Learning-rate annealing of the boundary weight lambda
(``GradStatAnnealer``: max |grad L_r| / mean |grad lambda L_b| over weight matrices, EMA 0.9,
every 10 steps) and the gated U/V MLP (``GatedMLP``) each lower the relative L2 error; together
(M4) the paper reports 50-100x at 40,000 steps. Arms: plain MLP (M1, baseline), annealed (M2,
secondary) and gated + annealed (M4, treatment); the gated MLP alone (M3) is left out for cost.

Judged: log10 of the relative L2 error on the 100 x 100 grid (the claim is multiplicative), M4
against M1, paired by seed (both arms see the same collocation points; the networks differ, so
their initialisations do too). The full size is the spec's CPU size, 5,000 steps (the paper's
schedule, Adam 1e-3 decayed x0.9 per 1,000 steps, cut at 5,000); the spec predicts that M2 and
M4 are "at least 10x below M1 even at 5k iterations", so ``min_effect`` is 1 (a factor of 10).
A seed whose error is not finite scores log10 = 1 (ten times worse than predicting zero). Gate:
M4's error must be below 0.5 (half the error of the zero predictor), else nothing was learned
and the comparison is not judged (the audit found every arm at >= 1 after 300 steps).

Logged every 10 steps: the losses and lambda; every 1,000 steps the error; every ``every``
(100) steps, per layer: the pairwise cosine and magnitude similarity of grad L_r and
grad (lambda L_b), the conflict frequency, and ``res_over_bc`` = max |grad L_r| / mean
|grad lambda L_b| (the paper's imbalance statistic). Cost: about 17 CPU-minutes at the full
size (100 timed steps at one thread: M1 9 ms, M4 17 ms a step, M2 about 10 ms: 5,000 steps x
36 ms x 5 seeds = 15 minutes, plus the logging and evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from layerwise.multiloss import (
    GatedMLP,
    GradStatAnnealer,
    Helmholtz2D,
    ParamLayout,
    lambda_hat,
    per_loss_grads,
)
from layerwise.studies._multiloss import ConflictLog
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

WORST_LOG10 = 1.0  # a diverged run: ten times the zero predictor's error


@dataclass(frozen=True)
class PinnHelmholtzConfig:
    """Full: [2, 50, 50, 50, 1] tanh, Adam 1e-3 decayed x0.9 per 1,000 steps, batch 128 interior
    points and 128 per edge, 5,000 steps (the paper runs 40,001), error on a 100 x 100 grid."""

    width: int = 50
    depth: int = 3
    steps: int = 5000
    batch_size: int = 128
    lr: float = 1e-3
    decay: float = 0.9
    decay_steps: int = 1000
    gated: bool = False
    annealed: bool = False
    anneal_every: int = 10
    alpha: float = 0.9
    every: int = 100
    eval_every: int = 1000
    grid: int = 100


class PlainMLP(nn.Module):
    """tanh MLP with Xavier-normal weights and zero biases (the paper's M1 network)."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        dims = [2] + [width] * depth
        self.hidden = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)])
        self.out = nn.Linear(width, 1)
        for lin in [*self.hidden, self.out]:
            nn.init.xavier_normal_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        for lin in self.hidden:
            x = torch.tanh(lin(x))
        return self.out(x)


def make_model(cfg: PinnHelmholtzConfig) -> nn.Module:
    if cfg.gated:
        return GatedMLP(2, 1, width=cfg.width, depth=cfg.depth)
    return PlainMLP(cfg.width, cfg.depth)


def pinn_losses(prob: Helmholtz2D, model: nn.Module, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """(mean squared residual, sum over the 4 edges of each edge's boundary MSE)."""
    res = prob.residual(model, prob.collocation(n, generator=gen)).pow(2).mean()
    xb, ub = prob.boundary(n, generator=gen)
    bc = (model(xb) - ub).pow(2).reshape(4, n).mean(1).sum()
    return res, bc


def initial_imbalance(model: nn.Module, res: Tensor, bc: Tensor) -> float:
    """max |grad L_r| / mean over layers of mean |grad L_b|, weight matrices only."""
    weights = [p for p in model.parameters() if p.ndim >= 2]
    g_r = torch.autograd.grad(res, weights, retain_graph=True)
    g_b = torch.autograd.grad(bc, weights, retain_graph=True)
    return float(lambda_hat(g_r, g_b))


class PinnHelmholtz(Study):
    """M1 (plain) vs M4 (gated + annealed) PINNs on Helmholtz: log10 relative L2 error."""

    name = "pinn-helmholtz"
    paper = ("Understanding and mitigating gradient pathologies in physics-informed neural networks "
             "(Wang, Teng, Perdikaris, 2021)")
    arxiv = "2001.04536"
    claim = ("On the 2-D Helmholtz problem (a1=1, a2=4), the gated U/V MLP with learning-rate annealing of "
             "the boundary weight (M4) lowers the PINN's relative L2 error at least 10x against a plain tanh "
             "MLP (M1) at 5,000 steps (the paper: 50-100x at 40k); annealing alone (M2) beside")
    Config = PinnHelmholtzConfig
    arms = {"plain": {}, "annealed": {"annealed": True}, "gated-annealed": {"gated": True, "annealed": True}}
    rule = Superiority("log10_rel_l2", "lower", treatment="gated-annealed", baseline="plain",
                       min_effect=1.0, worst=WORST_LOG10)
    also = (Superiority("log10_rel_l2", "lower", treatment="annealed", baseline="plain", min_effect=1.0,
                        worst=WORST_LOG10),)
    gates = (Gate("rel_l2", below=0.5, arms=("gated-annealed",)),)
    sizes = {
        "tiny": dict(width=8, depth=2, steps=8, batch_size=16, anneal_every=4, every=4, eval_every=4,
                     grid=10),
        "smoke": dict(steps=300, every=50, eval_every=100, grid=50),
    }

    def trial(self, cfg: PinnHelmholtzConfig, t: Trial) -> dict[str, float]:
        prob, gen = Helmholtz2D(), t.generator()
        model = make_model(cfg)
        params = list(model.parameters())
        layout = ParamLayout.from_module(model)
        annealer = (GradStatAnnealer(model, 2, alpha=cfg.alpha, every=cfg.anneal_every)
                    if cfg.annealed else None)
        opt = torch.optim.Adam(params, lr=cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cfg.decay ** (s / cfg.decay_steps))
        lam, imbalance0, error = 1.0, math.nan, math.nan
        with t.runlog() as log:
            clog = ConflictLog(log, layout, ("res", "bc"))
            for step in range(cfg.steps):
                res, bc = pinn_losses(prob, model, cfg.batch_size, gen)
                if step == 0:
                    imbalance0 = initial_imbalance(model, res, bc)
                loss = annealer.combine([res, bc]) if annealer is not None else res + bc
                lam = float(annealer.weights[1]) if annealer is not None else 1.0
                if step % cfg.every == 0:
                    grads = per_loss_grads([res, lam * bc], params, retain_graph=True)
                    _log_layers(clog, layout, step, grads)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                if step % 10 == 0:
                    loss_value = float(loss.detach())
                    log.log_scalars(step, loss_res=float(res.detach()), loss_bc=float(bc.detach()), lam=lam)
                    if not math.isfinite(loss_value):
                        error = math.nan  # diverged: the rule scores it (worst)
                        break
                if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
                    error = prob.relative_l2(model, cfg.grid)
                    log.log_scalars(step + 1, rel_l2=error)
        finite = math.isfinite(error) and error > 0
        return {"rel_l2": error if finite else math.nan,
                "log10_rel_l2": math.log10(error) if finite else math.nan,
                "final_lambda": lam, "initial_imbalance": imbalance0,
                "conflict_freq": clog.mean_frequency()}


def _log_layers(clog: ConflictLog, layout: ParamLayout, step: int, grads: Tensor) -> None:
    """Conflict rows and, per layer, max |grad L_r| / mean |grad lambda L_b|."""
    clog.record(step, grads)
    parts = layout.split(grads.detach())
    ratios = torch.stack([g[0].abs().max() / g[1].abs().mean().clamp_min(1e-30) for g in parts.values()])
    clog.log.log_many(step, list(parts), ["res_over_bc"] * len(parts), ratios.tolist())
