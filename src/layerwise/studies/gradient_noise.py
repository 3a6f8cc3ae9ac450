"""Study ``gradient-noise``: annealed Gaussian gradient noise on a badly initialised 20-layer MLP.

Adding Gradient Noise Improves Learning for Very Deep Networks (Neelakantan, Vilnis, Le,
Sutskever, Kaiser, Kurach, Martens, 2015, arXiv 1511.06807): adding N(0, eta / (1 + t)^gamma)
to every gradient lets a fully connected 20-layer ReLU net train with plain SGD from a poor
initialisation (weights N(0, 0.1^2), zero biases), where without noise most restarts stay stuck
(MNIST, their table: mean test accuracy 43.1% without noise, 52.7% with it).

Reproduction (shared/papers/SPECS-A.md, paper 2): a 20 x 50 ReLU MLP on scikit-learn digits
(70/30 split, drawn per seed), SGD batch 64, gamma 0.55; arms eta in {0 (baseline), 0.01, 0.3,
1.0}. The spec's lr 0.01 for 30 epochs leaves every arm at chance (0.10 in 4/4 seeds,
shared/reviews/science.md), so nothing can be judged there; the registered size is the audit's
lr 0.03 for 100 epochs (about 2,000 steps), where the baseline stayed at chance in 4/4 seeds and
eta = 0.3 escaped in 4/4 (0.28-0.49). At lr 0.1 eta = 0.3 diverges.

Rule: eta = 0.3 (the spec's middle value) beats noise-free SGD on the final test accuracy by at
least 5 points (half the paper's +9.6-point mean gain), paired over 10 seeds; a diverged seed
scores chance. Gate: some arm beats chance + 0.05; the baseline is not gated, since the claim is
exactly that it does not learn. Secondary: the escape rate (a seed escapes when its final test
accuracy exceeds chance + 0.05; per-seed 0/1, paired). Details: best test accuracy over epochs,
the first block's gradient norm over the first 100 steps, and, from the Monitor, the last
block's gradient norm over the first one (vanishing gradients < 1). Each logged step of a noisy
arm also records per block the noise-to-signal ratio sigma_t sqrt(numel) / ||g||.

Cost of the full size: about 5 CPU-minutes at one thread (4 arms x 10 seeds; one full run of
eta = 0.3, 2,000 steps monitored every 10, took 6.5 s of CPU, 24 s of wall time on the loaded
2-core box; it escaped, 0.33 final and 0.51 best test accuracy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import torch
import torch.nn.functional as F

from layerwise.data import Split, digits, mnist1d
from layerwise.models import MLP
from layerwise.monitor import RunLog
from layerwise.studies._loops import accuracy
from layerwise.studies._profiles import last_over_first
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Profile, Study
from layerwise.studies._trial import Trial
from layerwise.transforms import TransformedOptimizer, add_noise, identity, noise_variance


@dataclass(frozen=True)
class GradientNoiseConfig:
    """Full size: 20 x 50 MLP, init N(0, 0.1^2), SGD lr 0.03, batch 64, 100 epochs.

    ``eta``: the noise scale (0: no noise); ``escape_margin``: how far above chance a seed's final
    test accuracy must be to count as escaped; ``every`` and ``metrics``: the Monitor's cadence
    in steps and what it records (``grad_norm`` is needed; tiny records only it).
    """

    dataset: str = "digits"
    depth: int = 20
    width: int = 50
    init_std: float = 0.1
    lr: float = 0.03
    batch_size: int = 64
    epochs: int = 100
    eta: float = 0.0
    gamma: float = 0.55
    val_fraction: float = 0.3
    escape_margin: float = 0.05
    every: int = 10
    metrics: tuple[str, ...] = ("grad_norm", "weight_norm", "act_rms", "dead_fraction")
    early_steps: int = 100


def load(cfg: GradientNoiseConfig, seed: int) -> Split:
    """Flat train/test tensors of the configured dataset (the split depends on the seed)."""
    if cfg.dataset == "digits":
        return digits(flat=True, val_fraction=cfg.val_fraction, seed=seed)
    if cfg.dataset == "mnist1d":
        return mnist1d(seed=seed)
    raise ValueError(f"dataset must be 'digits' or 'mnist1d', got {cfg.dataset!r}")


def noise_to_signal(model: MLP, std: float) -> dict[str, float]:
    """Per block: sigma_t * sqrt(numel) / ||g|| (expected noise norm over gradient norm)."""
    out = {}
    for i, block in enumerate(model.blocks):
        grads = [p.grad for p in block.parameters() if p.grad is not None]
        numel = sum(g.numel() for g in grads)
        norm = torch.stack(torch._foreach_norm(grads)).square().sum().sqrt()
        out[f"blocks.{i}"] = std * numel**0.5 / norm.clamp_min(1e-30)
    return dict(zip(out, torch.stack(list(out.values())).tolist(), strict=True))


def early_grad(run_dir: Path, steps: int, layer: str = "blocks.0") -> float:
    """Mean logged gradient norm of ``layer`` over the first ``steps`` steps."""
    table = RunLog.read(run_dir)
    keep = pc.and_(pc.and_(pc.equal(table["metric"], "grad_norm"), pc.equal(table["layer"], layer)),
                   pc.less(table["step"], steps))
    values = table.filter(keep)["value"].to_numpy(zero_copy_only=False)
    return float(np.mean(values)) if values.size else math.nan


class GradientNoise(Study):
    """Annealed gradient noise (eta = 0.3) against plain SGD on a badly initialised deep MLP."""

    name = "gradient-noise"
    paper = "Adding Gradient Noise Improves Learning for Very Deep Networks (Neelakantan et al., 2015)"
    arxiv = "1511.06807"
    claim = ("Annealed Gaussian gradient noise (variance eta/(1+t)^0.55, eta=0.3) lets a 20-layer, "
             "width-50 ReLU MLP initialised N(0, 0.1^2) train with plain SGD (lr 0.03, 100 epochs) on "
             "digits, where noise-free SGD stays stuck: final test accuracy higher by >= 5 points")
    Config = GradientNoiseConfig
    arms = {"no-noise": {}, "eta=0.01": {"eta": 0.01}, "eta=0.3": {"eta": 0.3}, "eta=1.0": {"eta": 1.0}}
    rule = Superiority("test_acc", "higher", treatment="eta=0.3", baseline="no-noise", min_effect=0.05,
                       worst="chance")
    also = (Superiority("escaped", "higher", treatment="eta=0.3", baseline="no-noise"),)
    gates = (Gate("test_acc", above="chance", margin=0.05, arms=tuple(arms), which="any"),)
    profiles = {"last_over_first_grad": Profile("grad_norm", last_over_first)}
    seeds = {"tiny": 1, "smoke": 1, "full": 10}
    sizes = {
        "tiny": dict(depth=6, width=16, epochs=1, batch_size=128, every=2, early_steps=6,
                     metrics=("grad_norm",)),
        "smoke": dict(epochs=10),
    }

    def trial(self, cfg: GradientNoiseConfig, t: Trial) -> dict[str, float]:
        data = load(cfg, t.seed)
        model = MLP(in_dim=data.x_train[0].numel(), out_dim=int(data.num_classes), depth=cfg.depth,
                    width=cfg.width, init=cfg.init_std)
        transform = add_noise(eta=cfg.eta, gamma=cfg.gamma, seed=t.seed) if cfg.eta > 0 else identity()
        opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=cfg.lr), transform,
                                   model.named_parameters())
        curve, step, diverged = [], 0, False
        with t.monitor(model, metrics=list(cfg.metrics), every=cfg.every) as mon:
            for epoch in range(cfg.epochs):
                for x, y in data.loader(cfg.batch_size, seed=t.seed * 10_000 + epoch):
                    with mon.step(step):  # the Monitor sees the raw gradient; the noise comes in step()
                        loss = F.cross_entropy(model(x), y)
                        loss.backward()
                        mon.log(loss=loss)
                        if step % cfg.every == 0 and cfg.eta > 0:
                            ratios = noise_to_signal(model, noise_variance(step, cfg.eta, cfg.gamma) ** 0.5)
                            mon.log_target.log_many(step, list(ratios), ["noise_to_signal"] * len(ratios),
                                                    list(ratios.values()))
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    step += 1
                if not math.isfinite(loss.item()):
                    diverged = True
                    break
                curve.append(accuracy(model, data.x_val, data.y_val))
                mon.log_scalars(step - 1, test_acc=curve[-1])
        chance = 1.0 / int(data.num_classes)
        test_acc = math.nan if diverged else curve[-1]
        return {"test_acc": test_acc, "best_test_acc": max(curve, default=chance),
                "escaped": float(not diverged and test_acc > chance + cfg.escape_margin),
                "diverged": float(diverged), "chance": chance,
                "train_acc": math.nan if diverged else accuracy(model, data.x_train, data.y_train),
                "first_layer_grad_early": early_grad(t.run_dir, cfg.early_steps)}
