"""Study ``inflection-lora``: LoRA at the inflection band vs uniform LoRA vs full fine-tuning.

Attention Saturation and Gradient Suppression at Inflection Layers (Wang Zixian, 2025, arXiv
2511.00797): an over-trained ("OVER") source model has saturated outputs whose gradient starves
its lower layers; adapting only the inflection layers (low attention entropy, steep activation-
gradient decay) with LoRA beats uniform LoRA and full fine-tuning on a shifted target task, while
for an under-trained ("UNDER") source model the same placement hurts. Tiny reproduction
(shared/papers/SPECS-B.md, paper 8; BERT/SST-2 are not offline): a 6-layer GPT classifier (the first
two output logits at the last position) on token windows of a random Markov chain
(``layerwise.data.markov_tokens``). Source task: does keyword set A occur more often than set B?
Target task: the keywords are renamed and an inserted negation token flips the label. The source
model is pre-trained for ``under_steps`` (UNDER, about one epoch) and ``over_steps`` (OVER, about
30 epochs) of one run; the band is detected on each checkpoint with target data by
:func:`layerwise.depth.inflection_layers`; the band's LoRA rank is ``rank * n_layer / band_width``
so both LoRA arms train the same number of parameters. Metric: OVER target accuracy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from layerwise.data import markov_tokens
from layerwise.depth import activation_grad_norms, attention_entropy, inflection_layers
from layerwise.models import GPT
from layerwise.monitor import Monitor, RunLog
from layerwise.nn import inject_lora, lora_band
from layerwise.studies.recipe import Recipe, study

ARMS = ("uniform-lora", "inflection-lora", "full-ft")


@dataclass(frozen=True)
class InflectionLoRAConfig:
    """Sizes of the SPECS-B paper-8 design (6 layers; UNDER = 1 epoch, OVER = 30 epochs of 2,000
    source sequences at batch 64; ~1 minute of pre-training per seed on 2 CPU cores)."""

    n_layer: int = 6
    d_model: int = 64
    n_head: int = 4
    seq_len: int = 32
    vocab: int = 40
    n_keywords: int = 3
    negation: float = 0.5  # share of target windows with the label-flipping negation token
    n_source: int = 2000
    n_target: int = 500
    n_test: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    under_steps: int = 31
    over_steps: int = 940
    ft_steps: int = 200
    ft_lr: float = 1e-3
    lora_lr: float = 3e-3
    rank: int = 2
    band_width: int = 2
    probe_size: int = 256
    every: int = 5


def _label(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """1 where keywords ``a`` occur more often than ``b``, 0 where fewer, -1 on ties."""
    na, nb = torch.isin(x, a).sum(1), torch.isin(x, b).sum(1)
    return torch.where(na > nb, 1, torch.where(na < nb, 0, -1))


def _task(cfg: InflectionLoRAConfig, n: int, split: str, target: bool, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` balanced (x, y) windows; the target renames the keywords and adds the negation token."""
    chain = markov_tokens(vocab_size=cfg.vocab, n_tokens=200_000, seed=0)
    gen = torch.Generator().manual_seed(seed)
    k = cfg.n_keywords
    a, b = (torch.arange(2 * k, 3 * k), torch.arange(3 * k, 4 * k)) if target else \
        (torch.arange(0, k), torch.arange(k, 2 * k))
    x, _ = chain.batch(4 * n, cfg.seq_len, split=split, generator=gen)
    y = _label(x, a, b)
    if target:
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
           seed: int, log_dir: Path | None = None, meta: dict | None = None,
           snapshot_at: int | None = None) -> dict | None:
    """AdamW on the trainable parameters (gradient norm clipped at 1); with ``log_dir`` a Monitor
    records every layer. Returns a copy of the weights after ``snapshot_at`` steps, if asked."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    x, y = data
    mon = Monitor(model, optimizer=opt, log=log_dir, every=cfg.every, meta=meta) if log_dir else None
    snapshot = None
    try:
        for i in range(steps):
            idx = torch.randint(0, len(x), (cfg.batch_size,), generator=gen)
            with mon.step(i) if mon is not None else contextlib.nullcontext():
                loss = F.cross_entropy(_class_logits(model(x[idx])), y[idx])
                loss.backward()
                if mon is not None:
                    mon.log(loss=loss)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i + 1 == snapshot_at:
                snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    finally:
        if mon is not None:
            mon.close()
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
    """UNDER and OVER checkpoints of one source run, shared by every arm of a seed."""
    torch.manual_seed(seed)
    model = _model(cfg)
    source = _task(cfg, cfg.n_source, "train", False, seed)
    test = _task(cfg, cfg.n_test, "val", False, 10_000 + seed)
    under = _train(model, source, cfg.over_steps, cfg.lr, cfg, seed, snapshot_at=cfg.under_steps)
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


def _adapt(model: GPT, cfg: InflectionLoRAConfig, arm: str, band: list[int]) -> float:
    """Apply the arm's fine-tuning edit; return the learning rate to use."""
    if arm == "full-ft":
        return cfg.ft_lr
    if arm == "uniform-lora":
        inject_lora(model, layers="blocks.*", r=cfg.rank, alpha=2.0 * cfg.rank)
    else:
        r = cfg.rank * cfg.n_layer // len(band)
        inject_lora(model, layers=lora_band([f"blocks.{i}" for i in band]), r=r, alpha=2.0 * r)
    return cfg.lora_lr


def _finetune(cfg: InflectionLoRAConfig, arm: str, seed: int, which: str, log_dir: Path) -> dict:
    state, (src_acc, src_entropy) = _pretrain(cfg, seed)[which]
    model = _model(cfg)
    model.load_state_dict(state)
    target = _task(cfg, cfg.n_target, "train", True, 20_000 + seed)
    test = _task(cfg, cfg.n_test, "val", True, 30_000 + seed)
    diag = _diagnose(model, (target[0][: cfg.probe_size], target[1][: cfg.probe_size]), cfg.band_width)
    lr = _adapt(model, cfg, arm, diag["band"])
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    meta = {"study": "inflection-lora", "arm": arm, "seed": seed, "source": which,
            "band": diag["band"], "config": dataclasses.asdict(cfg)}
    _train(model, target, cfg.ft_steps, lr, cfg, 40_000 + seed, log_dir, meta)
    acc, _ = _evaluate(model, test)
    _log_diagnostics(log_dir, model, diag, cfg.ft_steps, acc)
    decay = float(np.log(diag["grads"][-1] / diag["grads"][0]))
    return {"target_acc": acc, "src_acc": src_acc, "src_entropy": src_entropy, "band_start": diag["band"][0],
            "attn_entropy": float(diag["entropy"].mean()), "grad_decay": decay, "trainable": n_train}


def _log_diagnostics(log_dir: Path, model: GPT, diag: dict, step: int, acc: float) -> None:
    with RunLog(log_dir) as log:
        log.log_scalars(step, target_acc=acc)
        for i, _ in enumerate(model.blocks):
            name = f"blocks.{i}"
            log.log(0, name, "src_attn_entropy", float(diag["entropy"][i]))
            log.log(0, name, "src_act_grad", float(diag["grads"][i]))
            log.log(0, name, "inflection_score", float(diag["score"][i]))
            log.log(0, name, "in_band", float(i in diag["band"]))


def run(cfg: InflectionLoRAConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Fine-tune the OVER checkpoint (logged to ``run_dir``) and the UNDER one (``run_dir/under``)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; use one of {ARMS}")
    torch.set_num_threads(1)
    over = _finetune(cfg, arm, seed, "over", run_dir)
    under = _finetune(cfg, arm, seed, "under", run_dir / "under")
    return {**over, **{f"under_{k}": v for k, v in under.items()}}


def summarize(cfg: InflectionLoRAConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means, and the paper's two predictions as signed differences (OVER and UNDER)."""
    keys = list(results[ARMS[0]][0])
    out = {k: {arm: float(np.mean([r[k] for r in rows])) for arm, rows in results.items()} for k in keys}
    for prefix, label in (("", "over"), ("under_", "under")):
        diffs = [t[f"{prefix}target_acc"] - b[f"{prefix}target_acc"]
                 for t, b in zip(results["inflection-lora"], results["uniform-lora"], strict=False)]
        out[f"{label}_inflection_minus_uniform"] = {"mean": float(np.mean(diffs)), "values": diffs}
    out["paper_predicts"] = "over_inflection_minus_uniform > 0 and under_inflection_minus_uniform < 0"
    return out


RECIPE = study(Recipe(
    name="inflection-lora",
    paper="Attention Saturation and Gradient Suppression at Inflection Layers (Wang, 2025)",
    arxiv="2511.00797",
    claim="LoRA placed only at the inflection band (low attention entropy, steep activation-gradient "
          "decay) beats uniform LoRA of the same parameter budget when the source model is over-trained "
          "(and hurts when it is under-trained); we test the OVER case on a 6-layer GPT classifier moved "
          "to a shifted keyword task with negation, and report UNDER and full fine-tuning in the details",
    metric="target_acc",
    better="higher",
    arms=ARMS,
    treatment="inflection-lora",
    config=InflectionLoRAConfig,
    run=run,
    summarize=summarize,
    smoke=dict(d_model=32, n_source=1000, n_target=300, n_test=400, under_steps=16, over_steps=200,
               ft_steps=60, probe_size=128),
    full={},
    seeds=3,
    smoke_seeds=1,
))
