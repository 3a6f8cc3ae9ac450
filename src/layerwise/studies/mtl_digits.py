"""Study ``mtl-digits``: two heads with a magnitude conflict on a shared trunk (sklearn digits).

"Similarity-Aware Momentum Gradient Surgery" (SAM-GS, 2025, arXiv 2506.06130; shared/papers/
SPECS-B.md paper 2, second test): an MLP trunk feeds a 10-way classification head (cross-entropy)
and a regression head predicting the digit's value (target y / 9, MSE scaled by ``reg_scale`` =
100, so its gradients dominate the trunk's). Arms aggregate the two per-loss gradients of the
trunk: the plain sum (baseline), PCGrad (Yu et al., 2020, arXiv 2001.06782), SAM-GS (treatment,
gamma 0.7 as in its MTL benchmarks) and MGDA (Sener & Koltun, 2018, arXiv 1810.04650); the heads
keep their own summed gradients. Every step logs each trunk layer's pairwise cosine, magnitude
similarity and conflict frequency.

Mean task performance (``mean_perf``, higher is better): the average of validation accuracy and
the validation R^2 of the regression head (1 - MSE / variance of the target), both scale-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.data import digits
from layerwise.monitor import RunLog
from layerwise.multiloss import ParamLayout, aggregate_backward
from layerwise.studies._multiloss_common import (
    ConflictLog,
    Recording,
    aggregator_for,
    arm_means,
    one_thread,
)
from layerwise.studies.recipe import Recipe, study


@dataclass(frozen=True)
class MtlDigitsConfig:
    """Full: trunk 64-128-128, Adam lr 1e-3, batch 128, 1,500 steps (about 130 epochs of digits)."""

    width: int = 128
    steps: int = 1500
    batch_size: int = 128
    lr: float = 1e-3
    reg_scale: float = 100.0
    gamma: float = 0.7
    every: int = 1


class TwoHeads(nn.Module):
    """Shared ReLU trunk, a classification head and a scalar regression head."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.cls = nn.Linear(width, 10)
        self.reg = nn.Linear(width, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x)
        return self.cls(h), self.reg(h).squeeze(-1)


def losses(model: TwoHeads, x: Tensor, y: Tensor, reg_scale: float) -> tuple[Tensor, Tensor]:
    """(cross-entropy, reg_scale * MSE to y / 9)."""
    logits, value = model(x)
    return F.cross_entropy(logits, y), reg_scale * F.mse_loss(value, y.float() / 9)


@torch.no_grad()
def evaluate(model: TwoHeads, x: Tensor, y: Tensor) -> dict[str, float]:
    """Validation accuracy, R^2 of the value head, and their mean."""
    logits, value = model(x)
    target = y.float() / 9
    acc = float((logits.argmax(1) == y).double().mean())
    r2 = float(1 - F.mse_loss(value, target) / target.var(unbiased=False))
    return {"val_acc": acc, "val_r2": r2, "mean_perf": (acc + r2) / 2}


def run(cfg: MtlDigitsConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one aggregation arm for one seed; return validation performance and conflict share."""
    one_thread()
    torch.manual_seed(seed)
    data = digits(flat=True, seed=seed)
    model = TwoHeads(cfg.width)
    layout = ParamLayout.from_named(model.trunk.named_parameters(prefix="trunk"))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    heads = [*model.cls.parameters(), *model.reg.parameters()]
    meta = {"study": "mtl-digits", "arm": arm, "seed": seed, "config": vars(cfg)}
    with RunLog(run_dir, meta=meta) as log:
        clog = ConflictLog(log, layout, ("cls", "reg"), every=cfg.every)
        agg = Recording(aggregator_for(arm, seed=seed, gamma=cfg.gamma)(), clog)
        for step in range(cfg.steps):
            idx = torch.randint(len(data.y_train), (cfg.batch_size,), generator=gen)
            ce, mse = losses(model, data.x_train[idx], data.y_train[idx], cfg.reg_scale)
            opt.zero_grad()
            aggregate_backward([ce, mse], list(model.trunk.parameters()), agg, task_params=heads)
            opt.step()
            if step % cfg.every == 0:
                log.log_scalars(step, loss=float(ce.detach() + mse.detach()), loss_cls=float(ce.detach()),
                                loss_reg=float(mse.detach()))
        result = evaluate(model, data.x_val, data.y_val)
        log.log_scalars(cfg.steps, **result)
    freq = clog.frequency()
    result["conflict_freq"] = sum(freq.values()) / len(freq)
    return result


def summarize(cfg: MtlDigitsConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of accuracy, R^2 and the trunk's conflict frequency."""
    return arm_means(results, ("val_acc", "val_r2", "mean_perf", "conflict_freq"))


RECIPE = study(Recipe(
    name="mtl-digits",
    paper="Similarity-Aware Momentum Gradient Surgery (SAM-GS, 2025)",
    arxiv="2506.06130",
    claim="With a magnitude conflict between two heads on a shared trunk (digit classification and a "
          "x100-scaled regression of the digit value), SAM-GS raises mean task performance (mean of "
          "accuracy and R^2) over summing the losses; PCGrad and MGDA shown beside",
    metric="mean_perf",
    better="higher",
    arms=("sum", "pcgrad", "samgs", "mgda"),
    treatment="samgs",
    config=MtlDigitsConfig,
    run=run,
    summarize=summarize,
    smoke=dict(steps=300, every=5),
    full={},
))
