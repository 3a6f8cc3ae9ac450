"""Study ``peri-ln``: Peri-LN against Pre-LN (Post-LN as a reference) at a high learning rate.

Peri-LN: Revisiting Layer Normalization in the Transformer Architecture (Kim et al., ICML 2025,
arXiv 2502.02732). Peri-LN normalises the input *and* the output of every sublayer,
``x + Norm_out(F(Norm_in(x)))``. The paper claims that this keeps the residual stream's variance
growing about linearly with depth (Pre-LN: much faster, with massive activations) and trains more
stably: fewer loss and gradient spikes, no divergences, and a lower loss (at 400M parameters its
C4 loss is 0.09 nats below Pre-LN's).

Reproduction (shared/papers/SPECS-B.md, paper 11): a 12-layer RMSNorm GPT (d=64, 4 heads,
context 64, batch 32) on an order-1 Markov chain over 64 tokens (loss floor 3.45 nats, unigram
entropy 4.15, ln 64 = 4.16), 400 AdamW steps at lr 1e-2, the top of the spec's grid
{1e-3, 3e-3, 1e-2} (the other points are ``lr=...`` overrides, not judged here). Arms share a
seed's initialisation and batches (paired):

- ``pre``: ``x + F(Norm(x))``, the baseline;
- ``peri``: Peri-LN, with a parameter-free RMS norm on the embedding output (``embed_norm``).
  Peri-LN blocks add unit-RMS outputs to the residual stream, so 0.02-std embeddings are swamped
  and the token identity is lost: without the embedding norm the arm stayed at the unigram loss
  (val 4.10 against Pre-LN's 3.51, shared/reviews/science.md), with it it reached 3.51. The
  stacks the paper generalises (Gemma 2, OLMo 2) scale or normalise the embeddings; whether the
  paper's own models normalise the embedding output we could not confirm (SPECS-B says so);
- ``post``: ``Norm(x + F(x))``, a reference arm (the paper's vanishing-gradient case), not judged.

Rule: the final validation loss of ``peri`` is lower than ``pre``'s by at least 0.02 nats (paired
t over 5 seeds), a diverged run scored as ln 64 (a uniform predictor), so that instability counts
against its arm: at a high learning rate a run that spikes late or diverges ends with a higher
loss. 0.02 nats is about 3% of the 0.70 nats a model can gain over the unigram entropy here, a
quarter of the paper's 400M gap (the spec expects the gap itself to be small). Also judged,
not deciding: fewer loss spikes (steps whose loss exceeds 1.5x the median of the previous 50) and
a smaller residual-RMS growth from the first block to the last. Gates: the best arm ends at least
0.2 nats below the unigram entropy, and ``pre`` and ``peri`` each reached that at some
evaluation (``best_val_loss``: an arm that learned and then diverged passes, one that never used
the context does not). The full size costs about 18 CPU-minutes: 15 runs of about 70 s at one
thread (one 400-step ``peri`` run, seed 0, took 70 CPU-s and ended at val 3.516, 0 spikes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerwise.data import markov_tokens
from layerwise.models import GPT
from layerwise.monitor import RunLog
from layerwise.monitor.summary import depth_ratio, scalar_series
from layerwise.studies._loops import train_lm, unigram_entropy
from layerwise.studies._profiles import last_over_first, per_layer
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Profile, Study
from layerwise.studies._trial import Trial

METRICS = ["act_rms", "act_max", "grad_norm"]  # residual scale, massive activations, gradient flow


@dataclass(frozen=True)
class PeriLNConfig:
    """Full size: 12 layers, d=64, RMSNorm, context 64, batch 32, 400 AdamW steps at lr 1e-2."""

    n_layer: int = 12
    d_model: int = 64
    n_head: int = 4
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 400
    lr: float = 1e-2
    warmup: int = 50
    vocab_size: int = 64
    n_tokens: int = 200_000
    eval_every: int = 100
    eval_batches: int = 16
    spike_window: int = 50
    spike_factor: float = 1.5
    placement: str = "pre"
    embed_norm: bool = False


def count_spikes(loss: np.ndarray, *, window: int, factor: float) -> int:
    """Steps whose loss exceeds ``factor`` x the median of the previous ``window`` losses.

    Non-finite losses count as spikes; the first ``window`` steps (no history yet) are skipped.
    """
    spikes = 0
    for t in range(window, len(loss)):
        history = loss[t - window:t]
        history = history[np.isfinite(history)]
        if not np.isfinite(loss[t]) or (history.size and loss[t] > factor * np.median(history)):
            spikes += 1
    return spikes


def last_layer(profile: dict[str, float]) -> float:
    """The value at the deepest layer."""
    return float(list(profile.values())[-1])


class PeriLN(Study):
    """Peri-LN vs Pre-LN at lr 1e-2: final validation loss (divergence = ln V), spikes, RMS."""

    name = "peri-ln"
    paper = "Peri-LN: Revisiting Layer Normalization in the Transformer Architecture (Kim et al., 2025)"
    arxiv = "2502.02732"
    claim = ("At a high learning rate (1e-2), Peri-LN (a norm on each sublayer's input and output, "
             "and on the embeddings) trains a 12-layer RMSNorm GPT more stably than Pre-LN: a lower "
             "final validation loss (a divergence scores ln V), fewer loss spikes and a residual RMS "
             "that grows less with depth")
    Config = PeriLNConfig
    arms = {"pre": {"placement": "pre"},
            "post": {"placement": "post"},
            "peri": {"placement": "peri", "embed_norm": True}}
    rule = Superiority("val_loss", "lower", treatment="peri", baseline="pre", min_effect=0.02,
                       worst="uniform_loss")
    also = (Superiority("spikes", "lower", treatment="peri", baseline="pre"),
            Superiority("rms_growth", "lower", treatment="peri", baseline="pre"))
    gates = (Gate("val_loss", below="unigram_entropy", margin=0.2, arms=("pre", "post", "peri"),
                  which="any"),
             Gate("best_val_loss", below="unigram_entropy", margin=0.2, arms=("pre", "peri")))
    profiles = {"rms_growth": Profile("act_rms", last_over_first),
                "rms_profile": Profile("act_rms", per_layer),
                "act_max_last": Profile("act_max", last_layer),
                "deep_shallow_grad": Profile("grad_norm", depth_ratio)}
    sizes = {
        "tiny": dict(n_layer=3, d_model=16, n_head=2, seq_len=16, batch_size=4, steps=12, warmup=2,
                     eval_every=6, eval_batches=1, n_tokens=4000, vocab_size=16, spike_window=4),
        "smoke": dict(d_model=32, n_head=2, seq_len=32, batch_size=16, steps=150, warmup=15,
                      eval_every=50, eval_batches=4, n_tokens=30_000, spike_window=20),
    }

    def trial(self, cfg: PeriLNConfig, t: Trial) -> dict[str, float]:
        corpus = markov_tokens(vocab_size=cfg.vocab_size, n_tokens=cfg.n_tokens, order=1, seed=0)
        model = GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                    vocab_size=cfg.vocab_size, norm="rms", placement=cfg.placement,
                    embed_norm=cfg.embed_norm)
        result = train_lm(model, corpus, t, steps=cfg.steps, batch_size=cfg.batch_size,
                          seq_len=cfg.seq_len, lr=cfg.lr, warmup=cfg.warmup, metrics=METRICS, every=1,
                          eval_every=cfg.eval_every, eval_batches=cfg.eval_batches)
        table = RunLog.read(t.run_dir)
        _, loss = scalar_series(table, "loss")
        _, val = scalar_series(table, "val_loss")
        finite_val = val[np.isfinite(val)]
        return {**result,
                "best_val_loss": float(finite_val.min()) if finite_val.size else math.nan,
                "spikes": float(count_spikes(loss, window=cfg.spike_window, factor=cfg.spike_factor)),
                "unigram_entropy": unigram_entropy(corpus),
                "entropy_rate": corpus.entropy_rate,
                "uniform_loss": math.log(cfg.vocab_size)}

    def sections(self, cfg: PeriLNConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
        """The residual RMS against depth, one line per placement (mean over seeds)."""
        from matplotlib.figure import Figure

        from layerwise.report import Section

        fig = Figure(figsize=(5, 3.2))
        ax = fig.add_subplot()
        for arm, rows in results.items():
            profile = np.nanmean([r["rms_profile"] for r in rows], axis=0)
            ax.plot(range(1, len(profile) + 1), profile, marker="o", label=arm)
        ax.set(xlabel="block", ylabel="residual RMS (act_rms)", yscale="log",
               title="Residual scale vs depth")
        ax.legend()
        return [Section("Residual RMS profile", figures=(fig,),
                        text="Mean over seeds of each block's output RMS over the last 20% of steps. "
                             "Pre-LN is expected to grow fastest with depth, Peri-LN about linearly.")]
