"""Study ``nap-plasticity``: Normalize-and-Project against plasticity loss under label reshuffles.

Normalization and Effective Learning Rates in Reinforcement Learning (Lyle, Zheng, Khetarpal,
Martens, van Hasselt, Pascanu, Dabney, 2024, arXiv 2407.01800): with a norm before every
nonlinearity the layers are scale-invariant, so their effective learning rate is lr / ||W||^2 and
decays silently as the weights grow; projecting each weight back to its initial norm after every
step (NaP) pins the effective rate and keeps the network plastic under non-stationarity.
Tiny reproduction (shared/papers/SPECS-A.md, paper 13): 1,000 digits whose labels are replaced by
fresh random labels every ``steps_per_task`` steps, an MLP of ``depth`` x ``width`` trained with
Adam at a constant 1e-3; after each task, the training accuracy on its labels.

Arms (the spec's a-d; all start from the same Linear weights and see the same labels and batches):
``layernorm`` (LayerNorm before each ReLU: the baseline, since NaP's own contribution is the
projection on top of normalisation), ``nap`` (LayerNorm + projection of every weight matrix to its
initial norm after each step: the treatment), ``ln-wd`` (LayerNorm + decoupled weight decay on the
weight matrices, the other way to stop norm growth) and ``mlp`` (no norm, a reference only).

Primary: mean end-of-task accuracy over the last ``window`` tasks, NaP vs LayerNorm, paired t over
seeds, at least 0.02 better (20 of the 1,000 relabelled samples; the paper's numbers were not
read, so this is our smallest gain worth the name). We judge late-task accuracy rather than
late-minus-early: the arms share initialisation and labels, so the paired late-task difference is
the plasticity NaP keeps, without the extra noise of a within-arm difference, and an arm that is
worse throughout cannot win by declining less. Secondary: NaP vs LN + weight decay on the same
metric; NaP loses less plasticity (``plasticity_loss`` = early minus late accuracy) than LayerNorm.
Gates: NaP and LayerNorm fit their first tasks (accuracy above chance + 0.1), and the LayerNorm arm
really loses plasticity (its late tasks at least 0.05 below its early ones): without that the claim
cannot be tested at this size, and the verdict is not-judged with that reason. The RunLog holds per
layer the weight norm, effective learning rate (``eff_lr``), update ratio and gradient norm every
``every`` steps, and one ``task_acc`` row per task.

Size: the spec's 20 tasks x 500 steps at width 256 did not lose plasticity under LayerNorm
(a run without the Monitor, seed 0: end-of-task accuracy 0.90 over the first five tasks, 0.94 over
the last five, though the effective rate fell tenfold: a wide net memorises 1,000 labels anyway).
The registered size is 40 tasks x 250 steps at width 64, where the same check gave 0.38 early and
0.25 late. Decay 0.1 [D] in ``ln-wd``: for a scale-invariant matrix, Adam's steps grow ||W||^2 by
about n_params * lr^2 per step and decoupled decay shrinks it by 2 * lr * wd * ||W||^2, which
balance near the initial norm of a 64 x 64 layer (||W||^2 about 21) at wd = 0.1.

Full size: 10,000 steps per run, about 25 s on one thread with the Monitor every 10 steps
(measured: 2.5 CPU-s for 1,000 steps); 4 arms x 8 seeds: about 13 CPU-minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from layerwise.data import digits
from layerwise.models import MLP
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial
from layerwise.transforms import (
    TransformedOptimizer,
    effective_lr,
    identity,
    insert_norm_before_activations,
    project_to_init_norm,
)

METRICS = ["grad_norm", "weight_norm", "update_ratio", "eff_lr", "act_rms"]


@dataclass(frozen=True)
class NaPConfig:
    """The plasticity benchmark. ``norm``: "layer" (LayerNorm before each ReLU) or "none";
    ``project``: NaP's projection to the initial norms; ``weight_decay``: decoupled (AdamW) decay
    of the weight matrices; ``window``: how many first and last tasks the accuracies average.
    ``batch_size`` 64 is our choice [D]."""

    n_samples: int = 1000
    tasks: int = 40
    steps_per_task: int = 250
    depth: int = 3
    width: int = 64
    lr: float = 1e-3
    batch_size: int = 64
    window: int = 5
    norm: str = "layer"
    project: bool = False
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    every: int = 10


class NaPPlasticity(Study):
    """LayerNorm vs Normalize-and-Project (and LN + weight decay, plain MLP) under label reshuffles."""

    name = "nap-plasticity"
    paper = "Normalization and Effective Learning Rates in Reinforcement Learning (Lyle et al., 2024)"
    arxiv = "2407.01800"
    claim = ("Normalize-and-Project keeps a normalised network plastic: when 1,000 digits get fresh "
             "random labels every 250 steps for 40 tasks, an MLP (3 x 64) with LayerNorm before each "
             "ReLU whose weights are projected back to their initial norms after every Adam step fits "
             "the last 5 tasks better, by at least 2 points of training accuracy, than the same network "
             "without the projection, which loses plasticity as its weights grow")
    Config = NaPConfig
    arms = {"layernorm": {"norm": "layer"},
            "nap": {"norm": "layer", "project": True},
            "ln-wd": {"norm": "layer", "weight_decay": 0.1},
            "mlp": {"norm": "none"}}
    rule = Superiority("late_task_acc", "higher", treatment="nap", baseline="layernorm", min_effect=0.02)
    also = (Superiority("late_task_acc", "higher", treatment="nap", baseline="ln-wd"),
            Superiority("plasticity_loss", "lower", treatment="nap", baseline="layernorm"))
    gates = (Gate("early_task_acc", above="chance", margin=0.1),
             Gate("plasticity_loss", above=0.0, margin=0.05, arms=("layernorm",)))
    sizes = {
        "tiny": dict(tasks=3, steps_per_task=8, n_samples=64, width=32, batch_size=16, window=1,
                     every=1),
        "smoke": dict(tasks=10, steps_per_task=150, n_samples=500, window=3),
    }
    seeds = {"tiny": 1, "smoke": 1, "full": 8}

    def trial(self, cfg: NaPConfig, t: Trial) -> dict[str, float | list[float]]:
        x = digits(flat=True, seed=t.seed).x_train[: cfg.n_samples]
        model = MLP(in_dim=64, out_dim=10, depth=cfg.depth, width=cfg.width)
        if cfg.norm == "layer":
            insert_norm_before_activations(model)
        elif cfg.norm != "none":
            raise ValueError(f"norm must be 'layer' or 'none', got {cfg.norm!r}")
        opt = _optimizer(cfg, model)
        elr_start, norm_start = effective_lr(opt, model.named_parameters()), _weight_norm(model)
        accs = []
        with t.monitor(model, metrics=METRICS, optimizer=opt.optimizer, every=cfg.every) as mon:
            for task in range(cfg.tasks):
                y = torch.randint(0, 10, (len(x),), generator=t.generator(100_000 + task))
                accs.append(_train_task(cfg, model, opt, mon, x, y, task, t.generator(task)))
        elr_end = effective_lr(opt, model.named_parameters())
        early, late = accs[: cfg.window], accs[-cfg.window:]
        return {"late_task_acc": float(np.mean(late)), "early_task_acc": float(np.mean(early)),
                "plasticity_loss": float(np.mean(early) - np.mean(late)),
                "elr_drift": float(np.mean([elr_end[k] / elr_start[k] for k in elr_start])),
                "norm_growth": _weight_norm(model) / norm_start,
                "task_acc": [float(a) for a in accs], "chance": 0.1}


def _optimizer(cfg: NaPConfig, model: MLP) -> TransformedOptimizer:
    """Adam at a constant rate (AdamW's decoupled decay on the weight matrices when
    ``weight_decay`` > 0); NaP adds the post-step projection of every weight matrix."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": cfg.weight_decay}, {"params": others, "weight_decay": 0.0}]
    opt = TransformedOptimizer(torch.optim.AdamW(groups, lr=cfg.lr), identity(), model.named_parameters())
    if cfg.project:
        opt.add_post_step_hook(project_to_init_norm(model.named_parameters()))
    return opt


def _train_task(cfg: NaPConfig, model: MLP, opt: TransformedOptimizer, mon, x: torch.Tensor,
                y: torch.Tensor, task: int, gen: torch.Generator) -> float:
    """One task: ``steps_per_task`` steps on random minibatches; its final training accuracy,
    measured inside the task's last Monitor step, after its training forward pass."""
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
                with torch.no_grad():
                    acc = float((model(x).argmax(-1) == y).float().mean())
        opt.zero_grad()
    mon.log_scalars(last, task_acc=acc, task=task)
    return acc


def _weight_norm(model: MLP) -> float:
    """Frobenius norm of all weight matrices together."""
    mats = [p.detach() for p in model.parameters() if p.dim() >= 2]
    return float(torch.stack(torch._foreach_norm(mats)).square().sum().sqrt())
