"""Study ``shallow-again``: a deep residual MLP against its parallel (first-order) shallow twin.

Make Deep Networks Shallow Again (Bermeitinger, Hrycej & Handschuh, 2023, arXiv 2309.08414):
truncating the Taylor-like expansion of a residual stack after the first-order term gives a
parallel layer ``x + sum_i F_i(x)`` with the same parameters, and the paper reports that deep
sequential and shallow parallel layouts reach similar training and validation loss (parallel
sometimes better on validation), over 6,912 conv-net configurations on MNIST and CIFAR-10.

Tiny reproduction (shared/papers/SPECS-A.md, paper 6): sklearn digits (or mnist1d); embedding
Linear(in, 64), ``L`` residual branches LN -> Linear -> ReLU -> Linear (width 64), LN, Linear head;
arms ``sequential`` (baseline) and ``parallel`` (:func:`layerwise.nn.parallel.parallelize`, identical
parameter count); Adam 1e-3, 40 epochs, batch 64, for each ``L`` in {2, 4, 8, 16}.

Verdict metric: validation cross-entropy averaged over the depth sweep (one number per run, as the
paper pools its configurations); ``better="lower"`` with ``parallel`` the treatment, so ``holds``
means parallel is *lower*, ``fails`` means the deep stack's composition helps, and
``inconclusive`` (difference within seed noise) is what the paper's "similar loss" predicts.
Per-depth losses and the trained ``higher_order_ratio`` (how much the sequential stack uses
composition; expected to grow with ``L``) are in the verdict's details. The deepest model of
each run is monitored per branch (``stack.branches.N``); the other depths log scalars only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.data import digits, mnist1d
from layerwise.monitor import Monitor
from layerwise.nn.parallel import SequentialResidual, higher_order_ratio, parallelize
from layerwise.studies.recipe import Recipe, study


@dataclass(frozen=True)
class ShallowAgainConfig:
    """Paper-6 tiny-reproduction defaults (full: 4 depths x 40 epochs, about 1 min per run on CPU)."""

    depths: tuple[int, ...] = (2, 4, 8, 16)
    width: int = 64
    dataset: str = "digits"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    max_train: int | None = None
    every: int = 1


class ResidualMLP(nn.Module):
    """embed -> residual stack of ``depth`` branches (LN, Linear, ReLU, Linear) -> LN -> head."""

    def __init__(self, in_dim: int, classes: int, *, depth: int, width: int, parallel: bool) -> None:
        super().__init__()
        self.embed = nn.Linear(in_dim, width)
        seq = SequentialResidual(_branch(width) for _ in range(depth))
        self.stack = parallelize(seq) if parallel else seq
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.stack(self.embed(x.flatten(1)))))


def _branch(width: int) -> nn.Module:
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))


def _data(cfg: ShallowAgainConfig):
    if cfg.dataset not in ("digits", "mnist1d"):
        raise ValueError(f"dataset must be 'digits' or 'mnist1d', got {cfg.dataset!r}")
    split = digits(flat=True) if cfg.dataset == "digits" else mnist1d()
    n = cfg.max_train or len(split.x_train)
    return split.x_train[:n], split.y_train[:n], split.x_val, split.y_val, split.num_classes


@torch.no_grad()
def _evaluate(model: ResidualMLP, x: Tensor, y: Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    model.train()
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def _train(model: ResidualMLP, opt, cfg: ShallowAgainConfig, data, seed: int,
           mon: Monitor | None) -> int:
    x, y = data[0], data[1]
    gen = torch.Generator().manual_seed(seed)
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            if mon is None:
                F.cross_entropy(model(x[idx]), y[idx]).backward()
            else:
                with mon.step(step):
                    loss = F.cross_entropy(model(x[idx]), y[idx])
                    loss.backward()
                    mon.log(loss=loss.detach())
            opt.step()
            opt.zero_grad()
            step += 1
    return step


def _one_depth(cfg: ShallowAgainConfig, arm: str, seed: int, depth: int, data,
               run_dir: Path | None = None, earlier: dict | None = None) -> dict[str, float]:
    """Train one depth; with ``run_dir``, under a Monitor that also logs ``earlier`` as scalars."""
    torch.manual_seed(seed)
    model = ResidualMLP(data[0].shape[1], data[4], depth=depth, width=cfg.width, parallel=arm == "parallel")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ratio_init = higher_order_ratio(model.stack, model.embed(data[2]).detach())
    if run_dir is None:
        steps = _train(model, opt, cfg, data, seed, None)
        out = _measure(model, data)
    else:
        meta = {"study": "shallow-again", "arm": arm, "seed": seed, "depth": depth, "config": vars(cfg)}
        with Monitor(model, layers="stack.branches.*", every=cfg.every, optimizer=opt, log=run_dir,
                     meta=meta) as mon:
            steps = _train(model, opt, cfg, data, seed, mon)
            out = _measure(model, data)
            scalars = {f"{k}_L{depth}": v for k, v in out.items()} | (earlier or {})
            mon.log_scalars(steps, **scalars)
    return out | {"higher_order_ratio_init": ratio_init}


def _measure(model: ResidualMLP, data) -> dict[str, float]:
    train_loss, _ = _evaluate(model, data[0], data[1])
    val_loss, val_acc = _evaluate(model, data[2], data[3])
    with torch.no_grad():
        ratio = higher_order_ratio(model.stack, model.embed(data[2]))
    return {"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc, "higher_order_ratio": ratio}


def run(cfg: ShallowAgainConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train ``arm`` ("sequential" or "parallel") at every depth; the deepest one is monitored."""
    torch.set_num_threads(1)
    if arm not in ("sequential", "parallel"):
        raise ValueError(f"unknown arm {arm!r}")
    data = _data(cfg)
    depths = sorted(set(cfg.depths))
    result: dict[str, float] = {}
    for d in depths[:-1]:
        result |= {f"{k}_L{d}": v for k, v in _one_depth(cfg, arm, seed, d, data).items()}
    last = _one_depth(cfg, arm, seed, depths[-1], data, run_dir, earlier=dict(result))
    result |= {f"{k}_L{depths[-1]}": v for k, v in last.items()}
    for key in ("val_loss", "train_loss"):
        result[key] = sum(result[f"{key}_L{d}"] for d in depths) / len(depths)
    return result


def summarize(cfg: ShallowAgainConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm, per-depth means: val/train loss, val accuracy and the higher-order ratio."""
    out: dict[str, dict] = {}
    depths = sorted(set(cfg.depths))
    for key in ("val_loss", "train_loss", "val_acc", "higher_order_ratio", "higher_order_ratio_init"):
        out[key] = {arm: {f"L{d}": sum(r[f"{key}_L{d}"] for r in rows) / len(rows) for d in depths}
                    for arm, rows in results.items()}
    return out


RECIPE = study(Recipe(
    name="shallow-again",
    paper="Make Deep Networks Shallow Again (Bermeitinger, Hrycej & Handschuh, 2023)",
    arxiv="2309.08414",
    claim="A residual stack and its parallel first-order truncation x + sum_i F_i(x) (same branches, "
          "same parameter count) reach similar loss, parallel sometimes better on validation; we test "
          "whether parallel's validation loss, averaged over L in {2,4,8,16} residual-MLP depths on "
          "digits, is lower than sequential's (inconclusive = within seed noise, as 'similar' predicts)",
    metric="val_loss",
    better="lower",
    arms=("sequential", "parallel"),
    config=ShallowAgainConfig,
    run=run,
    summarize=summarize,
    smoke=dict(depths=(2, 8), epochs=4, max_train=512),
    full={},
    seeds=5,
    smoke_seeds=1,
))
