"""Study ``projection-head``: fine-label probes before vs after a projection head (coarse training).

Investigating the Benefits of Projection Head for Representation Learning (Xue, Gan, Ni, Joshi &
Mirzasoleiman, ICLR 2024, arXiv 2403.11391): training weights features more and more unequally
with depth, so the representation before the projection head keeps features the objective does
not need; when the downstream task is misaligned with training (fine labels after coarse-label
training), pre-projection features transfer better than post-projection ones.

Tiny reproduction (shared/papers/SPECS-B.md, paper 3a): sklearn digits; an MLP encoder
64 -> 256 -> 128 (ReLU), a head (2-layer MLP 128 -> 256 -> 128 by default, or the fixed
``ReweightHead`` with ``kappa``), and a linear classifier on the *coarse* label "digit >= 5";
Adam 1e-3, 30 epochs, batch 64. A logistic-regression probe (5-fold CV on the validation split)
reads the *fine* 10-class label from the encoder output (pre) and from the head output (post).

Arms share the training (same seed, same model, deterministic): ``post-head`` (baseline) probes
the head output, ``pre-head`` (treatment) the encoder output of the same network; ``no-head``
trains the encoder with the classifier directly on it and probes its output. ``holds`` means
pre-projection fine-label accuracy is higher than post-projection. The paper also expects
``no-head`` lowest (see ``per_arm`` effects and details). A z-scored linear probe cannot see
a diagonal rescaling, so with ``head="reweight"`` pre and post tie by construction and only the
pre-head vs no-head comparison is informative.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.analysis import probe_accuracy
from layerwise.data import digits
from layerwise.monitor import Monitor
from layerwise.nn.heads import ProjectionHead, ReweightHead, pre_post_features
from layerwise.studies.recipe import Recipe, study

ARMS = ("post-head", "pre-head", "no-head")


@dataclass(frozen=True)
class ProjectionHeadConfig:
    """Paper-3a tiny reproduction (full: about 10 s per run on CPU, plus the probes)."""

    hidden: int = 256
    embed: int = 128
    head: str = "mlp"
    head_hidden: int = 256
    kappa: float = 1.2
    coarse_threshold: int = 5
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    folds: int = 5
    max_train: int | None = None
    every: int = 1


class CoarseNet(nn.Module):
    """``layers``: encoder blocks, then the head (Identity for no head), then the classifier."""

    def __init__(self, cfg: ProjectionHeadConfig, in_dim: int, *, head: bool) -> None:
        super().__init__()
        enc = [nn.Sequential(nn.Linear(in_dim, cfg.hidden), nn.ReLU()),
               nn.Sequential(nn.Linear(cfg.hidden, cfg.embed), nn.ReLU())]
        self.layers = nn.ModuleList([*enc, _head(cfg) if head else nn.Identity(), nn.Linear(cfg.embed, 2)])

    def encode(self, x: Tensor) -> Tensor:
        return self.layers[1](self.layers[0](x.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers[3](self.layers[2](self.encode(x)))


def _head(cfg: ProjectionHeadConfig) -> nn.Module:
    if cfg.head == "mlp":
        return ProjectionHead(cfg.embed, cfg.embed, hidden=cfg.head_hidden)
    if cfg.head == "reweight":
        return ReweightHead(cfg.embed, kappa=cfg.kappa)
    raise ValueError(f"head must be 'mlp' or 'reweight', got {cfg.head!r}")


def _train(model: CoarseNet, cfg: ProjectionHeadConfig, x: Tensor, y: Tensor, seed: int,
           mon: Monitor) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    mon.watch_optimizer(opt)
    gen = torch.Generator().manual_seed(seed)
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            with mon.step(step):
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                mon.log(loss=loss.detach())
            opt.step()
            opt.zero_grad()
            step += 1


@torch.no_grad()
def _coarse_acc(model: CoarseNet, x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def _spread(feats: Tensor) -> float:
    """Participation ratio of the centred features' covariance spectrum (effective dimension)."""
    h = feats.double() - feats.double().mean(0)
    s = torch.linalg.svdvals(h) ** 2
    return float(s.sum() ** 2 / (s ** 2).sum()) if s.sum() > 0 else 0.0


def run(cfg: ProjectionHeadConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train on the coarse label, then probe the fine label pre and post projection."""
    torch.set_num_threads(1)
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; use one of {', '.join(ARMS)}")
    split = digits(flat=True)
    n = cfg.max_train or len(split.x_train)
    x, fine = split.x_train[:n], split.y_train[:n]
    coarse = (fine >= cfg.coarse_threshold).long()
    torch.manual_seed(seed)
    model = CoarseNet(cfg, x.shape[1], head=arm != "no-head")
    meta = {"study": "projection-head", "arm": arm, "seed": seed, "config": vars(cfg)}
    with Monitor(model, every=cfg.every, log=run_dir, meta=meta) as mon:
        _train(model, cfg, x, coarse, seed, mon)
        model.eval()
        feats = pre_post_features(model.encode, model.layers[2], split.x_val)
        acc = probe_accuracy(feats, split.y_val, folds=cfg.folds, seed=seed)
        val_coarse = (split.y_val >= cfg.coarse_threshold).long()
        result = {"pre_fine_acc": acc["pre"][0], "post_fine_acc": acc["post"][0],
                  "coarse_val_acc": _coarse_acc(model, split.x_val, val_coarse),
                  "pre_spread": _spread(feats["pre"]), "post_spread": _spread(feats["post"])}
        result["fine_probe_acc"] = result["post_fine_acc" if arm == "post-head" else "pre_fine_acc"]
        mon.log_scalars(cfg.epochs, **result)
    return result


def summarize(cfg: ProjectionHeadConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of the probes, coarse accuracy and feature spread (participation ratio)."""
    keys = ("pre_fine_acc", "post_fine_acc", "coarse_val_acc", "pre_spread", "post_spread")
    return {k: {arm: sum(r[k] for r in rows) / len(rows) for arm, rows in results.items()} for k in keys}


RECIPE = study(Recipe(
    name="projection-head",
    paper="Investigating the Benefits of Projection Head for Representation Learning (Xue et al., ICLR 2024)",
    arxiv="2403.11391",
    claim="Representations before a projection head keep features the training objective discards, so "
          "under a misaligned downstream task they beat post-projection ones (and a model without a "
          "head); we test whether, after training an MLP on the coarse digits label 'digit >= 5', a "
          "linear probe reads the fine 10-class label better from the encoder output than from the "
          "MLP head's output",
    metric="fine_probe_acc",
    better="higher",
    arms=ARMS,
    treatment="pre-head",
    config=ProjectionHeadConfig,
    run=run,
    summarize=summarize,
    smoke=dict(epochs=5, max_train=512),
    full={},
    seeds=3,
    smoke_seeds=1,
))
