"""Shared training loops and evaluations of the studies (language models, classifiers)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from layerwise.studies._trial import Trial


def warmup_cosine(step: int, *, total: int, warmup: int, floor: float = 0.1) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def lm_eval_loss(model: nn.Module, corpus: Any, *, batches: int, batch_size: int, seq_len: int,
                 seed: int = 1234) -> float:
    """Mean next-token cross-entropy (nats) on ``batches`` fixed random windows of the val split."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(batches):
        x, y = corpus.batch(batch_size, seq_len, split="val", generator=g)
        logits = model(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
    model.train(was_training)
    return total / batches


def train_lm(model: nn.Module, corpus: Any, t: Trial, *, steps: int, batch_size: int, seq_len: int,
             lr: float, warmup: int, eval_every: int, eval_batches: int,
             metrics: str | list[str] = "economy", every: int = 1, weight_decay: float = 0.0,
             grad_clip: float | None = None,
             on_step: Callable[[int, float], None] | None = None) -> dict[str, float]:
    """AdamW language-model training with the trial's Monitor; returns final train and
    validation loss. A loss that turns non-finite stops training early (``diverged`` = 1,
    ``val_loss`` NaN: the study's rule scores it) instead of raising.
    """
    g = torch.Generator().manual_seed(t.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total=steps, warmup=warmup))
    evals = dict(batches=eval_batches, batch_size=batch_size, seq_len=seq_len)
    loss_value, val, diverged = float("nan"), float("nan"), 0.0
    with t.monitor(model, metrics=metrics, every=every, optimizer=opt) as mon:
        for step in range(steps):
            x, y = corpus.batch(batch_size, seq_len, split="train", generator=g)
            with mon.step(step):
                logits = model(x)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                loss.backward()
                mon.log(loss=loss, lr=opt.param_groups[0]["lr"])
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            if (step + 1) % 10 == 0 or step == steps - 1:  # a host sync every 10 steps, not every step
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    diverged, val = 1.0, float("nan")
                    break
            if on_step is not None:
                on_step(step, loss_value)
            if step % 10 == 0:
                t.progress(step + 1, steps)
            if (step + 1) % eval_every == 0 or step == steps - 1:
                val = lm_eval_loss(model, corpus, **evals)
                mon.log_scalars(step, val_loss=val)
    return {"train_loss": loss_value, "val_loss": val, "diverged": diverged}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of a classifier on the whole tensor, in eval mode (the
    model's mode is restored)."""
    was_training = model.training
    model.eval()
    logits = model(x)
    model.train(was_training)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Classification accuracy in eval mode (the model's mode is restored)."""
    return evaluate(model, x, y)[1]


def shuffled_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
                   batch_size: int, order: torch.Generator, mon: Any = None, step: int = 0,
                   after_step: Callable[[], Any] | None = None) -> int:
    """One pass over (x, y) in a random order drawn from ``order``, one cross-entropy update per
    batch (``mon.step`` around each when a Monitor is given, logging loss and learning rate;
    ``after_step`` e.g. a scheduler's step); returns the next step index."""
    for idx in torch.randperm(len(x), generator=order).split(batch_size):
        if mon is None:
            F.cross_entropy(model(x[idx]), y[idx]).backward()
        else:
            with mon.step(step):
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                mon.log(loss=loss, lr=opt.param_groups[0]["lr"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        if after_step is not None:
            after_step()
        step += 1
    return step


def unigram_entropy(corpus: Any, split: str = "val") -> float:
    """Entropy (nats) of the token frequencies of ``split``, scored with the train split's
    unigram model: the loss of a model that ignores context, which a learned LM must beat."""
    train = torch.bincount(corpus.tokens("train").long(), minlength=corpus.vocab_size).double() + 1.0
    p = train / train.sum()
    counts = torch.bincount(corpus.tokens(split).long(), minlength=corpus.vocab_size).double()
    return float(-(counts * p.log()).sum() / counts.sum())
