"""Study ``elu``: ReLU against LeakyReLU and ELU in an 8x128 MLP, with and without BatchNorm.

Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs) (Clevert, Unterthiner,
Hochreiter, ICLR 2016, arXiv 1511.07289). ELU, ``x`` for ``x > 0`` and ``alpha (e^x - 1)`` below,
has negative outputs that pull each unit's mean activation toward zero. Non-zero means act as a
bias on the next layer ("bias shift"); removing it brings the gradient closer to the natural
gradient, so the paper claims ELU networks learn faster than ReLU and LeakyReLU ones for depths
above 5, and that BatchNorm does not improve them. Tiny reproduction (shared/papers/SPECS-B.md,
paper 13): an 8x128 MLP (He init) on scikit-learn's 8x8 digits, SGD lr 0.01, batch 64, 60 epochs,
LeakyReLU slope 0.1, each activation with and without BatchNorm.

Per arm and seed: the training loss over the whole training set after each epoch (the metric is
the loss after ``judge_epoch`` epochs: speed of learning, lower is better), the final validation
error, and the Monitor's per-layer ``act_mean`` and ``bias_shift`` (``metrics="business"``) over
the last 20% of the logged steps. If the claim holds, ELU's per-layer means stay closest to zero
while ReLU's are positive, ELU reaches a lower loss sooner, and BatchNorm narrows the gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from layerwise.data import digits, mnist1d
from layerwise.models import MLP
from layerwise.monitor import Monitor, RunLog
from layerwise.monitor.summary import layer_profile
from layerwise.studies.recipe import Recipe, study

ACTS = ("relu", "leaky_relu", "elu")
ARMS = ACTS + tuple(f"{a}-bn" for a in ACTS)


@dataclass(frozen=True)
class EluConfig:
    """Paper-13 tiny reproduction (full): 8x128 MLP, SGD lr 0.01, batch 64, 60 epochs on digits.

    ``dataset``: "digits" (1,438 train images) or "mnist1d" (4,000 signals); ``judge_epoch``: the
    epoch whose training loss is the metric; ``every``: the Monitor's logging cadence in steps.
    """

    dataset: str = "digits"
    depth: int = 8
    width: int = 128
    lr: float = 0.01
    batch_size: int = 64
    epochs: int = 60
    judge_epoch: int = 10
    leak: float = 0.1
    elu_alpha: float = 1.0
    init: str = "kaiming"
    every: int = 5


def build_model(cfg: EluConfig, arm: str, in_dim: int) -> nn.Module:
    """The MLP of one arm: activation from the arm's name, BatchNorm when it ends in ``-bn``."""
    act = arm.removesuffix("-bn")
    model = MLP(in_dim=in_dim, out_dim=10, depth=cfg.depth, width=cfg.width, act=act,
                norm="batch" if arm.endswith("-bn") else None, init=cfg.init)
    for block in model.blocks:
        if act == "leaky_relu":
            block.act = nn.LeakyReLU(cfg.leak)
        elif act == "elu":
            block.act = nn.ELU(cfg.elu_alpha)
    return model


def _data(cfg: EluConfig):
    if cfg.dataset == "digits":
        return digits(flat=True)
    if cfg.dataset == "mnist1d":
        return mnist1d(num_samples=5000)
    raise ValueError(f"dataset must be 'digits' or 'mnist1d', got {cfg.dataset!r}")


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, error rate) over the whole tensor, in eval mode."""
    was = model.training
    model.eval()
    logits = model(x)
    model.train(was)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) != y).float().mean().item()


def _train(cfg: EluConfig, model: nn.Module, data, seed: int, mon: Monitor) -> dict[str, float]:
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    mon.watch_optimizer(opt)
    out: dict[str, float] = {}
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        for x, y in data.loader(cfg.batch_size, seed=seed * 10_000 + epoch):
            with mon.step(step):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
        train_loss, _ = _evaluate(model, *data.tensors("train"))
        val_loss, val_error = _evaluate(model, *data.tensors("val"))
        mon.log_scalars(step - 1, train_loss_full=train_loss, val_loss=val_loss, val_error=val_error)
        out[f"train_loss_epoch_{epoch}"] = train_loss
        if not math.isfinite(train_loss):
            break
    out.update(final_train_loss=train_loss, val_error=val_error)
    return out


def run(cfg: EluConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one arm (activation, with or without BatchNorm) for one seed."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = _data(cfg)
    model = build_model(cfg, arm, data.x_train.shape[1])
    meta = {"study": "elu", "arm": arm, "seed": seed, "config": vars(cfg)}
    with Monitor(model, metrics="business", every=cfg.every, log=run_dir, meta=meta,
                 on_nonfinite="record") as mon:
        result = _train(cfg, model, data, seed, mon)
    result["train_loss_at_judge"] = result.get(f"train_loss_epoch_{cfg.judge_epoch}", float("nan"))
    table = RunLog.read(run_dir)
    names = [f"blocks.{i}" for i in range(cfg.depth)]
    means = layer_profile(table, "act_mean", layers=names)
    shift = layer_profile(table, "bias_shift", layers=names)
    for i, name in enumerate(names):
        result[f"act_mean_{i}"], result[f"bias_shift_{i}"] = means[name], shift[name]
    result["mean_abs_act_mean"] = sum(abs(v) for v in means.values()) / len(names)
    result["mean_bias_shift"] = sum(shift.values()) / len(names)
    return result


def summarize(cfg: EluConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means: loss at epochs 5/10/20, validation error, bias shift and the act_mean profile."""
    def mean(rows, key):
        vals = [r[key] for r in rows if key in r and math.isfinite(r[key])]
        return sum(vals) / len(vals) if vals else float("nan")

    out: dict = {}
    for key in ("final_train_loss", "val_error", "mean_abs_act_mean", "mean_bias_shift"):
        out[key] = {arm: mean(rows, key) for arm, rows in results.items()}
    for epoch in (5, 10, 20):
        if epoch <= cfg.epochs:
            out[f"train_loss_epoch_{epoch}"] = {arm: mean(rows, f"train_loss_epoch_{epoch}")
                                                for arm, rows in results.items()}
    out["act_mean_profile"] = {arm: [round(mean(rows, f"act_mean_{i}"), 4) for i in range(cfg.depth)]
                               for arm, rows in results.items()}
    return out


RECIPE = study(Recipe(
    name="elu",
    paper="Fast and Accurate Deep Network Learning by Exponential Linear Units (Clevert et al., 2016)",
    arxiv="1511.07289",
    claim="ELU pulls per-layer mean activations toward zero (less bias shift) and so trains an 8x128 "
          "MLP faster than ReLU and LeakyReLU, with BatchNorm narrowing the gap; tested on the training "
          "loss after judge_epoch epochs on 8x8 digits, with the per-layer act_mean and bias_shift "
          "profiles reported for all six arms",
    metric="train_loss_at_judge",
    better="lower",
    arms=ARMS,
    treatment="elu",
    config=EluConfig,
    run=run,
    summarize=summarize,
    smoke=dict(epochs=5, judge_epoch=5),
    full={},
    seeds=5,
    smoke_seeds=1,
))
