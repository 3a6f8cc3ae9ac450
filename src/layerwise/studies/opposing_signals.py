"""Study ``opposing-signals``: outliers with a shared large feature dominate the per-step loss changes.

Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization (Rosenfeld &
Risteski, ICLR 2024, arXiv 2311.04163). Paired groups of outliers carry a large feature that pushes
the output toward different classes; full-batch gradient descent balances them in a narrow valley,
sharpens to the edge of stability, and the two groups' losses oscillate in antiphase, with the
total loss spiking at the oscillation's peaks. The paper finds the groups among the examples whose
loss changes most across a step; it reports this qualitatively (ResNet, VGG, ViT on CIFAR-10).

Reproduction (shared/papers/SPECS-B.md, paper 6): scikit-learn's 8x8 digits (the 1,438 training
images of the fixed split); 3% of the class-3 and 3% of the class-8 images (4 + 4 = 0.56% of the
data, drawn per seed) get the same two border pixels (0 and 7, blank in the digits) raised by
``amplitude`` standard deviations of the training pixels. A 4-layer ReLU MLP (Kaiming init) trains
full-batch for 300 steps; :class:`layerwise.analysis.OpposingSignals` watches the whole training set
(top-20 |delta loss| per step, its stability, input-gradient groups, per-layer gradient shares, and
the sharpness every 25 steps). Arms: ``gd`` (GD at lr 0.1: at its 2/lr = 20 the sharpness, 9-21 at
initialisation, rises past it within the first 30 steps and then hovers near it: the edge of
stability), ``adam`` (Adam at its usual 1e-3) and ``control`` (GD, no feature; the same images are
marked, so its share is that of plain 3s and 8s). All arms of a seed share init and marked images.

Deviations, all for this scale and cost: the spec's amplitude 4 sigma gives the 8 images no
visible role (calibration, seed 0: their share of the top-20 set was 0.3x their base rate and they
were fitted in a few steps). Their pull on the curvature scales with base rate x amplitude^2: at
4 sigma it is 0.6% x (2 x 1.5^2) = 0.03 against a sharpness near 20, at 60 sigma (pixel value 23
against the digits' 0-1) it is 6, the same order, which is the regime the paper describes (a few
examples with very large features). Width 64, not 256 (a 256-wide step costs 10x); 300 steps, not
2,000 (the digits are fitted by then: afterwards every loss change is tiny and the top set is noise).

Rule (descriptive, arm ``gd``): ``log_top_ratio`` = log(the marked images' mean share of the top-20
set over steps 10-300 / their base rate), with a +0.5 count correction so that a zero share stays
finite, is above 0 by at least log 2: the outliers fill the top set at least twice as often as
chance, the smallest over-representation we would call "outsized". Secondary: the two groups' mean
loss changes are anticorrelated over steps (``group_delta_corr`` below 0 by at least 0.2, a
correlation a trend or noise would not give); the feature causes the over-representation
(``gd`` above ``control`` by log 2); the antiphase oscillation |dA - dB| / 2 is larger under GD
than under Adam (``log_antiphase``). Reported, not judged: the coincidence of total-loss rises with
the oscillation (``log_spike_antiphase``: log of the mean oscillation at steps where the total loss
rose over its mean at all steps), the sharpness trace, the top set's stability and groups.
Gate: every arm learns (validation accuracy above chance + 0.5). A diverged GD seed scores 0 (no
over-representation).

Cost of the full size: 3 arms x 5 seeds x 300 steps (about 8 s of CPU per trial, measured on
smoke); about 2 CPU-minutes, well under 8 minutes of wall time on the loaded box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from layerwise.analysis import OpposingSignals
from layerwise.data import digits
from layerwise.models import MLP
from layerwise.studies._loops import evaluate
from layerwise.studies._rules import Descriptive, Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial


@dataclass(frozen=True)
class OpposingSignalsConfig:
    """Full size. ``optimizer``: "gd" (full-batch SGD) or "adam"; ``inject``: add the feature
    (False: the images are only marked); ``amplitude`` in standard deviations of the training
    pixels; ``skip``: first steps left out of every per-step statistic (everything moves then)."""

    optimizer: str = "gd"
    lr: float = 0.1
    inject: bool = True
    fraction: float = 0.03
    amplitude: float = 60.0
    classes: tuple[int, ...] = (3, 8)
    pixels: tuple[int, ...] = (0, 7)
    depth: int = 4
    width: int = 64
    steps: int = 300
    skip: int = 10
    k: int = 20
    sharpness_every: int = 25
    sharpness_iters: int = 10


def inject_feature(x: torch.Tensor, y: torch.Tensor, cfg: OpposingSignalsConfig,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, groups): ``groups`` is 0 for untouched images and 1 + i for the marked images of
    ``cfg.classes[i]`` (``round(fraction * n_class)``, at least 1, drawn from ``generator``); when
    ``cfg.inject`` their ``cfg.pixels`` rise by ``amplitude`` standard deviations of ``x``."""
    if len(cfg.classes) != 2:
        raise ValueError(f"classes must name two classes, got {cfg.classes!r}")
    if not 0 < cfg.fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {cfg.fraction}")
    groups = torch.zeros(len(y), dtype=torch.long)
    for g, c in enumerate(cfg.classes, start=1):
        members = torch.nonzero(y == c).flatten()
        if len(members) == 0:
            raise ValueError(f"classes: no image of class {c}")
        n = max(1, round(cfg.fraction * len(members)))
        groups[members[torch.randperm(len(members), generator=generator)[:n]]] = g
    x = x.clone()
    if cfg.inject:
        rows = torch.nonzero(groups > 0).flatten()
        x[rows[:, None], torch.tensor(cfg.pixels)] += cfg.amplitude * x.std()
    return x, groups


def group_statistics(probe: OpposingSignals, groups: torch.Tensor, skip: int) -> dict[str, float]:
    """Antiphase statistics of the two marked groups from the probe's history (steps >= skip):
    correlation of their mean loss changes, the mean oscillation |dA - dB| / 2 (log), and its mean
    at steps where the total loss rose over its mean at all steps (log ratio)."""
    rows = [r for r in probe.history if r.step >= skip]
    d_a = np.array([float(r.delta[groups == 1].mean()) for r in rows])
    d_b = np.array([float(r.delta[groups == 2].mean()) for r in rows])
    total = np.array([float(r.delta.mean()) for r in rows])
    swing = np.abs(d_a - d_b) / 2
    corr = float(np.corrcoef(d_a, d_b)[0, 1]) if len(rows) > 2 and d_a.std() > 0 and d_b.std() > 0 \
        else math.nan
    rises = total > 0
    spike = float(np.log(swing[rises].mean() / swing.mean())) if rises.any() and swing.mean() > 0 \
        else math.nan
    return {"group_delta_corr": corr, "log_antiphase": float(np.log(max(swing.mean(), 1e-30))),
            "log_spike_antiphase": spike, "loss_rises": float(rises.mean())}


class OpposingSignalsStudy(Study):
    """Full-batch GD vs Adam vs no injected feature: do the outliers fill the top-|delta loss| set?"""

    name = "opposing-signals"
    paper = ("Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization "
             "(Rosenfeld & Risteski, 2024)")
    arxiv = "2311.04163"
    claim = ("Under full-batch GD near the edge of stability, the 0.6% of digits that carry a large "
             "feature shared by classes 3 and 8 fill the top-20 set of per-step loss changes at least "
             "twice as often as their base rate; secondary: the two groups' loss changes are "
             "anticorrelated, the over-representation is the feature's (vs no feature), and the "
             "antiphase oscillation is larger under GD than under Adam")
    Config = OpposingSignalsConfig
    arms = {"gd": {}, "adam": {"optimizer": "adam", "lr": 1e-3}, "control": {"inject": False}}
    rule = Descriptive("log_top_ratio", "higher", null=0.0, min_effect=math.log(2), arm="gd", worst=0.0)
    also = (Descriptive("group_delta_corr", "lower", null=0.0, min_effect=0.2, arm="gd"),
            Superiority("log_top_ratio", "higher", treatment="gd", baseline="control",
                        min_effect=math.log(2)),
            Superiority("log_antiphase", "higher", treatment="gd", baseline="adam"))
    gates = (Gate("val_acc", above="chance", margin=0.5, arms=("gd", "adam", "control")),)
    sizes = {
        "tiny": dict(depth=2, width=16, steps=12, skip=2, k=5, sharpness_every=5, sharpness_iters=3),
        "smoke": dict(steps=150),
    }

    def trial(self, cfg: OpposingSignalsConfig, t: Trial) -> dict[str, float | list[float]]:
        data = digits(flat=True)
        x, groups = inject_feature(data.x_train, data.y_train, cfg, t.generator(1))
        y = data.y_train
        model = MLP(in_dim=64, out_dim=10, depth=cfg.depth, width=cfg.width, init="kaiming")
        if cfg.optimizer == "gd":
            opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        elif cfg.optimizer == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        else:
            raise ValueError(f"optimizer must be 'gd' or 'adam', got {cfg.optimizer!r}")
        with t.runlog() as log:
            probe = OpposingSignals(model, x, y, k=cfg.k, log=log, sharpness_every=cfg.sharpness_every,
                                    sharpness_iters=cfg.sharpness_iters)
            for step in range(cfg.steps):
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                with probe.step(step):
                    opt.step()
                opt.zero_grad(set_to_none=True)
                log.log_scalars(step, group_a_loss=float(probe.history[-1].loss[groups == 1].mean()),
                                group_b_loss=float(probe.history[-1].loss[groups == 2].mean()))
                if not math.isfinite(probe.history[-1].scalars["subset_loss"]):
                    break
                if step % 25 == 0:
                    t.progress(step + 1, cfg.steps)
            if cfg.optimizer == "gd":
                log.log_scalars(cfg.steps, eos_threshold=2 / cfg.lr)
        return {**self.readings(cfg, probe, groups), "val_acc": evaluate(model, data.x_val, data.y_val)[1],
                "train_acc": evaluate(model, x, y)[1], "chance": 0.1}

    @staticmethod
    def readings(cfg: OpposingSignalsConfig, probe: OpposingSignals,
                 groups: torch.Tensor) -> dict[str, float | list[float]]:
        """The rule's and the report's numbers from the probe's history."""
        marked = groups > 0
        memberships = cfg.k * sum(r.step >= cfg.skip for r in probe.history)
        share = probe.share_in_top(marked, start=cfg.skip)
        sharp = [r.scalars["sharpness"] for r in probe.history if "sharpness" in r.scalars]
        if not memberships or not math.isfinite(share) or not sharp:
            return {"log_top_ratio": math.nan}
        corrected = (share * memberships + 0.5) / (memberships + 1)
        late = [r for r in probe.history if r.step >= cfg.skip]
        cross = [r.scalars["top_cross_cos"] for r in late if "top_cross_cos" in r.scalars]
        layers = list(late[-1].grad_share)
        return {"log_top_ratio": math.log(corrected / float(marked.float().mean())),
                "top_share": share, "base_rate": float(marked.float().mean()),
                **group_statistics(probe, groups, cfg.skip),
                "top_jaccard": float(np.mean([r.scalars.get("top_jaccard", math.nan) for r in late])),
                "top_cross_cos": float(np.mean(cross)) if cross else math.nan,
                "sharpness_max": max(sharp), "sharpness_final": sharp[-1], "sharpness_trace": sharp,
                "top_grad_share": [float(np.mean([r.grad_share[n] for r in late])) for n in layers]}
