"""Study ``inflection-lora``: LoRA at the inflection band vs uniform LoRA, on over- and under-trained
source models (full fine-tuning as the reference that shows the target can be learned).

Attention Saturation and Gradient Suppression at Inflection Layers (Wang Zixian, 2025, arXiv
2511.00797): an over-trained ("OVER") source model has saturated outputs whose gradient starves
its lower layers; adapting only the inflection layers (low attention entropy, steep activation-
gradient decay) with LoRA beats uniform LoRA when the source model is over-trained, while for an
under-trained ("UNDER") source model the same placement hurts. The paper's claim is this sign
flip. Tiny reproduction (shared/papers/SPECS-B.md, paper 8; BERT/SST-2 are not offline): a 6-layer
GPT classifier (the first two output logits at the last position) on token windows of a random
Markov chain (``layerwise.data.markov_tokens``). Source task: does keyword set A occur more often
than set B? Target task: the keywords are renamed (``negation`` = 0: no label-flipping negation
token; with the spec's negation at a random position the target was unlearnable at this size,
every arm, full fine-tuning included, at 0.486-0.488 after 600 steps: shared/reviews/science.md).
The source model is pre-trained for ``under_steps`` (UNDER, about one epoch) and ``over_steps``
(OVER, about 30 epochs) of one run, shared by every arm of a seed; the band is detected on each
checkpoint with target data by :func:`layerwise.depth.inflection_layers`; the band's LoRA rank is
``rank * n_layer / band_width``, so both LoRA arms train the same number of parameters.

Rule: the OVER x UNDER interaction, paired by seed. Each arm fine-tunes both checkpoints and
returns ``over_minus_under`` = target accuracy from OVER minus from UNDER; the paired difference
inflection-lora - uniform-lora of that number, per seed, is
``(inflection - uniform | OVER) - (inflection - uniform | UNDER)``, which the paper predicts to be
positive (inflection helps from OVER, hurts from UNDER). ``min_effect`` 0.02: two points of
accuracy (20 of 1,000 test windows), the smallest flip we would call a placement effect.
Secondary: the two simple effects, inflection over uniform from OVER and uniform over inflection
from UNDER. Gate: full fine-tuning from OVER reaches target accuracy 0.7 (chance 0.5), else not
judged: a target that full fine-tuning cannot learn says nothing about where LoRA should sit.

Cost (1 thread, CPU time measured on the shared box from 50-step runs): pre-training 90 s per
seed (940 steps, shared by the arms), a 400-step fine-tune 31 s (uniform LoRA), 17 s (band LoRA)
or 27 s (full); 6 fine-tunes per seed (3 arms x OVER/UNDER) plus the probes: about 4.1 CPU-minutes
a seed, about 16 CPU-minutes for the registered 4 seeds (5 would take 20.5, over the 20-minute
budget of a full size).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from layerwise.data import markov_tokens
from layerwise.depth import activation_grad_norms, attention_entropy, inflection_layers
from layerwise.models import GPT
from layerwise.monitor import Monitor, RunLog
from layerwise.nn import inject_lora, lora_band
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

PLACEMENTS = ("uniform", "inflection", "full")


@dataclass(frozen=True)
class InflectionLoRAConfig:
    """Full size: 6 layers, d=64; UNDER = 1 epoch, OVER = 30 epochs of 2,000 source windows at
    batch 64; 400 fine-tuning steps on 2,000 target windows.

    ``placement``: "uniform" (LoRA in every block), "inflection" (LoRA in the detected band) or
    "full" (full fine-tuning); ``negation``: share of target windows with the label-flipping
    negation token (0: renamed keywords only)."""

    n_layer: int = 6
    d_model: int = 64
    n_head: int = 4
    seq_len: int = 32
    vocab: int = 40
    n_keywords: int = 3
    negation: float = 0.0
    n_source: int = 2000
    n_target: int = 2000
    n_test: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    under_steps: int = 31
    over_steps: int = 940
    ft_steps: int = 400
    ft_lr: float = 1e-3
    lora_lr: float = 3e-3
    rank: int = 2
    band_width: int = 2
    probe_size: int = 256
    every: int = 5
    placement: str = "uniform"


def _label(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """1 where keywords ``a`` occur more often than ``b``, 0 where fewer, -1 on ties."""
    na, nb = torch.isin(x, a).sum(1), torch.isin(x, b).sum(1)
    return torch.where(na > nb, 1, torch.where(na < nb, 0, -1))


def _task(cfg: InflectionLoRAConfig, n: int, split: str, target: bool, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` balanced (x, y) windows; the target renames the keywords (and adds the negation token
    to a ``negation`` share of the windows, flipping their label)."""
    chain = markov_tokens(vocab_size=cfg.vocab, n_tokens=200_000, seed=0)
    gen = torch.Generator().manual_seed(seed)
    k = cfg.n_keywords
    a, b = (torch.arange(2 * k, 3 * k), torch.arange(3 * k, 4 * k)) if target else \
        (torch.arange(0, k), torch.arange(k, 2 * k))
    x, _ = chain.batch(4 * n, cfg.seq_len, split=split, generator=gen)
    y = _label(x, a, b)
    if target and cfg.negation > 0:
        neg = torch.rand(len(x), generator=gen) < cfg.negation
        pos = torch.randint(0, cfg.seq_len, (len(x),), generator=gen)
        x[neg, pos[neg]] = cfg.vocab  # the negation token is outside the chain's vocabulary
        y = torch.where((y >= 0) & neg, 1 - y, y)
    keep = [torch.nonzero(y == c).flatten()[: n // 2] for c in (0, 1)]
    idx = torch.cat(keep)[torch.randperm(2 * min(len(i) for i in keep), generator=gen)]
    return x[idx], y[idx]


def _class_logits(logits: Tensor) -> Tensor:
    """The first two logits at the last position: the only one a causal model lets see the whole
    window (a mean over positions left the target task unlearnable, even by full fine-tuning)."""
    return logits[:, -1, :2]


def _model(cfg: InflectionLoRAConfig) -> GPT:
    return GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
               vocab_size=cfg.vocab + 1, tie_weights=False)


def _train(model: GPT, data: tuple[Tensor, Tensor], steps: int, lr: float, cfg: InflectionLoRAConfig,
           generator: torch.Generator, mon: Monitor | None = None,
           snapshot_at: int | None = None) -> dict | None:
    """AdamW on the trainable parameters (gradient norm clipped at 1), optionally recorded by
    ``mon``. Returns a copy of the weights after ``snapshot_at`` steps, if asked."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    if mon is not None:
        mon.watch_optimizer(opt)
    x, y = data
    snapshot = None
    for i in range(steps):
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=generator)
        if mon is None:
            F.cross_entropy(_class_logits(model(x[idx])), y[idx]).backward()
        else:
            with mon.step(i):
                loss = F.cross_entropy(_class_logits(model(x[idx])), y[idx])
                loss.backward()
                mon.log(loss=loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i + 1 == snapshot_at:
            snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    return snapshot


@torch.no_grad()
def _evaluate(model: GPT, data: tuple[Tensor, Tensor]) -> tuple[float, float]:
    """Accuracy and mean predictive entropy (nats) of the class head."""
    model.eval()
    logp = F.log_softmax(_class_logits(model(data[0])), dim=-1)
    model.train()
    return float((logp.argmax(-1) == data[1]).float().mean()), float(-(logp.exp() * logp).sum(-1).mean())


@functools.lru_cache(maxsize=2)
def _pretrain(cfg: InflectionLoRAConfig, seed: int) -> dict:
    """UNDER and OVER checkpoints of one source run, shared by every arm of a seed (``cfg`` with
    the arm's placement reset, so all arms hit the cache). Its own random stream: the arms' draws
    after it do not depend on whether the cache was hit."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _model(cfg)
        source = _task(cfg, cfg.n_source, "train", False, seed)
        test = _task(cfg, cfg.n_test, "val", False, 10_000 + seed)
        gen = torch.Generator().manual_seed(seed)
        under = _train(model, source, cfg.over_steps, cfg.lr, cfg, gen, snapshot_at=cfg.under_steps)
        out = {"over": ({k: v.clone() for k, v in model.state_dict().items()}, _evaluate(model, test))}
        model.load_state_dict(under)
        out["under"] = (under, _evaluate(model, test))
    return out


def _diagnose(model: GPT, probe: tuple[Tensor, Tensor], width: int) -> dict:
    """Attention entropy, activation-gradient norms on the target task and the inflection band."""
    entropy = attention_entropy(model, probe[0])
    grads = activation_grad_norms(model, probe[0],
                                  loss_fn=lambda logits: F.cross_entropy(_class_logits(logits), probe[1]))
    found = inflection_layers(entropy, grads, width=width)
    return {"entropy": entropy.mean(1), "grads": grads, "score": found.score, "band": found.layers}


def _adapt(model: GPT, cfg: InflectionLoRAConfig, band: list[int]) -> float:
    """Apply the arm's fine-tuning edit (``cfg.placement``); return the learning rate to use."""
    if cfg.placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {cfg.placement!r}")
    if cfg.placement == "full":
        return cfg.ft_lr
    if cfg.placement == "uniform":
        inject_lora(model, layers="blocks.*", r=cfg.rank, alpha=2.0 * cfg.rank)
    else:
        r = cfg.rank * cfg.n_layer // len(band)
        inject_lora(model, layers=lora_band([f"blocks.{i}" for i in band]), r=r, alpha=2.0 * r)
    return cfg.lora_lr


def _log_diagnostics(log: RunLog, model: GPT, diag: dict, step: int, acc: float, prefix: str) -> None:
    """Target accuracy and the source checkpoint's per-block diagnostics (``prefix``: "under_" for
    the UNDER checkpoint)."""
    log.log_scalars(step, **{f"{prefix}target_acc": acc})
    for i, _ in enumerate(model.blocks):
        name = f"blocks.{i}"
        log.log(0, name, f"{prefix}src_attn_entropy", float(diag["entropy"][i]))
        log.log(0, name, f"{prefix}src_act_grad", float(diag["grads"][i]))
        log.log(0, name, f"{prefix}inflection_score", float(diag["score"][i]))
        log.log(0, name, f"{prefix}in_band", float(i in diag["band"]))


class InflectionLoRA(Study):
    """LoRA placement (inflection band vs every block) from OVER and UNDER source models."""

    name = "inflection-lora"
    paper = "Attention Saturation and Gradient Suppression at Inflection Layers (Wang, 2025)"
    arxiv = "2511.00797"
    claim = ("LoRA placed only at the inflection band (low attention entropy, steep activation-gradient "
             "decay) gains over uniform LoRA of the same parameter budget when the source model is "
             "over-trained and loses when it is under-trained; tested as the OVER x UNDER interaction "
             "of target accuracy on a 6-layer GPT classifier moved to a keyword task with renamed "
             "keywords, paired by seed")
    Config = InflectionLoRAConfig
    arms = {"uniform-lora": {}, "inflection-lora": {"placement": "inflection"},
            "full-ft": {"placement": "full"}}
    rule = Superiority("over_minus_under", "higher", treatment="inflection-lora", baseline="uniform-lora",
                       min_effect=0.02)
    also = (Superiority("target_acc", "higher", treatment="inflection-lora", baseline="uniform-lora"),
            Superiority("under_target_acc", "higher", treatment="uniform-lora", baseline="inflection-lora"))
    gates = (Gate("target_acc", above=0.7, arms=("full-ft",)),)
    seeds = {"tiny": 1, "smoke": 1, "full": 4}
    cost_note = ("4 seeds: a seed costs about 4.1 CPU-minutes (90 s of pre-training and six 400-step "
                 "fine-tunes), so 5 seeds would take 20.5 CPU-minutes, over the 20-minute budget")
    sizes = {
        "tiny": dict(n_layer=4, d_model=16, n_head=2, seq_len=16, n_source=128, n_target=64, n_test=64,
                     batch_size=16, under_steps=2, over_steps=6, ft_steps=3, probe_size=32, every=1),
        "smoke": dict(d_model=32, n_source=1000, n_target=500, n_test=400, under_steps=16, over_steps=200,
                      ft_steps=60, probe_size=128),
    }

    def trial(self, cfg: InflectionLoRAConfig, t: Trial) -> dict[str, float]:
        source_cfg = dataclasses.replace(cfg, placement=InflectionLoRAConfig.placement)
        checkpoints = _pretrain(source_cfg, t.seed)
        with t.runlog() as log:
            over = self._finetune(cfg, t, checkpoints["over"], log, "", offset=1)
            under = self._finetune(cfg, t, checkpoints["under"], log, "under_", offset=2)
        return {**over, **under, "over_minus_under": over["target_acc"] - under["under_target_acc"]}

    def _finetune(self, cfg: InflectionLoRAConfig, t: Trial, checkpoint: tuple, log: RunLog, prefix: str,
                  offset: int) -> dict[str, float]:
        """Fine-tune one source checkpoint on the target task with the arm's placement; the OVER
        fine-tune (``prefix`` "") is recorded layer by layer by a Monitor on the trial's RunLog."""
        state, (src_acc, src_entropy) = checkpoint
        model = _model(cfg)
        model.load_state_dict(state)
        target = _task(cfg, cfg.n_target, "train", True, 20_000 + t.seed)
        test = _task(cfg, cfg.n_test, "val", True, 30_000 + t.seed)
        diag = _diagnose(model, (target[0][: cfg.probe_size], target[1][: cfg.probe_size]), cfg.band_width)
        lr = _adapt(model, cfg, diag["band"])
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if prefix:
            _train(model, target, cfg.ft_steps, lr, cfg, t.generator(offset))
        else:
            with t.monitor(model, log=log, every=cfg.every) as mon:
                _train(model, target, cfg.ft_steps, lr, cfg, t.generator(offset), mon)
        acc, _ = _evaluate(model, test)
        _log_diagnostics(log, model, diag, cfg.ft_steps, acc, prefix)
        decay = float(np.log(diag["grads"][-1] / diag["grads"][0]))
        out = {"target_acc": acc, "src_acc": src_acc, "src_entropy": src_entropy,
               "band_start": float(diag["band"][0]), "attn_entropy": float(diag["entropy"].mean()),
               "grad_decay": decay, "trainable": float(n_train)}
        return {prefix + k: v for k, v in out.items()}
