"""Study ``dp-layerwise``: simulated DP federated averaging on digits, global vs per-layer clipping,
server Adam vs server LAMB, over noise levels.

Enabling Differentially Private Federated Learning for Speech Recognition: Benchmarks, Adaptive
Optimizers and Gradient Clipping (Pelikan et al., Apple, NeurIPS 2025, arXiv 2310.00098): with
clipped, noisy updates a deep model trains badly because gradient scales differ across layers;
per-layer clipping and a layer-wise normalising server optimizer (LAMB, You et al., 2019, arXiv
1904.00962) mitigate the clipping bias and the heterogeneity.

Simulation (shared/papers/SPECS-B.md, paper 7, adapted as the issue asks): the digits training set
is cut into ``n_clients`` non-IID shards (``labels_per_client`` labels each). Each round a cohort of
clients runs ``local_steps`` of DP-SGD from the server weights (``layerwise.transforms.DPSGD``:
Poisson-sampled mini-batches, per-sample clipping at ``clip`` either flat or per layer with
C_l = C / sqrt(L), Gaussian noise ``noise_multiplier * clip``); the server averages the client deltas
and applies Adam or LAMB (the same Adam moments, plus LAMB's per-tensor trust ratio ||w|| / ||u||).
Privacy is example-level, per client: each client's ``DPSGD`` accountant records its own steps, and
``details`` reports the largest epsilon over clients at ``delta`` (RDP accountant) for each level.

Metric: final test accuracy averaged over the noise levels (higher is better), so an arm that
"degrades least as sigma grows" scores best; per-level accuracies are in ``details``. Each run logs
per layer and round the norm of the averaged client delta (``delta_norm@sigma=S``) and the server
update ratio (``update_ratio@sigma=S``). The full size is the spec's (200 clients, cohort 32, 300
rounds, 10-layer MLP of width 128, four noise levels): hours on 2 CPU cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.data import digits
from layerwise.models import MLP
from layerwise.monitor import RunLog
from layerwise.studies.recipe import Recipe, study
from layerwise.transforms import DPSGD

ARMS = ("global-adam", "global-lamb", "layer-adam", "layer-lamb")


@dataclass(frozen=True)
class DPLayerwiseConfig:
    """Spec sizes: 200 clients (2 labels each), cohort 32, 300 rounds, MLP 10 x 128, sigma 0..2."""

    n_clients: int = 200
    labels_per_client: int = 2
    cohort: int = 32
    rounds: int = 300
    local_steps: int = 10
    local_batch: int = 4
    client_lr: float = 0.2
    clip: float = 1.0
    noise_levels: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
    depth: int = 10
    width: int = 128
    adam_lr: float = 1e-3
    lamb_lr: float = 1e-2
    delta: float = 1e-5
    eval_every: int = 10


def make_shards(y: Tensor, *, n_clients: int, labels_per_client: int, seed: int) -> list[Tensor]:
    """Non-IID shards: sort by label, cut into n_clients * labels_per_client pieces, deal them out."""
    g = torch.Generator().manual_seed(seed)
    order = torch.argsort(y * len(y) + torch.randperm(len(y), generator=g))
    pieces = list(order.tensor_split(n_clients * labels_per_client))
    deal = torch.randperm(len(pieces), generator=g).tolist()
    return [torch.cat([pieces[deal[c * labels_per_client + j]] for j in range(labels_per_client)])
            for c in range(n_clients)]


def lamb_scale(update: Tensor, weight: Tensor) -> Tensor:
    """LAMB's trust ratio ||w|| / ||u|| (1 when either norm is zero), applied to the update ``u``."""
    u_norm, w_norm = update.norm(), weight.norm()
    ratio = torch.where((u_norm > 0) & (w_norm > 0), w_norm / u_norm.clamp_min(1e-30), torch.ones(()))
    return update * ratio


class ServerOptimizer:
    """Adam on the pseudo-gradient (server minus mean client weights); ``lamb`` adds the trust ratio."""

    def __init__(self, params: dict[str, Tensor], *, lr: float, lamb: bool,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.lamb, self.betas, self.eps = params, lr, lamb, betas, eps
        self.m = {n: torch.zeros_like(p) for n, p in params.items()}
        self.v = {n: torch.zeros_like(p) for n, p in params.items()}
        self.t = 0

    @torch.no_grad()
    def step(self, grads: dict[str, Tensor]) -> dict[str, Tensor]:
        """Update ``params`` in place; return each tensor's applied change."""
        self.t += 1
        b1, b2 = self.betas
        changes = {}
        for n, g in grads.items():
            self.m[n].lerp_(g, 1 - b1)
            self.v[n].mul_(b2).addcmul_(g, g, value=1 - b2)
            u = (self.m[n] / (1 - b1**self.t)) / ((self.v[n] / (1 - b2**self.t)).sqrt() + self.eps)
            if self.lamb:
                u = lamb_scale(u, self.params[n])
            changes[n] = -self.lr * u
            self.params[n].add_(changes[n])
        return changes


class Federation:
    """Clients (shards with their own DPSGD and accountant) sharing one client model."""

    def __init__(self, cfg: DPLayerwiseConfig, arm: str, sigma: float, seed: int, model: nn.Module,
                 x: Tensor, y: Tensor) -> None:
        self.cfg, self.model, self.x, self.y = cfg, model, x, y
        self.shards = make_shards(y, n_clients=cfg.n_clients, labels_per_client=cfg.labels_per_client,
                                  seed=seed)
        per_layer = "uniform" if arm.startswith("layer") else False
        self.dp = [DPSGD(model, F.cross_entropy, clip=cfg.clip, noise_multiplier=sigma, per_layer=per_layer,
                         seed=seed * 100_003 + c, expected_batch_size=cfg.local_batch,
                         sample_rate=min(1.0, cfg.local_batch / len(s)))
                   for c, s in enumerate(self.shards)]
        self.g = torch.Generator().manual_seed(seed)

    def client_delta(self, c: int, server: dict[str, Tensor]) -> dict[str, Tensor]:
        """Local DP-SGD from the server weights; return server minus client weights."""
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(server[n])
        shard, dp = self.shards[c], self.dp[c]
        for _ in range(self.cfg.local_steps):
            idx = shard[torch.rand(len(shard), generator=self.g) < dp.sample_rate]
            if len(idx) == 0:  # an empty Poisson batch: no step (see the module doc)
                continue
            private = dp.step_grads(self.x[idx], self.y[idx])
            with torch.no_grad():
                for n, grad in private.items():
                    params[n].sub_(self.cfg.client_lr * grad)
        return {n: server[n] - p.detach() for n, p in params.items()}

    def epsilon(self, delta: float) -> float:
        """Largest example-level epsilon over the clients (inf without noise)."""
        spent = [dp.epsilon(delta) for dp in self.dp if dp.accountant.history]
        return max(spent) if spent else 0.0


def _by_layer(tensors: dict[str, Tensor]) -> dict[str, float]:
    """Norm per module (weight and bias together), keyed by the dotted module path."""
    sq: dict[str, float] = {}
    for n, t in tensors.items():
        layer = n.rsplit(".", 1)[0]
        sq[layer] = sq.get(layer, 0.0) + float(t.pow(2).sum())
    return {k: math.sqrt(v) for k, v in sq.items()}


@torch.no_grad()
def _accuracy(model: nn.Module, server: dict[str, Tensor], x: Tensor, y: Tensor) -> float:
    for n, p in model.named_parameters():
        p.copy_(server[n])
    return (model(x).argmax(-1) == y).float().mean().item()


def train_level(cfg: DPLayerwiseConfig, arm: str, sigma: float, seed: int, log: RunLog) -> dict:
    """One DP-FedAvg training at noise multiplier ``sigma``; per-layer rows tagged with sigma."""
    split = digits(flat=True, seed=0)
    torch.manual_seed(seed)
    model = MLP(in_dim=64, out_dim=10, depth=cfg.depth, width=cfg.width, init="kaiming")
    server = {n: p.detach().clone() for n, p in model.named_parameters()}
    fed = Federation(cfg, arm, sigma, seed, model, split.x_train, split.y_train)
    lamb = arm.endswith("lamb")
    opt = ServerOptimizer(server, lr=cfg.lamb_lr if lamb else cfg.adam_lr, lamb=lamb)
    tag, acc, spread = f"@sigma={sigma:g}", float("nan"), []
    for r in range(cfg.rounds):
        cohort = torch.randperm(cfg.n_clients, generator=fed.g)[: cfg.cohort].tolist()
        deltas = [fed.client_delta(c, server) for c in cohort]
        mean = {n: torch.stack([d[n] for d in deltas]).mean(0) for n in server}
        w_norm = _by_layer(server)
        change = _by_layer(opt.step(mean))
        d_norm = _by_layer(mean)
        spread.append(max(d_norm.values()) / max(min(d_norm.values()), 1e-30))
        layers = list(d_norm)
        log.log_many(r, layers * 2, [f"delta_norm{tag}"] * len(layers) + [f"update_ratio{tag}"] * len(layers),
                     [d_norm[k] for k in layers] + [change[k] / max(w_norm[k], 1e-30) for k in layers])
        if (r + 1) % cfg.eval_every == 0 or r == cfg.rounds - 1:
            acc = _accuracy(model, server, split.x_val, split.y_val)
            log.log_scalars(r, **{f"test_acc{tag}": acc})
    eps = fed.epsilon(cfg.delta) if sigma > 0 else float("inf")
    return {"acc": acc, "epsilon": eps, "delta_spread": sum(spread) / len(spread)}


def run(cfg: DPLayerwiseConfig, arm: str, seed: int, run_dir: Path) -> dict:
    """Train the arm at every noise level; the metric is the mean final test accuracy over levels."""
    torch.set_num_threads(1)
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    out: dict = {"acc": {}, "epsilon": {}, "delta_spread": {}}
    meta = {"study": "dp-layerwise", "arm": arm, "seed": seed, "config": vars(cfg)}
    with RunLog(run_dir, meta=meta) as log:
        for sigma in cfg.noise_levels:
            level = train_level(cfg, arm, sigma, seed, log)
            for key in out:
                out[key][f"{sigma:g}"] = level[key]
        log.update_meta(epsilon=out["epsilon"])
    out["test_acc"] = sum(out["acc"].values()) / len(out["acc"])
    return out


def summarize(cfg: DPLayerwiseConfig, results: dict[str, list[dict]]) -> dict:
    """Per arm and noise level: mean accuracy, epsilon (max over seeds) and delta-norm spread."""
    levels = [f"{s:g}" for s in cfg.noise_levels]
    out: dict = {"delta": cfg.delta}
    for key, reduce in (("acc", _mean), ("epsilon", max), ("delta_spread", _mean)):
        out[key] = {arm: {lv: reduce([r[key][lv] for r in rows]) for lv in levels}
                    for arm, rows in results.items()}
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


RECIPE = study(Recipe(
    name="dp-layerwise",
    paper="Enabling Differentially Private Federated Learning for Speech Recognition (Pelikan et al., "
          "NeurIPS 2025)",
    arxiv="2310.00098",
    claim="Per-layer clipping with a LAMB server optimizer degrades least as the DP noise grows in "
          "federated training of a deep network (the paper: lower WER at fixed epsilon); we test the "
          "test accuracy, averaged over noise levels, of DP-FedAvg on non-IID digits with a deep MLP",
    metric="test_acc",
    better="higher",
    arms=ARMS,
    treatment="layer-lamb",
    config=DPLayerwiseConfig,
    run=run,
    summarize=summarize,
    smoke=dict(n_clients=20, cohort=4, rounds=20, local_steps=2, local_batch=8, noise_levels=(0.5, 2.0),
               depth=6, width=64, eval_every=5),
    full={},
    seeds=3,
    smoke_seeds=1,
))
