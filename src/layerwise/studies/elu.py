"""Study ``elu``: ELU against ReLU and LeakyReLU in an 8x128 MLP, each at its best learning rate.

Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs) (Clevert, Unterthiner,
Hochreiter, ICLR 2016, arXiv 1511.07289). ELU, ``x`` for ``x > 0`` and ``alpha (e^x - 1)`` below,
has negative outputs that pull each unit's mean activation toward zero. Non-zero means act as a
bias on the next layer ("bias shift"); removing it brings the gradient closer to the natural
gradient, so the paper claims ELU networks learn faster than ReLU and LeakyReLU ones for depths
above 5, and that batch normalization does not improve ELU networks.

Reproduction (shared/papers/SPECS-B.md, paper 13): an 8x128 MLP (He init) on scikit-learn's 8x8
digits (one fixed split: the seeds vary the initialisation and the data order), SGD, batch 64, 60
epochs, LeakyReLU slope 0.1, ELU alpha 1; arms: the three activations, and ELU with BatchNorm after
every Linear (ReLU and LeakyReLU with BatchNorm, in the spec's grid, are left out: no claim of the
paper is about them). One learning rate favours whichever activation has the larger effective step
under the ReLU-gain init: in a calibration seed at the spec's lr 0.01, ELU's training loss after 10
epochs was 4x below ReLU's, but ReLU kept improving up to lr 0.1 and ELU diverged there. So every
arm trains at each lr of the grid {0.01, 0.03, 0.1, 0.3} (factor-3 steps from the spec's lr up to
where runs diverge) from the same initial weights and data order, and each metric is read at the
arm's best lr for that metric (per seed; a diverged lr is never best).

Rule: the log of the training loss (over the whole training set) after 10 epochs, at each arm's
best lr, is lower for ELU than for both ReLU and LeakyReLU (paired over 5 seeds, Holm over the two
comparisons) by at least log(1.25): a loss at least 20% lower at the same epoch (judged as a ratio,
since the loss after 10 epochs spans orders of magnitude across lrs), the smallest gap we would
call faster learning; the tract study asks the same factor of a speed-up. An arm whose every lr
diverges scores log(ln 10) (no learning). Secondary: "batch normalization does not improve ELU
networks", on the paper's measure (classification error): ELU's final validation error is no worse
than ELU+BN's by more than 1 point (3.6 of the 359 validation images, about 1.5 binomial standard
deviations of one run's error at the 1-2% error seen in calibration). Gate: every judged arm learns
(training loss after 10 epochs at least 1 nat below the initial ln 10). The best lr's run is
repeated under the Monitor: per-layer ``act_mean`` and ``bias_shift`` over the last 20% of its
steps (ELU's means should sit closest to zero).

Cost of the full size: about 3 CPU-minutes at one thread (4 arms x 5 seeds x 5 runs of 60 epochs,
fewer where an lr diverges; one full trial took 9.2 s of CPU for ReLU and 6.4 s for ELU, 24 and
18 s of wall time on the loaded 2-core box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from layerwise.data import Split, digits, mnist1d
from layerwise.models import MLP
from layerwise.studies._loops import evaluate
from layerwise.studies._profiles import mean_abs, per_layer
from layerwise.studies._rules import Gate, NonInferiority, Superiority
from layerwise.studies._study import Profile, Study
from layerwise.studies._trial import Trial


@dataclass(frozen=True)
class EluConfig:
    """Full size: 8x128 MLP, He init, SGD at lrs {0.01, 0.03, 0.1, 0.3}, batch 64, 60 epochs.

    ``act`` and ``batch_norm`` are what the arms set; ``judge_epoch``: the epoch whose training loss
    is the metric; ``every`` and ``metrics``: the Monitor's cadence and metrics on the best lr's run.
    """

    act: str = "relu"
    batch_norm: bool = False
    leak: float = 0.1
    elu_alpha: float = 1.0
    dataset: str = "digits"
    depth: int = 8
    width: int = 128
    init: str = "kaiming"
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    batch_size: int = 64
    epochs: int = 60
    judge_epoch: int = 10
    report_epochs: tuple[int, ...] = (5, 10, 20)
    every: int = 5
    metrics: tuple[str, ...] = ("act_mean", "bias_shift", "grad_norm")


def build_model(cfg: EluConfig, in_dim: int, classes: int) -> MLP:
    """The MLP of one arm: ``cfg.act`` (LeakyReLU slope / ELU alpha from the config), BatchNorm
    after every Linear when ``cfg.batch_norm``."""
    kwargs = {"leaky_relu": {"negative_slope": cfg.leak}, "elu": {"alpha": cfg.elu_alpha}}.get(cfg.act)
    return MLP(in_dim=in_dim, out_dim=classes, depth=cfg.depth, width=cfg.width, act=cfg.act,
               norm="batch" if cfg.batch_norm else None, init=cfg.init, act_kwargs=kwargs)


def load(cfg: EluConfig) -> Split:
    if cfg.dataset == "digits":
        return digits(flat=True)
    if cfg.dataset == "mnist1d":
        return mnist1d(num_samples=5000)
    raise ValueError(f"dataset must be 'digits' or 'mnist1d', got {cfg.dataset!r}")


def train(cfg: EluConfig, model: nn.Module, data: Split, lr: float, seed: int,
          mon: Any = None) -> dict[str, float]:
    """SGD at ``lr``; the whole-training-set loss after the judged and reported epochs, and the
    final validation error. A non-finite loss stops the run (its numbers are NaN)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    if mon is not None:
        mon.watch_optimizer(opt)
    out: dict[str, float] = {}
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        for x, y in data.loader(cfg.batch_size, seed=seed * 10_000 + epoch):
            if mon is None:
                loss = F.cross_entropy(model(x), y)
                loss.backward()
            else:
                with mon.step(step):
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    mon.log(loss=loss)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
        if not math.isfinite(loss.item()):
            return {"judge_loss": math.nan, "val_error": math.nan}
        if epoch in (cfg.judge_epoch, *cfg.report_epochs) or epoch == cfg.epochs:
            out[f"train_loss_epoch_{epoch}"] = evaluate(model, *data.tensors("train"))[0]
            if mon is not None:
                mon.log_scalars(step - 1, train_loss_full=out[f"train_loss_epoch_{epoch}"])
    val_loss, val_acc = evaluate(model, *data.tensors("val"))
    if mon is not None:
        mon.log_scalars(step - 1, val_loss=val_loss, val_error=1 - val_acc)
    return {**out, "judge_loss": out.get(f"train_loss_epoch_{cfg.judge_epoch}", math.nan),
            "val_error": 1 - val_acc}


def _best(runs: dict[float, dict[str, float]], key: str) -> float | None:
    """The lr whose run has the lowest finite ``key`` (None when every run diverged)."""
    finite = [lr for lr, r in runs.items() if math.isfinite(r[key])]
    return min(finite, key=lambda lr: runs[lr][key]) if finite else None


class Elu(Study):
    """ELU vs ReLU and LeakyReLU (each at its best lr), and ELU with BatchNorm."""

    name = "elu"
    paper = "Fast and Accurate Deep Network Learning by Exponential Linear Units (Clevert et al., 2016)"
    arxiv = "1511.07289"
    claim = ("ELU trains an 8x128 MLP on digits faster than both ReLU and LeakyReLU(0.1), each at its "
             "best SGD learning rate of {0.01, 0.03, 0.1, 0.3}: training loss after 10 epochs at least "
             "1.25x lower; secondary: BatchNorm does not improve ELU's validation error (1-point margin)")
    Config = EluConfig
    arms = {
        "relu": {"act": "relu"},
        "leaky_relu": {"act": "leaky_relu"},
        "elu": {"act": "elu"},
        "elu-bn": {"act": "elu", "batch_norm": True},
    }
    rule = Superiority("log_train_loss", "lower", treatment="elu", baseline=("relu", "leaky_relu"),
                       min_effect=math.log(1.25), worst="log_uniform_loss")
    also = (NonInferiority("val_error", "lower", treatment="elu", baseline="elu-bn", margin=0.01,
                           worst=0.9),)
    gates = (Gate("train_loss_at_judge", below="uniform_loss", margin=1.0),)
    profiles = {"act_mean_profile": Profile("act_mean", per_layer),
                "mean_abs_act_mean": Profile("act_mean", mean_abs),
                "mean_bias_shift": Profile("bias_shift", mean_abs)}
    sizes = {
        "tiny": dict(depth=3, width=16, epochs=1, judge_epoch=1, report_epochs=(), lrs=(0.01, 0.1),
                     every=2, metrics=("act_mean", "bias_shift")),
        "smoke": dict(epochs=10, report_epochs=(5,)),
    }

    def trial(self, cfg: EluConfig, t: Trial) -> dict[str, Any]:
        data = load(cfg)
        init = build_model(cfg, data.x_train.shape[1], int(data.num_classes)).state_dict()

        def run(lr: float, mon: Any = None) -> dict[str, float]:
            model = build_model(cfg, data.x_train.shape[1], int(data.num_classes))
            model.load_state_dict(init)
            if mon is None:
                return train(cfg, model, data, lr, t.seed)
            with t.monitor(model, metrics=list(cfg.metrics), every=cfg.every) as m:
                return train(cfg, model, data, lr, t.seed, m)

        runs = {lr: run(lr) for lr in cfg.lrs}
        best = _best(runs, "judge_loss")
        chosen = run(best if best is not None else cfg.lrs[0], mon=True)  # the same run, monitored
        best_val = _best(runs, "val_error")
        uniform = math.log(int(data.num_classes))
        return {**{k: v for k, v in chosen.items() if k.startswith("train_loss_epoch_")},
                "log_train_loss": math.log(chosen["judge_loss"]) if best is not None else math.nan,
                "train_loss_at_judge": chosen["judge_loss"],
                "best_lr": best if best is not None else math.nan,
                "judge_loss_by_lr": [runs[lr]["judge_loss"] for lr in cfg.lrs],
                "val_error": runs[best_val]["val_error"] if best_val is not None else math.nan,
                "val_error_at_best_lr": chosen["val_error"],
                "uniform_loss": uniform, "log_uniform_loss": math.log(uniform)}
