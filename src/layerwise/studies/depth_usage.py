"""Study ``depth-usage``: does the second half of a 12-layer Pre-LN GPT add less to its residual
stream than the first half?

Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025, arXiv
2505.13898) found that in Llama 3.1 and Qwen 3 the second-half layers add much less to the residual
stream than the first-half ones and that skipping them barely changes the computation of later
layers. Tiny reproduction (shared/papers/SPECS-A.md, papers 12 and 15): the byte-level 12-layer
GPT of the curse-of-depth study, trained on the standard-library sources; after training, on
``probe_seqs`` fixed validation windows, :func:`~layerwise.depth.usage.depth_usage` (relative
contribution ``||x_{l+1} - x_l|| / ||x_l||`` per block), :func:`~layerwise.depth.skip.skip_matrix`
and :func:`~layerwise.depth.skip.removal_delta_loss`.

The claim is descriptive, so it is judged inside the Pre-LN arm, one value per seed:
``log_second_first = log(mean contribution of blocks 6..11 / mean of blocks 1..5)`` must be below
0 by at least ln(1.25) (the second half at most 0.8 of the first: "much less"; the paper's large
models show a factor of two or more, and a 10% dip would be "less", not "much less"). Block 0 is
left out: its contribution is relative to the 0.02-std embedding, so it is an order of magnitude
above every other block and alone decides a mean that includes it (``second_first_ratio_all``,
with block 0, is reported beside it). The skip claim is a secondary rule:
``skip_future_log_ratio = log(mean future effect of skipping a block in 6..10 / of skipping one in
1..5)`` (each skipped block's effect averaged over the later blocks, then over the half) below 0.
It replaces the share of the whole skip matrix held by first-half rows, whose null is not 0.5: a
first-half row has more later blocks, so equal effects everywhere give 51/66 = 0.77.

LayerNorm Scaling (The Curse of Depth in Large Language Models, Sun et al., 2025, arXiv
2502.05795) is a second arm, compared with Pre-LN only through scale-free quantities (secondary
rules): the loss increase when a second-half block is removed (``removal_second_half``, nats) and
``skip_future_log_ratio``. Relative norms cannot compare the arms: LNS scales each branch input by
1/sqrt(l), so its deep blocks' ``||dx|| / ||x||`` shrinks by construction. ``linear_map=True``
also trains a 6-layer model of the arm and maps its layers onto the 12-layer one (argmax R^2
column per row against ``2i``); it is off at the registered size for cost.

Cost of the registered full size (d=64, context 64, batch 32, 500 steps; 2 arms x 5 seeds): one
Pre-LN run of 250 steps with every measurement took 43.5 CPU-s at 1 thread (40 steps alone 8.1 s;
the measurements 2.2 s), so about 1.5 CPU-minutes a run, about 15-18 CPU-minutes in all. That
run reached a validation loss of 2.53 nats against the gate's 3.14 - 0.2 (unigram entropy).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from layerwise.analysis import linear_map_r2
from layerwise.data import text_corpus
from layerwise.depth._trace import trace
from layerwise.depth.adapters import adapt
from layerwise.depth.sections import depth_profile_section
from layerwise.depth.skip import removal_delta_loss, skip_matrix
from layerwise.depth.usage import METRICS, DepthUsage, depth_usage
from layerwise.models import GPT
from layerwise.studies._loops import train_lm, unigram_entropy
from layerwise.studies._rules import Descriptive, Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

MUCH_LESS = math.log(1.25)  # log-ratio of "much less": the second half at most 0.8 of the first


@dataclass(frozen=True)
class DepthUsageConfig:
    """Full size: 12 layers, d=64, context 64, batch 32, 500 AdamW steps on stdlib bytes."""

    n_layer: int = 12
    d_model: int = 64
    n_head: int = 4
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 500
    lr: float = 1e-3
    warmup: int = 50
    corpus: str = "stdlib"
    max_bytes: int | None = 3_000_000
    eval_every: int = 250
    eval_batches: int = 10
    every: int = 10
    layernorm_scaling: bool = False
    probe_seqs: int = 50
    linear_map: bool = False
    shallow_layers: int = 6
    map_tokens: int = 2000


def _gpt(cfg: DepthUsageConfig, n_layer: int) -> GPT:
    return GPT(n_layer=n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
               vocab_size=256, placement="pre", layernorm_scaling=cfg.layernorm_scaling)


def _log_ratio(later: np.ndarray, earlier: np.ndarray) -> float:
    """log(mean(later) / mean(earlier)), NaN when either mean is not positive."""
    a, b = float(np.nanmean(later)), float(np.nanmean(earlier))
    return math.log(a / b) if a > 0 and b > 0 else math.nan


def depth_measures(usage: DepthUsage, future: np.ndarray, removal: np.ndarray) -> dict[str, float]:
    """The halves compared without block 0: blocks 1..L/2-1 against L/2..L-1 (``future`` is the
    skip matrix, NaN where a block cannot affect another)."""
    n = len(usage.names)
    first, second = slice(1, n // 2), slice(n // 2, n)
    row_means = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in future])
    return {
        "log_second_first": _log_ratio(usage.block_contrib[second], usage.block_contrib[first]),
        "log_second_first_attn": _log_ratio(usage.attn_contrib[second], usage.attn_contrib[first]),
        "log_second_first_mlp": _log_ratio(usage.mlp_contrib[second], usage.mlp_contrib[first]),
        "second_first_ratio_all": usage.second_first_ratio(),
        "block0_contrib": float(usage.block_contrib[0]),
        "skip_future_log_ratio": _log_ratio(row_means[second], row_means[first]),
        "removal_first_half": float(np.mean(removal[first])),
        "removal_second_half": float(np.mean(removal[second])),
        "removal_block0": float(removal[0]),
    }


def _log_depth(t: Trial, step: int, usage: DepthUsage, removal: np.ndarray, skip_out: np.ndarray) -> None:
    """The depth measurements as rows of their own run folder, ``RUN/depth`` (the training log in
    ``RUN`` is closed)."""
    with t.runlog("depth") as log:
        for layer, metric, value in usage.rows():
            log.log(step, layer, metric, value)
        for i, layer in enumerate(usage.names):
            log.log(step, layer, "removal_delta_loss", float(removal[i]))
            log.log(step, layer, "skip_output_effect", float(skip_out[i]))


def _stream(model: GPT, x: torch.Tensor, keep: torch.Tensor) -> list[torch.Tensor]:
    """Residual stream after each block, flattened to (tokens, d) and subsampled."""
    return [h.reshape(-1, h.shape[-1])[keep] for h in trace(adapt(model), x).outputs]


def _map_diagonal(cfg: DepthUsageConfig, t: Trial, deep: GPT, corpus, x: torch.Tensor) -> dict[str, float]:
    """Train a ``shallow_layers`` model of the same arm; the argmax deep layer of each shallow layer's
    R^2 row: mean error against the same relative depth, and whether it is monotone."""
    shallow = _gpt(cfg, cfg.shallow_layers)
    train_lm(shallow, corpus, dataclasses.replace(t, run_dir=t.run_dir / "shallow"), steps=cfg.steps,
             batch_size=cfg.batch_size, seq_len=cfg.seq_len, lr=cfg.lr, warmup=cfg.warmup,
             every=cfg.every, eval_every=cfg.eval_every, eval_batches=cfg.eval_batches)
    shallow.eval()
    keep = torch.randperm(x.numel(), generator=t.generator(1))[:cfg.map_tokens]
    with torch.no_grad():
        r2 = linear_map_r2(_stream(shallow, x, keep), _stream(deep, x, keep), seed=t.seed)
    best = r2.argmax(axis=1) + 1
    rel_err = np.abs(best / cfg.n_layer - np.arange(1, len(best) + 1) / cfg.shallow_layers)
    return {"map_rel_depth_err": float(rel_err.mean()), "map_monotone": float(np.all(np.diff(best) >= 0))}


class DepthUsageStudy(Study):
    """Second half against first half (block 0 left out) in a trained 12-layer Pre-LN GPT."""

    name = "depth-usage"
    paper = "Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)"
    arxiv = "2505.13898"
    claim = ("In a trained 12-layer Pre-LN byte GPT the second-half blocks (6..11) add much less to the "
             "residual stream than the first-half ones (1..5; block 0, measured against the raw "
             "embedding, left out): log(second / first mean relative contribution ||dx||/||x||) < "
             "-ln 1.25, one-sample over seeds; secondary: skipping a second-half block changes later "
             "blocks less than skipping a first-half one, and LayerNorm Scaling against Pre-LN on "
             "scale-free measures (removal delta-loss of the second half, the skip log-ratio)")
    Config = DepthUsageConfig
    arms = {"pre-ln": {}, "lns": {"layernorm_scaling": True}}
    rule = Descriptive("log_second_first", "lower", min_effect=MUCH_LESS, arm="pre-ln")
    also = (
        Descriptive("skip_future_log_ratio", "lower", arm="pre-ln"),
        Superiority("removal_second_half", "higher", treatment="lns", baseline="pre-ln"),
        Superiority("skip_future_log_ratio", "higher", treatment="lns", baseline="pre-ln"),
    )
    gates = (Gate("val_loss", below="unigram_entropy", margin=0.2),)
    sizes = {
        "tiny": dict(n_layer=4, d_model=32, n_head=2, seq_len=32, batch_size=4, steps=8, warmup=2,
                     eval_every=8, eval_batches=1, max_bytes=300_000, corpus="pydoc", every=4,
                     probe_seqs=4, shallow_layers=2, map_tokens=100),
        "smoke": dict(batch_size=16, steps=100, warmup=10, eval_every=50, eval_batches=4, probe_seqs=16),
    }

    def trial(self, cfg: DepthUsageConfig, t: Trial) -> dict[str, float | list[float]]:
        corpus = text_corpus(cfg.corpus, max_bytes=cfg.max_bytes)
        model = _gpt(cfg, cfg.n_layer)
        result = train_lm(model, corpus, t, steps=cfg.steps, batch_size=cfg.batch_size,
                          seq_len=cfg.seq_len, lr=cfg.lr, warmup=cfg.warmup, every=cfg.every,
                          eval_every=cfg.eval_every, eval_batches=cfg.eval_batches)
        model.eval()
        x, _ = corpus.batch(cfg.probe_seqs, cfg.seq_len, split="val",
                            generator=torch.Generator().manual_seed(1))  # the same probe text for every run
        with torch.no_grad():
            usage = depth_usage(model, x)
            skip = skip_matrix(model, x)
            removal = removal_delta_loss(model, x)
        _log_depth(t, cfg.steps, usage, removal, skip.output)
        out = {**result, **depth_measures(usage, skip.matrix, removal),
               **{m: [float(v) for v in getattr(usage, m)] for m in METRICS},
               "unigram_entropy": unigram_entropy(corpus), "uniform_loss": math.log(corpus.vocab_size)}
        if cfg.linear_map and not result["diverged"]:
            out.update(_map_diagonal(cfg, t, model, corpus, x))
        return out

    def sections(self, cfg: DepthUsageConfig, results: dict[str, list[dict]], out_dir) -> list:
        """The per-block contribution profile of each arm, averaged over seeds."""
        usages = {}
        for arm, rows in results.items():
            if rows:
                cols = {m: np.nanmean([r[m] for r in rows], axis=0) for m in METRICS}
                usages[arm] = DepthUsage(tuple(f"blocks.{i}" for i in range(cfg.n_layer)), **cols)
        if not usages:
            return []
        section = depth_profile_section(usages)
        note = (" The table's ratios include block 0, whose contribution is measured against the raw "
                "embedding; the verdict leaves it out (log_second_first in the details).")
        return [dataclasses.replace(section, text=section.text + note)]
