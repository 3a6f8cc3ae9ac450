"""Study ``curse-of-depth``: Pre-LN against Pre-LN with LayerNorm Scaling on a byte-level GPT.

The Curse of Depth in Large Language Models (Sun et al., 2025, arXiv 2502.05795): in Pre-LN
transformers the residual variance grows with depth, so deep blocks act almost as the identity;
scaling each LayerNorm output by 1/sqrt(layer index) (LNS) keeps deep layers useful and lowers
the loss. Tiny reproduction (shared/papers/SPECS-A.md, paper 12): a 12-layer GPT on the CPython
standard-library sources; validation loss (paired by seed: LNS adds no parameters, so both arms
start from the same weights and see the same batches), plus the Monitor's depth profiles: how
much gradient reaches the last third of the blocks compared with the first third, and how much
the residual stream's RMS grows from the first block to the last. The registered full size is
d=64 for 600 steps (about 2 CPU-minutes a run), not the paper's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from layerwise.data import text_corpus
from layerwise.models import GPT
from layerwise.monitor.summary import depth_ratio
from layerwise.studies._loops import train_lm, unigram_entropy
from layerwise.studies._profiles import last_over_first
from layerwise.studies._rules import Gate, Superiority
from layerwise.studies._study import Profile, Study
from layerwise.studies._trial import Trial


@dataclass(frozen=True)
class CurseOfDepthConfig:
    """Full size: 12 layers, d=64, context 64, batch 32, 600 AdamW steps."""

    n_layer: int = 12
    d_model: int = 64
    n_head: int = 4
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 600
    lr: float = 1e-3
    warmup: int = 60
    corpus: str = "stdlib"
    max_bytes: int | None = 3_000_000
    eval_every: int = 100
    eval_batches: int = 20
    every: int = 10
    layernorm_scaling: bool = False


class CurseOfDepth(Study):
    """Pre-LN vs LayerNorm Scaling: validation loss and depth profiles of a 12-layer GPT."""

    name = "curse-of-depth"
    paper = "The Curse of Depth in Large Language Models (Sun et al., 2025)"
    arxiv = "2502.05795"
    claim = ("LayerNorm Scaling (1/sqrt(layer) on every LayerNorm output) lowers the validation loss "
             "of a 12-layer Pre-LN GPT, with more gradient reaching its deep layers")
    Config = CurseOfDepthConfig
    arms = {"pre-ln": {}, "lns": {"layernorm_scaling": True}}
    rule = Superiority("val_loss", "lower", treatment="lns", baseline="pre-ln", min_effect=0.005,
                       worst="uniform_loss")
    also = (Superiority("deep_shallow_grad", "higher", treatment="lns", baseline="pre-ln"),)
    gates = (Gate("val_loss", below="unigram_entropy", margin=0.2),)
    profiles = {"deep_shallow_grad": Profile("grad_norm", depth_ratio),
                "rms_growth": Profile("act_rms", last_over_first)}
    sizes = {
        "tiny": dict(n_layer=6, d_model=32, n_head=2, seq_len=32, batch_size=4, steps=12, warmup=2,
                     eval_every=6, eval_batches=1, max_bytes=300_000, corpus="pydoc", every=1),
        "smoke": dict(batch_size=16, steps=100, warmup=10, eval_every=50, eval_batches=8),
    }

    def trial(self, cfg: CurseOfDepthConfig, t: Trial) -> dict[str, float]:
        corpus = text_corpus(cfg.corpus, max_bytes=cfg.max_bytes)
        model = GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                    vocab_size=corpus.vocab_size, placement="pre",
                    layernorm_scaling=cfg.layernorm_scaling)
        result = train_lm(model, corpus, t, steps=cfg.steps, batch_size=cfg.batch_size,
                          seq_len=cfg.seq_len, lr=cfg.lr, warmup=cfg.warmup, every=cfg.every,
                          eval_every=cfg.eval_every, eval_batches=cfg.eval_batches)
        return {**result, "unigram_entropy": unigram_entropy(corpus),
                "uniform_loss": math.log(corpus.vocab_size)}
