"""Study ``muon-noise-adaptive``: Muon/Signum against noise-adaptive layerwise Muon on a Markov corpus.

Noise-adaptive layerwise learning rates (LANTON; Hao, Gong, Xu, Wang & Liu, 2025, arXiv 2510.14009):
each layer's gradient noise is estimated in the dual norm of its LMO (nuclear norm for Muon's
spectral layers, l1 for Signum's sign layers) and, within a group sharing a norm, noisier layers
get smaller learning rates; the paper reports ~1.5x sample efficiency over D-Muon on GPT-2/LLaMA.
The optimizer is ``layerwise.optim.NoiseAdaptiveMuon`` (its estimator and lr rule are partly
reconstructed; see that module).

Tiny reproduction (shared/papers/SPECS-B.md, paper 5): a 4-layer GPT (d=128, 4 heads, context 64)
on tokens of a random sparse 2nd-order Markov chain over 256 symbols (``layerwise.data.markov_tokens``),
batch 32, 1,500 steps. Arms:

- ``muon``: the same optimizer with the adaptation switched off (``lr_bounds=(1, 1)``): Muon on the
  hidden matrices and Signum on embeddings/vectors, one learning rate per group (the spec's baseline);
- ``lanton``: the noise-adaptive rule, ratios clipped to [0.1, 10];
- ``adamw``: AdamW on everything, a reference arm.

Metric: optimizer steps until the validation loss reaches ``entropy_rate + target_gap * (ln V -
entropy_rate)`` (lower is better), checked every ``eval_every`` steps; a run that never reaches it
counts as ``steps + eval_every`` (censored) and ``summarize`` reports how many reached it. Every run
logs the per-layer ``layer_lr`` and ``layer_noise`` of each parameter tensor at every step (layer =
dotted parameter name). Not covered: the spec's induction-copy subtask and its sweep over three
base learning rates (run ``lr=...`` overrides for that). The full size takes ~10 min per run on 2
CPU cores.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.data import MarkovCorpus, markov_tokens
from layerwise.models import GPT
from layerwise.monitor import Monitor, RunLog
from layerwise.monitor.summary import layer_profile
from layerwise.optim import NoiseAdaptiveMuon, noise_adaptive_param_groups
from layerwise.studies.recipe import Recipe, study
from layerwise.studies.training import lm_eval_loss, warmup_cosine

ARMS = ("muon", "lanton", "adamw")


@dataclass(frozen=True)
class MuonNoiseAdaptiveConfig:
    """Spec sizes: GPT 4 x 128 (4 heads, context 64), vocab 256 order-2 chain, batch 32, 1,500 steps."""

    n_layer: int = 4
    d_model: int = 128
    n_head: int = 4
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 1500
    vocab_size: int = 256
    order: int = 2
    concentration: float = 0.1
    n_tokens: int = 200_000
    lr: float = 0.02
    sign_lr: float = 3e-4
    adamw_lr: float = 3e-3
    estimator: str = "diff"
    beta2: float = 0.99
    warmup: int = 0
    target_gap: float = 0.1
    eval_every: int = 25
    eval_batches: int = 4
    every: int = 1


@functools.lru_cache(maxsize=4)
def corpus_for(vocab_size: int, n_tokens: int, order: int, concentration: float) -> MarkovCorpus:
    """The Markov corpus (cached: every arm and seed trains on the same chain)."""
    return markov_tokens(vocab_size=vocab_size, n_tokens=n_tokens, order=order,
                         concentration=concentration, seed=0)


def target_loss(cfg: MuonNoiseAdaptiveConfig, corpus: MarkovCorpus) -> float:
    """The loss floor plus ``target_gap`` of the distance from a uniform guess (ln V) to it."""
    h = corpus.entropy_rate
    return h + cfg.target_gap * (math.log(cfg.vocab_size) - h)


def make_optimizer(cfg: MuonNoiseAdaptiveConfig, arm: str, model: nn.Module) -> torch.optim.Optimizer:
    """The arm's optimizer; "muon" is NoiseAdaptiveMuon with every ratio pinned to 1."""
    if arm == "adamw":
        params = [{"params": [p for _, p in named], "names": [n for n, _ in named]}
                  for named in [list(model.named_parameters())]]
        return torch.optim.AdamW(params, lr=cfg.adamw_lr, betas=(0.9, 0.95), weight_decay=0.0)
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    bounds = (1.0, 1.0) if arm == "muon" else (0.1, 10.0)
    groups = noise_adaptive_param_groups(model, lr=cfg.lr, sign_lr=cfg.sign_lr)
    return NoiseAdaptiveMuon(groups, lr=cfg.lr, estimator=cfg.estimator, beta2=cfg.beta2, lr_bounds=bounds)


def _layer_values(opt: torch.optim.Optimizer) -> dict[str, dict[str, float]]:
    """Per-parameter learning rate (and dual-norm noise for the Muon-family arms) right now."""
    if isinstance(opt, NoiseAdaptiveMuon):
        return {"layer_lr": opt.layer_lr, "layer_noise": opt.layer_noise}
    return {"layer_lr": {n: g["lr"] for g in opt.param_groups for n in g["names"]}}


def _log_layers(log: RunLog, step: int, opt: torch.optim.Optimizer) -> None:
    for metric, values in _layer_values(opt).items():
        log.log_many(step, list(values), [metric] * len(values), list(values.values()))


def run(cfg: MuonNoiseAdaptiveConfig, arm: str, seed: int, run_dir: Path) -> dict:
    """Train one arm for one seed; return steps to the target loss and the final losses."""
    torch.set_num_threads(1)
    corpus = corpus_for(cfg.vocab_size, cfg.n_tokens, cfg.order, cfg.concentration)
    target = target_loss(cfg, corpus)
    torch.manual_seed(seed)
    model = GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                vocab_size=cfg.vocab_size)
    opt = make_optimizer(cfg, arm, model)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total=cfg.steps, warmup=max(1, cfg.warmup)))
    g = torch.Generator().manual_seed(seed)
    evals = dict(batches=cfg.eval_batches, batch_size=cfg.batch_size, seq_len=cfg.seq_len)
    hit, val = float("nan"), float("nan")
    meta = {"study": "muon-noise-adaptive", "arm": arm, "seed": seed, "config": vars(cfg),
            "entropy_rate": corpus.entropy_rate, "target_loss": target}
    with Monitor(model, every=cfg.every, optimizer=opt, log=run_dir, meta=meta, on_nonfinite="record") as mon:
        for step in range(cfg.steps):
            x, y = corpus.batch(cfg.batch_size, cfg.seq_len, split="train", generator=g)
            with mon.step(step):
                logits = model(x)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                loss.backward()
                mon.log(loss=loss)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if step % cfg.every == 0:
                _log_layers(mon.log_target, step, opt)
            sched.step()
            if (step + 1) % cfg.eval_every == 0 or step == cfg.steps - 1:
                val = lm_eval_loss(model, corpus, **evals)
                mon.log_scalars(step, val_loss=val)
                if val <= target and math.isnan(hit):
                    hit = float(step + 1)
    steps_to = hit if not math.isnan(hit) else float(cfg.steps + cfg.eval_every)
    return {"steps_to_target": steps_to, "reached": float(not math.isnan(hit)), "val_loss": val,
            "train_loss": loss.item(), "target_loss": target, "entropy_rate": corpus.entropy_rate,
            **_noise_spread(run_dir, opt)}


def _noise_spread(run_dir: Path, opt: torch.optim.Optimizer) -> dict[str, float]:
    """Max/min over hidden matrices of the late-training dual-norm noise and learning rate."""
    if not isinstance(opt, NoiseAdaptiveMuon):
        return {"noise_spread": float("nan"), "lr_spread": float("nan")}
    hidden = [n for g in opt.param_groups if g["lmo"] == "spectral" for n in g["names"]]
    table = RunLog.read(run_dir)
    out = {}
    for key, metric in (("noise_spread", "layer_noise"), ("lr_spread", "layer_lr")):
        values = [v for n, v in layer_profile(table, metric, layers=hidden).items() if v > 0]
        out[key] = max(values) / min(values) if values else float("nan")
    return out


def summarize(cfg: MuonNoiseAdaptiveConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of the final loss and the spreads; how many runs reached the target."""
    out: dict = {"target_loss": results["muon"][0]["target_loss"],
                 "entropy_rate": results["muon"][0]["entropy_rate"]}
    for key in ("val_loss", "noise_spread", "lr_spread"):
        out[key] = {arm: _mean([r[key] for r in rows]) for arm, rows in results.items()}
    out["reached"] = {arm: f"{int(sum(r['reached'] for r in rows))}/{len(rows)}"
                      for arm, rows in results.items()}
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


RECIPE = study(Recipe(
    name="muon-noise-adaptive",
    paper="Noise-adaptive layerwise learning rates (LANTON; Hao, Gong, Xu, Wang & Liu, 2025)",
    arxiv="2510.14009",
    claim="Scaling each layer's Muon/Signum learning rate by its dual-norm gradient noise (noisier "
          "layers slower) reaches a target loss in fewer steps than one rate per group (the paper: "
          "~1.5x sample efficiency over D-Muon); we test steps to a loss near the Markov entropy rate "
          "with a 4-layer GPT, where the speed-up may be within noise",
    metric="steps_to_target",
    better="lower",
    arms=ARMS,
    treatment="lanton",
    config=MuonNoiseAdaptiveConfig,
    run=run,
    summarize=summarize,
    smoke=dict(n_layer=2, d_model=64, n_head=2, seq_len=32, batch_size=16, steps=200, vocab_size=64,
               order=1, n_tokens=50_000, eval_every=20, eval_batches=2),
    full={},
    seeds=3,
    smoke_seeds=1,
))
