"""Study ``dp-layerwise``: user-level DP federated averaging on digits, global vs per-layer clipping of
each client's model delta, server Adam vs server LAMB.

Enabling Differentially Private Federated Learning for Speech Recognition: Benchmarks, Adaptive
Optimizers and Gradient Clipping (Pelikan et al., Apple, NeurIPS 2025, arXiv 2310.00098): with
clipped, noisy updates a deep model trains badly because update scales differ across layers;
per-layer clipping and a layer-wise normalising server optimizer (LAMB, You et al., 2019, arXiv
1904.00962) mitigate the clipping bias and the heterogeneity.

Simulation (shared/papers/SPECS-B.md, paper 7, as in the official ``ml-pfl4asr`` code): the digits
training split is cut into ``n_clients`` non-IID shards (``labels_per_client`` labels each). Each
round a cohort of ``cohort`` clients (a uniform draw without replacement) runs ``local_steps`` of
SGD (lr ``client_lr``, batch ``local_batch``, each step's gradient clipped to norm 1, not private)
from the server weights; its model delta ``server - client`` is clipped

* globally: scaled by C / ||delta|| when ||delta|| >= C (``clip_per_layer(mode="global")``), or
* per layer: when ||delta|| >= C, every parameter tensor (leaf) is *set* to norm C / sqrt(L)
  (``clip_per_layer(mode="uniform")``, the code's ``clip_layer_grads``: small-update layers are
  amplified; below C nothing changes),

so every client's contribution has norm <= C either way. The server adds N(0, (sigma C)^2) to the
sum of the cohort's clipped deltas, divides by the cohort size (``layerwise.transforms.dp.
noisy_average``) and applies Adam or LAMB (Adam's moments, times the per-tensor trust ratio
||w|| / ||u||) to that pseudo-gradient. Privacy is therefore user-level, as in the paper: one
client's whole delta per round is the protected unit, and ``epsilon`` is the RDP accountant's at
``delta`` for ``rounds`` steps of sampling rate cohort / n_clients (Poisson sampling's bound, an
approximation for the fixed-size cohort). The earlier version of this study clipped per-sample
gradients inside each client (example-level DP-SGD with C_l = C / sqrt(L)), which is another
mechanism; the per-layer rule there was clipping, not the paper's normalisation.

Design: 2x2 factorial {global, per-layer clipping} x {server Adam, server LAMB}. The claim judged is
the clipping factor inside LAMB (the paper's configuration): ``layer-lamb`` against ``global-lamb``
on test accuracy at noise multiplier ``sigma`` (paired by seed: the arms share initial weights,
cohorts, batches and noise draws). ``min_effect`` 0.02: two points of accuracy, 7 of the 359 test
digits, the smallest gain we would call a mitigation. Secondary: the same factor inside Adam; the
2x2 interaction (the clipping gain under LAMB minus under Adam, per seed) is in the report. Each
arm is also trained without noise, giving ``acc_clean`` and the degradation ``acc - acc_clean``;
``clipped_share`` is the share of client deltas at or above C (the only ones where the two
clipping rules differ) and ``delta_spread`` the max/min ratio of the layers' mean raw delta norms.

Gates: every judged arm reaches ``acc_clean`` >= 0.8 (chance is 0.1; the earlier version stopped
at 0.18-0.29), and at least one reaches 0.2 under noise, else the study is not judged: a model
that does not learn without noise, or arms all at chance, cannot show which clipping copes with
noise.

Clipping threshold C = 0.1, fixed before any arm was compared by a stated rule: the lower
quartile of the client delta norms of the baseline (global-lamb) without noise, 0.106 (median
0.21), so that clipping binds for most deltas, as with the paper's C = 0.01
(``clip_deltas_per_layer``). At C = 1 no delta ever reached C (``clipped_share`` 0), and the two
clipping rules were the same computation.

Server learning rates, tuned per optimizer on sigma = 0 with a 3-point grid (global clipping, the
baseline, so the tuning does not favour the treatment; seed 0, full size otherwise; final test
accuracy): Adam lr 1e-3 / 3e-3 / 1e-2 -> 0.958 / 0.978 / 0.997; LAMB lr 3e-3 / 1e-2 / 3e-2 ->
0.947 / 0.983 / 0.872. The best of each grid is fixed in the config: ``adam_lr`` = ``lamb_lr`` =
1e-2 (Adam's best is the grid's edge; a first grid at C = 1 picked the same values). The noise
multiplier sigma = 1 (the spec's middle level; epsilon 16 at delta 1e-5 for 50 users, q = 0.2, 100
rounds) was also set on the baseline alone: global-lamb reaches 0.735 at sigma 1 (0.983 without
noise, every delta clipped), degraded but learning, with room both ways.

Full size (the audit's CPU size): MLP of depth 6, width 64 (7 linear layers, L = 14 leaves), 50
clients, cohort 10, 100 rounds, 10 local steps of batch 16, C = 0.1, sigma = 1. Cost: one
training took 5.8-7.1 CPU-seconds (measured at 1 thread on the shared box), two per trial (sigma
and 0), 4 arms x 5 seeds: about 4.5 CPU-minutes. Each run logs, for the noisy
training, the norm per layer and round of the cohort's mean clipped delta before the noise
(``delta_norm``), and the test accuracy of both trainings (``test_acc@sigma=S``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from layerwise.data import digits
from layerwise.models import MLP
from layerwise.monitor import RunLog
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial
from layerwise.transforms import clip_per_layer
from layerwise.transforms.accountant import epsilon
from layerwise.transforms.dp import noisy_average

CLIPPING = {"global": "global", "layer": "uniform"}  # config value -> clip_per_layer mode


@dataclass(frozen=True)
class DPLayerwiseConfig:
    """Full size: 50 clients (2 labels each), cohort 10, 100 rounds, MLP 6 x 64, C 0.1, sigma 1.

    ``clipping``: "global" or "layer" (each leaf set to C / sqrt(L)); ``server``: "adam" or
    "lamb"; ``adam_lr`` / ``lamb_lr``: the server learning rate of each optimizer.
    """

    n_clients: int = 50
    labels_per_client: int = 2
    cohort: int = 10
    rounds: int = 100
    local_steps: int = 10
    local_batch: int = 16
    client_lr: float = 0.2
    local_clip: float = 1.0
    clip: float = 0.1
    sigma: float = 1.0
    depth: int = 6
    width: int = 64
    clipping: str = "global"
    server: str = "adam"
    adam_lr: float = 1e-2
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


def local_deltas(model: MLP, server: dict[str, Tensor], x: Tensor, y: Tensor,
                 cfg: DPLayerwiseConfig) -> list[dict[str, Tensor]]:
    """Every cohort client's SGD from the server weights (each step's gradient clipped to norm
    ``local_clip``); ``x``: (clients, local_steps, local_batch, features). Returns each client's
    delta ``server - client``."""
    params = dict(model.named_parameters())
    deltas = []
    for xc, yc in zip(x, y, strict=True):
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(server[n])
        for xb, yb in zip(xc, yc, strict=True):
            F.cross_entropy(model(xb), yb).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.local_clip)
            with torch.no_grad():
                for p in params.values():
                    p.sub_(cfg.client_lr * p.grad)
                    p.grad = None
        deltas.append({n: server[n] - p.detach() for n, p in params.items()})
    return deltas


def clip_deltas(deltas: list[dict[str, Tensor]], cfg: DPLayerwiseConfig) -> dict[str, Tensor]:
    """Each client's delta clipped to norm C (globally or per leaf), summed over the cohort."""
    clip = clip_per_layer(cfg.clip, mode=CLIPPING[cfg.clipping])
    total = {n: torch.zeros_like(d) for n, d in deltas[0].items()}
    for one in deltas:
        clipped, _ = clip.update(one, clip.init(one), one)
        for n, d in clipped.items():
            total[n] += d
    return total


def _by_layer(tensors: dict[str, Tensor]) -> dict[str, float]:
    """Norm per module (weight and bias together), keyed by the dotted module path."""
    sq: dict[str, float] = {}
    for n, t in tensors.items():
        layer = n.rsplit(".", 1)[0]
        sq[layer] = sq.get(layer, 0.0) + float(t.pow(2).sum())
    return {k: math.sqrt(v) for k, v in sq.items()}


@torch.no_grad()
def _accuracy(model: MLP, server: dict[str, Tensor], x: Tensor, y: Tensor) -> float:
    for n, p in model.named_parameters():
        p.copy_(server[n])
    return float((model(x).argmax(-1) == y).float().mean())


def federated_training(cfg: DPLayerwiseConfig, sigma: float, t: Trial, log: RunLog,
                       log_layers: bool = True) -> dict[str, float]:
    """DP-FedAvg at noise multiplier ``sigma`` from the seed's initial weights; the cohorts,
    batches and noise draws come from the trial's generators, so they are shared by the arms.
    ``log_layers``: log each layer's norm of the mean clipped delta per round."""
    split = digits(flat=True, seed=0)
    with torch.random.fork_rng():  # the same initial weights at every noise level
        model = MLP(in_dim=64, out_dim=10, depth=cfg.depth, width=cfg.width, init="kaiming")
    server = {n: p.detach().clone() for n, p in model.named_parameters()}
    shards = make_shards(split.y_train, n_clients=cfg.n_clients, labels_per_client=cfg.labels_per_client,
                         seed=t.seed)
    opt = ServerOptimizer(server, lr=cfg.lamb_lr if cfg.server == "lamb" else cfg.adam_lr,
                          lamb=cfg.server == "lamb")
    data, noise = t.generator(1), t.generator(2)
    tag, acc, spread, clipped_share = f"@sigma={sigma:g}", float("nan"), [], []
    for r in range(cfg.rounds):
        cohort = torch.randperm(cfg.n_clients, generator=data)[: cfg.cohort].tolist()
        picks = torch.stack([shards[c][torch.randint(len(shards[c]), (cfg.local_steps, cfg.local_batch),
                                                      generator=data)] for c in cohort])
        deltas = local_deltas(model, server, split.x_train[picks], split.y_train[picks], cfg)
        raw = _by_layer({n: sum(d[n] for d in deltas) / len(deltas) for n in server})
        spread.append(max(raw.values()) / max(min(raw.values()), 1e-30))
        norms = [math.sqrt(sum(float(v.square().sum()) for v in d.values())) for d in deltas]
        clipped_share.append(float(np.mean([n >= cfg.clip for n in norms])))
        summed = clip_deltas(deltas, cfg)
        if log_layers:  # what clipping leaves of each layer's share, before the noise
            clipped = _by_layer({n: v / cfg.cohort for n, v in summed.items()})
            log.log_many(r, list(clipped), ["delta_norm"] * len(clipped), list(clipped.values()))
        opt.step(noisy_average(summed, clip=cfg.clip, noise_multiplier=sigma, batch_size=cfg.cohort,
                               generator=noise))
        if (r + 1) % cfg.eval_every == 0 or r == cfg.rounds - 1:
            acc = _accuracy(model, server, split.x_val, split.y_val)
            log.log_scalars(r, **{f"test_acc{tag}": acc})
    return {"acc": acc, "delta_spread": float(np.mean(spread)),
            "clipped_share": float(np.mean(clipped_share))}


class DPLayerwise(Study):
    """User-level DP-FedAvg: {global, per-layer} delta clipping x {Adam, LAMB} server optimizer."""

    name = "dp-layerwise"
    paper = ("Enabling Differentially Private Federated Learning for Speech Recognition (Pelikan et al., "
             "NeurIPS 2025)")
    arxiv = "2310.00098"
    claim = ("Per-layer clipping of each client's model delta (every leaf set to C/sqrt(L)) raises the "
             "accuracy of user-level DP federated training with a LAMB server optimizer over global "
             "clipping; tested on DP-FedAvg of a 6-layer MLP over 50 non-IID digit clients at a fixed "
             "noise multiplier, with the same factor under server Adam as a secondary")
    Config = DPLayerwiseConfig
    arms = {"global-adam": {}, "global-lamb": {"server": "lamb"}, "layer-adam": {"clipping": "layer"},
            "layer-lamb": {"clipping": "layer", "server": "lamb"}}
    rule = Superiority("acc", "higher", treatment="layer-lamb", baseline="global-lamb", min_effect=0.02)
    also = (Superiority("acc", "higher", treatment="layer-adam", baseline="global-adam", min_effect=0.02),)
    gates = (Gate("acc_clean", above=0.8), Gate("acc", above=0.2, which="any"))
    sizes = {
        "tiny": dict(n_clients=6, cohort=2, rounds=2, local_steps=2, local_batch=4, depth=2, width=8,
                     eval_every=2),
        "smoke": dict(rounds=20, eval_every=5),
    }

    def trial(self, cfg: DPLayerwiseConfig, t: Trial) -> dict[str, float]:
        with t.runlog() as log:
            noisy = federated_training(cfg, cfg.sigma, t, log)
            clean = federated_training(cfg, 0.0, t, log, log_layers=False)
        q = cfg.cohort / cfg.n_clients
        eps = epsilon(q=q, sigma=cfg.sigma, steps=cfg.rounds, delta=cfg.delta) if cfg.sigma > 0 else math.inf
        return {"acc": noisy["acc"], "acc_clean": clean["acc"], "degradation": noisy["acc"] - clean["acc"],
                "delta_spread": noisy["delta_spread"], "clipped_share": noisy["clipped_share"],
                "epsilon": eps}

    def sections(self, cfg: DPLayerwiseConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
        """The 2x2 table and the interaction: the clipping gain under LAMB minus under Adam, per seed."""
        from layerwise.report import Section
        from layerwise.studies._stats import t_interval

        acc = {arm: np.array([r["acc"] for r in rows], dtype=float) for arm, rows in results.items()}
        inter = (acc["layer-lamb"] - acc["global-lamb"]) - (acc["layer-adam"] - acc["global-adam"])
        finite = inter[np.isfinite(inter)]
        iv = t_interval(finite) if finite.size else None
        rows = [f"{arm}: accuracy {np.nanmean(acc[arm]):.3f} at sigma {cfg.sigma:g}, "
                f"{np.nanmean([r['acc_clean'] for r in results[arm]]):.3f} without noise"
                for arm in results]
        ci = f"{iv.mean:+.4f} [{iv.lo:+.4f}, {iv.hi:+.4f}] (paired t over {iv.n} seeds)" if iv else "n/a"
        text = "; ".join(rows) + (f". Interaction (layer-lamb - global-lamb) - (layer-adam - global-adam): "
                                  f"{ci}.")
        return [Section("Clipping x server optimizer (2x2)", text=text)]
