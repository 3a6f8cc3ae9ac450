"""Study ``nap-plasticity``: Normalize-and-Project against plasticity loss under label reshuffles.

Normalization and Effective Learning Rates in Reinforcement Learning (Lyle, Zheng, Khetarpal,
Martens, van Hasselt, Pascanu, Dabney, 2024, arXiv 2407.01800): with a norm before every
nonlinearity the layers are scale-invariant, so their effective learning rate is lr / ||W||^2 and
decays silently as the weights grow; projecting each weight back to its initial norm after every
step (NaP) pins the effective rate and keeps the network plastic under non-stationarity.
Tiny reproduction (shared/papers/SPECS-A.md, paper 13): 1,000 digits with labels re-randomised
every 500 steps, 20 tasks, an MLP 3 x 256 trained with Adam 1e-3.

Arms: ``mlp`` (no norm, the baseline), ``layernorm`` (LayerNorm before each ReLU, the spec's arm b)
and ``nap`` (LayerNorm + projection to the initial norm, the treatment). Metric: the mean
end-of-task training accuracy over the last ``last_tasks`` tasks (higher). The RunLog holds per
layer and per step the weight norm, effective learning rate (``eff_lr``), update ratio and
gradient norm, and one ``task_acc`` row per task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from layerwise.data import digits
from layerwise.models import MLP
from layerwise.monitor import Monitor
from layerwise.studies.recipe import Recipe, study
from layerwise.transforms import (
    TransformedOptimizer,
    effective_lr,
    identity,
    insert_norm_before_activations,
    project_to_init_norm,
)

ARMS = ("mlp", "layernorm", "nap")
METRICS = ["grad_norm", "weight_norm", "update_ratio", "eff_lr", "act_rms"]


@dataclass(frozen=True)
class NaPConfig:
    """The spec's plasticity benchmark (full = these defaults: 20 tasks x 500 steps = 10,000 steps).

    A run takes minutes on one CPU thread at this size; ``last_tasks`` is how many final tasks
    the metric averages. ``batch_size`` 64 is our choice [D].
    """

    n_samples: int = 1000
    tasks: int = 20
    steps_per_task: int = 500
    depth: int = 3
    width: int = 256
    lr: float = 1e-3
    batch_size: int = 64
    last_tasks: int = 5
    every: int = 1


def build(cfg: NaPConfig, arm: str) -> MLP:
    """The MLP of an arm: plain, or with a LayerNorm inserted before each activation."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; use one of {', '.join(ARMS)}")
    model = MLP(in_dim=64, out_dim=10, depth=cfg.depth, width=cfg.width)
    return model if arm == "mlp" else insert_norm_before_activations(model)


def make_optimizer(cfg: NaPConfig, arm: str, model: MLP) -> TransformedOptimizer:
    """Adam at a constant rate; NaP adds the post-step projection of every weight matrix."""
    opt = TransformedOptimizer(torch.optim.Adam(model.parameters(), lr=cfg.lr), identity(),
                               model.named_parameters())
    if arm == "nap":
        opt.add_post_step_hook(project_to_init_norm(model.named_parameters()))
    return opt


def random_labels(n: int, seed: int, task: int) -> Tensor:
    """Fresh uniform labels in [0, 10) for task ``task`` (a local generator)."""
    gen = torch.Generator().manual_seed(seed * 1_000 + task)
    return torch.randint(0, 10, (n,), generator=gen)


@torch.no_grad()
def accuracy(model: MLP, x: Tensor, y: Tensor) -> float:
    """Share of ``x`` classified as ``y``."""
    return float((model(x).argmax(-1) == y).float().mean())


def train_task(cfg: NaPConfig, model: MLP, opt: TransformedOptimizer, mon: Monitor, x: Tensor,
               y: Tensor, task: int, seed: int) -> float:
    """One task: ``steps_per_task`` Adam steps on random minibatches; its final training accuracy.

    The accuracy is measured inside the task's last Monitor step, after its training forward
    pass, so the evaluation's forward pass never stands in for a training step's activations.
    """
    gen = torch.Generator().manual_seed(seed * 7_919 + task)
    first, last = task * cfg.steps_per_task, (task + 1) * cfg.steps_per_task - 1
    acc = float("nan")
    for step in range(first, last + 1):
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=gen)
        with mon.step(step):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            mon.log(loss=loss)
            opt.step()
            if step == last:
                acc = accuracy(model, x, y)
        opt.zero_grad()
    mon.log_scalars(last, task_acc=acc, task=task)
    return acc


def run(cfg: NaPConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one arm through every task; return the late-task accuracy and norm/ELR drifts."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x = digits(flat=True, seed=seed).x_train[: cfg.n_samples]
    model = build(cfg, arm)
    opt = make_optimizer(cfg, arm, model)
    elr_start = effective_lr(opt, model.named_parameters())
    norm_start = _weight_norm(model)
    meta = {"study": "nap-plasticity", "arm": arm, "seed": seed, "config": vars(cfg)}
    accs = []
    with Monitor(model, metrics=METRICS, optimizer=opt.optimizer, every=cfg.every, log=run_dir,
                 meta=meta) as mon:
        for task in range(cfg.tasks):
            accs.append(train_task(cfg, model, opt, mon, x, random_labels(len(x), seed, task), task, seed))
    elr_end = effective_lr(opt, model.named_parameters())
    late = accs[-min(cfg.last_tasks, len(accs)):]
    return {"late_task_acc": float(np.mean(late)), "first_task_acc": accs[0],
            "elr_drift": float(np.mean([elr_end[k] / elr_start[k] for k in elr_start])),
            "norm_growth": _weight_norm(model) / norm_start,
            **{f"task_acc_{i}": a for i, a in enumerate(accs)}}


def _weight_norm(model: MLP) -> float:
    """Frobenius norm of all weight matrices together."""
    mats = [p.detach() for p in model.parameters() if p.dim() >= 2]
    return float(torch.stack(torch._foreach_norm(mats)).square().sum().sqrt())


def summarize(cfg: NaPConfig, results: dict[str, list[dict]]) -> dict:
    """Per arm: mean first/late task accuracy, weight-norm growth, ELR drift and the task curve."""
    out: dict[str, dict] = {}
    for key in ("first_task_acc", "late_task_acc", "norm_growth", "elr_drift"):
        out[key] = {arm: float(np.mean([r[key] for r in rows])) for arm, rows in results.items()}
    out["task_acc_curve"] = {
        arm: [float(np.mean([r[f"task_acc_{i}"] for r in rows])) for i in range(cfg.tasks)]
        for arm, rows in results.items()
    }
    return out


RECIPE = study(Recipe(
    name="nap-plasticity",
    paper="Normalization and Effective Learning Rates in Reinforcement Learning (Lyle et al., 2024)",
    arxiv="2407.01800",
    claim="Normalize-and-Project (LayerNorm before activations, weights projected to their initial "
          "norm after each step) keeps the effective learning rate constant and the network plastic; "
          "we test whether NaP beats a plain MLP on the mean training accuracy of the last tasks when "
          "1,000 digits get fresh random labels every 500 steps",
    metric="late_task_acc",
    better="higher",
    arms=ARMS,
    treatment="nap",
    config=NaPConfig,
    run=run,
    summarize=summarize,
    smoke=dict(tasks=6, steps_per_task=150, n_samples=500, last_tasks=2),
    full={},
    seeds=3,
    smoke_seeds=1,
))
