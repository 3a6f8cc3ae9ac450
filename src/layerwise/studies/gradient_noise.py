"""Study ``gradient-noise``: annealed Gaussian gradient noise on a badly initialised 20-layer MLP.

Adding Gradient Noise Improves Learning for Very Deep Networks (Neelakantan, Vilnis, Le,
Sutskever, Kaiser, Kurach, Martens, 2015, arXiv 1511.06807): adding N(0, eta / (1 + t)^gamma)
to every gradient lets a fully connected 20-layer ReLU net train with plain SGD from a poor
initialisation (weights N(0, 0.1^2), zero biases), where without noise most restarts stay stuck.
Tiny reproduction (shared/papers/SPECS-A.md, paper 2): a 20 x 50 MLP on scikit-learn digits (70/30
split), SGD lr 0.01, batch 64, 30 epochs; arms eta in {0 (baseline), 0.01, 0.3, 1.0}, gamma 0.55.

Verdict metric: the final test accuracy (higher), treatment eta = 0.3 (the paper's middle value
and ``add_noise``'s default; the spec expects gains for eta in {0.01, 0.3}). The escape rate
(share of seeds above 50% test accuracy), the best accuracy and the first layer's gradient norm
over the first 100 steps are in the verdict's details. The Monitor logs per-block gradient
norms; each logged step also gets a per-block noise-to-signal ratio sigma_t sqrt(numel) / ||g||.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.data import digits, mnist1d
from layerwise.models import MLP
from layerwise.monitor import Monitor, RunLog
from layerwise.monitor.summary import layer_profile
from layerwise.studies.recipe import Recipe, study
from layerwise.transforms import TransformedOptimizer, add_noise, identity, noise_variance

ARMS = ("no-noise", "eta=0.01", "eta=0.3", "eta=1.0")


@dataclass(frozen=True)
class GradientNoiseConfig:
    """The spec's tiny reproduction (full = these defaults: 30 epochs, ~600 SGD steps per run).

    ``init_std`` is the paper's "simple init" N(0, 0.1^2) with zero biases; ``escape`` is the test
    accuracy a seed must exceed to count as having escaped the poor initialisation. The spec
    asks for 10 seeds and an lr sweep {0.003, 0.01, 0.03} (pass ``lr=...``; one lr per run).
    """

    dataset: str = "digits"
    depth: int = 20
    width: int = 50
    init_std: float = 0.1
    lr: float = 0.01
    batch_size: int = 64
    epochs: int = 30
    gamma: float = 0.55
    val_fraction: float = 0.3
    escape: float = 0.5
    every: int = 1
    early_steps: int = 100


def load(cfg: GradientNoiseConfig, seed: int):
    """Flat train/test tensors of the configured dataset (the split depends on the seed)."""
    if cfg.dataset == "digits":
        return digits(flat=True, val_fraction=cfg.val_fraction, seed=seed)
    if cfg.dataset == "mnist1d":
        return mnist1d(seed=seed)
    raise ValueError(f"dataset must be 'digits' or 'mnist1d', got {cfg.dataset!r}")


def arm_eta(arm: str) -> float:
    """The noise scale eta of an arm name ("no-noise" -> 0)."""
    if arm == "no-noise":
        return 0.0
    if not arm.startswith("eta="):
        raise ValueError(f"unknown arm {arm!r}; use one of {', '.join(ARMS)}")
    return float(arm[4:])


def build(cfg: GradientNoiseConfig, in_dim: int, out_dim: int) -> MLP:
    """The paper's deep, narrow ReLU MLP with weights N(0, init_std^2) and zero biases."""
    return MLP(in_dim=in_dim, out_dim=out_dim, depth=cfg.depth, width=cfg.width, init=cfg.init_std)


def noise_to_signal(model: MLP, std: float) -> dict[str, float]:
    """Per block: sigma_t * sqrt(numel) / ||g|| (expected noise norm over gradient norm)."""
    out = {}
    for i, block in enumerate(model.blocks):
        grads = [p.grad for p in block.parameters() if p.grad is not None]
        numel = sum(g.numel() for g in grads)
        norm = torch.stack(torch._foreach_norm(grads)).square().sum().sqrt()
        out[f"blocks.{i}"] = std * numel**0.5 / norm.clamp_min(1e-30)
    values = torch.stack(list(out.values())).tolist()
    return dict(zip(out, values, strict=True))


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of ``x`` classified as ``y``."""
    return float((model(x).argmax(-1) == y).float().mean())


def train(cfg: GradientNoiseConfig, eta: float, seed: int, data, mon: Monitor, model: MLP,
          opt: TransformedOptimizer) -> bool:
    """Plain SGD over ``cfg.epochs`` epochs; the Monitor observes the raw (noise-free) gradients.

    Returns whether the loss diverged (NaN/Inf), which ends training early.
    """
    step, per_epoch = 0, -(-len(data.x_train) // cfg.batch_size)
    for epoch in range(cfg.epochs):
        for i, (x, y) in enumerate(data.loader(cfg.batch_size, seed=seed * 10_000 + epoch)):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            mon.log(loss=loss)
            if i == per_epoch - 1:  # after this step's forward: the Monitor keeps the training one
                mon.log_scalars(step, test_acc=accuracy(model, data.x_val, data.y_val))
            if step % cfg.every == 0 and eta > 0:
                std = noise_variance(step, eta, cfg.gamma) ** 0.5
                ratios = noise_to_signal(model, std)
                mon.log_target.log_many(step, list(ratios), ["noise_to_signal"] * len(ratios),
                                        list(ratios.values()))
            mon.observe(step)
            opt.step()
            step += 1
        if not torch.isfinite(loss):
            return True
    return False


def run(cfg: GradientNoiseConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one arm for one seed; return test accuracy, escape flag and early gradient flow."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    eta = arm_eta(arm)
    data = load(cfg, seed)
    model = build(cfg, data.x_train[0].numel(), int(data.num_classes))
    transform = add_noise(eta=eta, gamma=cfg.gamma, seed=seed) if eta > 0 else identity()
    opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=cfg.lr), transform,
                               model.named_parameters())
    meta = {"study": "gradient-noise", "arm": arm, "eta": eta, "seed": seed, "config": vars(cfg)}
    with Monitor(model, metrics=["grad_norm", "weight_norm", "act_rms", "dead_fraction"],
                 every=cfg.every, log=run_dir, meta=meta, on_nonfinite="record") as mon:
        diverged = train(cfg, eta, seed, data, mon, model, opt)
    test_acc = accuracy(model, data.x_val, data.y_val)
    return {"test_acc": test_acc, "escaped": float(test_acc > cfg.escape), "diverged": float(diverged),
            "train_acc": accuracy(model, data.x_train, data.y_train),
            "first_layer_grad_early": early_grad(run_dir, cfg.early_steps),
            "last_over_first_grad": depth_grad_ratio(run_dir)}


def early_grad(run_dir: Path, steps: int) -> float:
    """Mean gradient norm of ``blocks.0`` over the first ``steps`` steps."""
    table = RunLog.read(run_dir).to_pandas()
    rows = table[(table.metric == "grad_norm") & (table.layer == "blocks.0") & (table.step < steps)]
    return float(rows.value.mean())


def depth_grad_ratio(run_dir: Path) -> float:
    """Gradient norm of the last block over the first, late in training (vanishing gradients < 1)."""
    profile = list(layer_profile(RunLog.read(run_dir), "grad_norm").values())
    return profile[-1] / max(profile[0], 1e-30)


def summarize(cfg: GradientNoiseConfig, results: dict[str, list[dict]]) -> dict:
    """Escape rate, mean and best test accuracy and early first-layer gradient norm per arm."""
    out: dict[str, dict] = {"escape_rate": {}, "mean_test_acc": {}, "best_test_acc": {},
                            "first_layer_grad_early": {}, "train_acc": {}, "diverged": {}}
    for arm, rows in results.items():
        accs = np.array([r["test_acc"] for r in rows])
        out["escape_rate"][arm] = float(np.mean([r["escaped"] for r in rows]))
        out["mean_test_acc"][arm] = float(accs.mean())
        out["best_test_acc"][arm] = float(accs.max())
        out["first_layer_grad_early"][arm] = float(np.mean([r["first_layer_grad_early"] for r in rows]))
        out["train_acc"][arm] = float(np.mean([r["train_acc"] for r in rows]))
        out["diverged"][arm] = float(np.mean([r["diverged"] for r in rows]))
    out["verdict_metric"] = "test_acc (final), treatment eta=0.3"
    return out


RECIPE = study(Recipe(
    name="gradient-noise",
    paper="Adding Gradient Noise Improves Learning for Very Deep Networks (Neelakantan et al., 2015)",
    arxiv="1511.06807",
    claim="Annealed Gaussian gradient noise (variance eta/(1+t)^0.55) lets a 20-layer, width-50 ReLU "
          "MLP initialised N(0, 0.1^2) train with plain SGD; we test whether eta=0.3 raises the final "
          "test accuracy on digits over noise-free SGD (escape rate over seeds in the details)",
    metric="test_acc",
    better="higher",
    arms=ARMS,
    treatment="eta=0.3",
    config=GradientNoiseConfig,
    run=run,
    summarize=summarize,
    smoke=dict(epochs=3),
    full={},
    seeds=10,
    smoke_seeds=1,
))
