"""Study ``dann``: domain-adversarial training on two moons with a target rotated by 35 degrees.

Domain-Adversarial Training of Neural Networks (Ganin, Ustinova, Ajakan, Germain, Larochelle,
Laviolette, Marchand, Lempitsky, 2015, arXiv 1505.07818): a domain classifier behind a gradient
reversal layer makes the features domain-invariant while they stay discriminative for the labelled
source, so a classifier trained on the source alone transfers to the unlabelled target. Tiny
reproduction (shared/papers/SPECS-A.md, paper 8, the paper's "inter-twinning moons" toy): a
2 -> 15 -> 2 network, labelled source moons, unlabelled target moons rotated by 35 degrees.

Arms: ``source-only`` (the same ``DANNTrainer`` with the domain loss weighted 0, so the same
optimizer and learning-rate schedule) and ``dann`` (weight 1, lambda_p = 2/(1+exp(-10p)) - 1).
Metric: accuracy on fresh target samples (higher). Details: the accuracy of a fresh logistic
domain probe on the hidden features of fresh samples of both domains (0.5 = domain-invariant),
next to the same probe on the raw inputs. The Monitor logs per-layer gradient, activation and
update statistics of the feature extractor and both heads at every step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from layerwise.data import two_moons_shift
from layerwise.monitor import Monitor
from layerwise.studies.recipe import Recipe, study
from layerwise.train import DANNTrainer

ARMS = ("source-only", "dann")


NAME = "dann"  # fixed by issue 5
_ACTS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


@dataclass(frozen=True)
class DANNConfig:
    """The spec's toy: make_moons(300, noise=0.1), target rotated 35 degrees, 15 hidden units.

    SGD momentum 0.9 with the paper's annealed rate lr / (1 + 10p)^0.75 and lambda schedule
    (gamma 10) come from ``DANNTrainer``. ``n_eval`` fresh samples per domain score the target
    accuracy and the domain probe (fit on half, scored on the other half). The spec asks for
    20 seeds; full keeps that count in ``Recipe.seeds``. [D] ReLU hidden units, 2,000 steps of
    batch 32 per domain and a domain head with one ReLU hidden layer of ``domain_hidden`` units
    are our choices (the paper's toy network details were not read). With a linear domain head
    (``domain_hidden=0``) DANN changed neither the target accuracy nor the probe in a 2-seed,
    1,000-step trial: a linear head on 15 ReLU units barely tells the rotated moons apart.
    The Monitor logs every ``every``-th step (on a 2-15-2 net the per-step hooks dominate the
    cost).
    """

    n_source: int = 300
    n_target: int = 300
    angle_deg: float = 35.0
    noise: float = 0.1
    hidden: int = 15
    act: str = "relu"
    steps: int = 2000
    batch_size: int = 32
    lr: float = 0.05
    gamma: float = 10.0
    domain_hidden: int = 15
    n_eval: int = 1000
    every: int = 5


class DANNNet(nn.Module):
    """Feature extractor, label head and domain head (the domain head sits behind the GRL)."""

    def __init__(self, cfg: DANNConfig) -> None:
        super().__init__()
        if cfg.act not in _ACTS:
            raise ValueError(f"act must be one of {', '.join(_ACTS)}, got {cfg.act!r}")
        self.features = nn.Sequential(nn.Linear(2, cfg.hidden), _ACTS[cfg.act]())
        self.label_head = nn.Linear(cfg.hidden, 2)
        if cfg.domain_hidden:
            self.domain_head = nn.Sequential(nn.Linear(cfg.hidden, cfg.domain_hidden), nn.ReLU(),
                                             nn.Linear(cfg.domain_hidden, 2))
        else:
            self.domain_head = nn.Linear(cfg.hidden, 2)


def batches(x: Tensor, batch_size: int, gen: torch.Generator) -> Tensor:
    """Indices of one random minibatch of ``x``."""
    return torch.randint(0, len(x), (batch_size,), generator=gen)


def train(cfg: DANNConfig, trainer: DANNTrainer, data, seed: int, mon: Monitor) -> None:
    """The DANN loop of ``DANNTrainer.fit``, written out so the Monitor sees every step."""
    gen = torch.Generator().manual_seed(seed)
    for step in range(cfg.steps):
        p = step / cfg.steps
        for group in trainer.optimizer.param_groups:
            group["lr"] = cfg.lr / (1 + 10 * p) ** 0.75
        i_s, i_t = batches(data.x_source, cfg.batch_size, gen), batches(data.x_target, cfg.batch_size, gen)
        with mon.step(step):
            label, domain = trainer.backward(data.x_source[i_s], data.y_source[i_s], data.x_target[i_t], p)
            mon.log(label_loss=label, domain_loss=domain, grl_lambda=trainer.grl.current_lambda)
            trainer.optimizer.step()


def domain_probe(x_source: Tensor, x_target: Tensor, seed: int) -> float:
    """Held-out accuracy of a fresh logistic-regression domain classifier (0.5 = indistinguishable)."""
    from sklearn.linear_model import LogisticRegression

    x = torch.cat([x_source, x_target]).double().numpy()
    d = np.r_[np.zeros(len(x_source)), np.ones(len(x_target))]
    order = np.random.default_rng(seed).permutation(len(x))
    fit, test = order[: len(x) // 2], order[len(x) // 2 :]
    probe = LogisticRegression(max_iter=2000).fit(x[fit], d[fit])
    return float(probe.score(x[test], d[test]))


def run(cfg: DANNConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one arm for one seed; return target/source accuracy and domain-probe accuracies."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; use one of {', '.join(ARMS)}")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = two_moons_shift(n_source=cfg.n_source, n_target=cfg.n_target, angle_deg=cfg.angle_deg,
                           noise=cfg.noise, seed=seed)
    fresh = two_moons_shift(n_source=cfg.n_eval, n_target=cfg.n_eval, angle_deg=cfg.angle_deg,
                            noise=cfg.noise, seed=10_000 + seed)
    net = DANNNet(cfg)
    trainer = DANNTrainer(net.features, net.label_head, net.domain_head, lr=cfg.lr,
                          gamma=cfg.gamma, domain_weight=1.0 if arm == "dann" else 0.0)
    meta = {"study": "dann", "arm": arm, "seed": seed, "config": vars(cfg)}
    layers = ["features.0", "features.1", "label_head", "domain_head"]
    with Monitor(net, layers=layers, optimizer=trainer.optimizer, every=cfg.every, log=run_dir,
                 meta=meta) as mon:
        train(cfg, trainer, data, seed, mon)
    return evaluate(net, trainer, fresh, seed)


@torch.no_grad()
def evaluate(net: DANNNet, trainer: DANNTrainer, fresh, seed: int) -> dict[str, float]:
    """Accuracies on fresh samples and domain probes on the inputs and on the hidden features."""
    net.eval()
    accuracy = functools.partial(_accuracy, trainer)
    return {
        "target_acc": accuracy(fresh.x_target, fresh.y_target),
        "source_acc": accuracy(fresh.x_source, fresh.y_source),
        "domain_probe_features": domain_probe(net.features(fresh.x_source), net.features(fresh.x_target),
                                              seed),
        "domain_probe_input": domain_probe(fresh.x_source, fresh.x_target, seed),
    }


def _accuracy(trainer: DANNTrainer, x: Tensor, y: Tensor) -> float:
    return float((trainer.predict(x) == y).float().mean())


def summarize(cfg: DANNConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of the source accuracy and the two domain probes."""
    keys = ("source_acc", "domain_probe_features", "domain_probe_input")
    return {k: {arm: float(np.mean([r[k] for r in rows])) for arm, rows in results.items()} for k in keys}


RECIPE = study(Recipe(
    name=NAME,
    paper="Domain-Adversarial Training of Neural Networks (Ganin et al., 2015)",
    arxiv="1505.07818",
    claim="A domain classifier behind a gradient reversal layer makes the hidden features "
          "domain-invariant and raises accuracy on an unlabelled shifted target; we test whether DANN "
          "beats source-only training on two moons rotated 35 degrees (target accuracy), with the "
          "domain probe on the features (closer to 0.5 = more invariant) in the details",
    metric="target_acc",
    better="higher",
    arms=ARMS,
    config=DANNConfig,
    run=run,
    summarize=summarize,
    smoke=dict(steps=500),
    full={},
    seeds=20,
    smoke_seeds=1,
))
