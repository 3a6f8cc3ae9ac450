"""Study ``curse-of-depth``: Pre-LN against Pre-LN with LayerNorm Scaling on a byte-level GPT.

The Curse of Depth in Large Language Models (Sun et al., 2025, arXiv 2502.05795): in Pre-LN
transformers the residual variance grows with depth, so deep blocks act almost as the identity;
scaling each LayerNorm output by 1/sqrt(layer index) (LNS) keeps deep layers useful and lowers
the loss. Tiny reproduction (shared/papers/SPECS-A.md, paper 12): a 12-layer GPT on the CPython
standard-library sources; validation loss, plus the Monitor's depth profiles: how much gradient
reaches the last third of the blocks compared with the first third, and how much the residual
stream's RMS grows from the first block to the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from layerwise.data import text_corpus
from layerwise.models import GPT
from layerwise.monitor import RunLog
from layerwise.monitor.summary import depth_ratio, layer_profile
from layerwise.studies.recipe import Recipe, study
from layerwise.studies.training import train_lm


@dataclass(frozen=True)
class CurseOfDepthConfig:
    """Paper-12 reproduction sizes (full); smoke shrinks width, context and steps."""

    n_layer: int = 12
    d_model: int = 128
    n_head: int = 4
    seq_len: int = 128
    batch_size: int = 32
    steps: int = 3000
    lr: float = 1e-3
    warmup: int = 300
    corpus: str = "stdlib"
    max_bytes: int | None = None
    eval_every: int = 250
    eval_batches: int = 20
    every: int = 1


def run(cfg: CurseOfDepthConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one arm ("pre-ln" or "lns") for one seed; return losses and depth profiles."""
    torch.manual_seed(seed)
    corpus = text_corpus(cfg.corpus, max_bytes=cfg.max_bytes)
    model = GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                vocab_size=corpus.vocab_size, placement="pre", layernorm_scaling=arm == "lns")
    result = train_lm(model, corpus, steps=cfg.steps, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                      lr=cfg.lr, warmup=cfg.warmup, seed=seed, run_dir=run_dir, every=cfg.every,
                      eval_every=cfg.eval_every, eval_batches=cfg.eval_batches,
                      meta={"study": "curse-of-depth", "arm": arm, "seed": seed, "config": vars(cfg)})
    table = RunLog.read(run_dir)
    result["deep_shallow_grad"] = depth_ratio(layer_profile(table, "grad_norm"))
    rms = list(layer_profile(table, "act_rms").values())
    result["rms_growth"] = rms[-1] / rms[0]
    return result


def summarize(cfg: CurseOfDepthConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of the depth measures (the paper's mechanism, beside the loss)."""
    out = {}
    for key in ("deep_shallow_grad", "rms_growth", "train_loss", "diverged"):
        out[key] = {arm: sum(r[key] for r in rows) / len(rows) for arm, rows in results.items()}
    return out


RECIPE = study(Recipe(
    name="curse-of-depth",
    paper="The Curse of Depth in Large Language Models (Sun et al., 2025)",
    arxiv="2502.05795",
    claim="LayerNorm Scaling (1/sqrt(layer) on every LayerNorm output) lowers the validation loss "
          "of a 12-layer Pre-LN GPT, with more gradient reaching its deep layers",
    metric="val_loss",
    better="lower",
    arms=("pre-ln", "lns"),
    config=CurseOfDepthConfig,
    run=run,
    summarize=summarize,
    smoke=dict(d_model=64, n_head=4, seq_len=64, batch_size=16, steps=300, warmup=30, eval_every=100,
               eval_batches=8, max_bytes=3_000_000),
    full={},
    seeds=3,
    smoke_seeds=1,
))
