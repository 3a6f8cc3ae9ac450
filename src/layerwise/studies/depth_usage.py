"""Study ``depth-usage``: does the second half of a 12-layer GPT contribute less, and does
LayerNorm Scaling change that?

Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025, arXiv
2505.13898) found that in Llama 3.1 and Qwen 3 the second-half layers add much less to the residual
stream than the first-half ones, that skipping them barely changes future computation, and that
linear maps from a shallow model's layers to a deeper model's are diagonal in relative depth. The
Curse of Depth (Sun et al., 2025, arXiv 2502.05795) blames Pre-LN's variance growth and proposes
LayerNorm Scaling (LNS). Tiny reproduction (shared/papers/SPECS-A.md, papers 12 and 15): the
byte-level 12-layer GPT of the curse-of-depth study, Pre-LN against LNS; after training, on
``probe_seqs`` validation sequences: relative contribution per block (second half / first half,
the metric), skip matrix and removal delta-loss, and, with ``linear_map``, the R^2 map from a
6-layer model of the same arm to the 12-layer one (argmax column of each row against ``2i``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

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
from layerwise.monitor import RunLog
from layerwise.studies.recipe import Recipe, study
from layerwise.studies.training import train_lm


@dataclass(frozen=True)
class DepthUsageConfig:
    """Paper-12/15 sizes (full: 3k steps of a d=128 GPT, ~5 min per run on 2 CPU cores, plus the
    6-layer model for the linear map); smoke shrinks width, context and steps."""

    n_layer: int = 12
    shallow_layers: int = 6
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
    every: int = 10
    probe_seqs: int = 50
    linear_map: bool = True
    map_tokens: int = 2000


def _train(cfg: DepthUsageConfig, arm: str, seed: int, n_layer: int, run_dir: Path | None, corpus):
    torch.manual_seed(seed)
    model = GPT(n_layer=n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
                vocab_size=corpus.vocab_size, placement="pre", layernorm_scaling=arm == "lns")
    result = train_lm(model, corpus, steps=cfg.steps, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                      lr=cfg.lr, warmup=cfg.warmup, seed=seed, run_dir=run_dir, every=cfg.every,
                      eval_every=cfg.eval_every, eval_batches=cfg.eval_batches,
                      meta={"study": "depth-usage", "arm": arm, "seed": seed, "n_layer": n_layer,
                            "config": dataclasses.asdict(cfg)})
    return model.eval(), result


def _stream(model: GPT, x: torch.Tensor, keep: torch.Tensor) -> list[torch.Tensor]:
    """Residual stream after each block, flattened to (tokens, d) and subsampled."""
    return [h.reshape(-1, h.shape[-1])[keep] for h in trace(adapt(model), x).outputs]


def _map_diagonal(cfg: DepthUsageConfig, arm: str, seed: int, deep: GPT, corpus, x) -> dict[str, float]:
    """Argmax layer of the deep model for each shallow layer: error against ``2i`` and monotonicity."""
    shallow, _ = _train(cfg, arm, seed, cfg.shallow_layers, None, corpus)
    n_tokens = x.numel()
    keep = torch.randperm(n_tokens, generator=torch.Generator().manual_seed(seed))[:cfg.map_tokens]
    r2 = linear_map_r2(_stream(shallow, x, keep), _stream(deep, x, keep), seed=seed)
    best = r2.argmax(axis=1) + 1
    rel_err = np.abs(best / cfg.n_layer - np.arange(1, len(best) + 1) / cfg.shallow_layers)
    return {"map_rel_depth_err": float(rel_err.mean()), "map_monotone": float(np.all(np.diff(best) >= 0))}


def _log_depth(run_dir: Path, step: int, usage: DepthUsage, removal: np.ndarray,
               skip_out: np.ndarray) -> None:
    with RunLog(run_dir) as log:
        for layer, metric, value in usage.rows():
            log.log(step, layer, metric, value)
        for i, layer in enumerate(usage.names):
            log.log(step, layer, "removal_delta_loss", float(removal[i]))
            log.log(step, layer, "skip_output_effect", float(skip_out[i]))


def run(cfg: DepthUsageConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Train one arm ("pre-ln" or "lns"), then measure its depth usage on validation text."""
    torch.set_num_threads(1)
    corpus = text_corpus(cfg.corpus, max_bytes=cfg.max_bytes)
    model, result = _train(cfg, arm, seed, cfg.n_layer, run_dir, corpus)
    x, _ = corpus.batch(cfg.probe_seqs, cfg.seq_len, split="val", generator=torch.Generator().manual_seed(1))
    usage = depth_usage(model, x)
    skip = skip_matrix(model, x)
    removal = removal_delta_loss(model, x)
    _log_depth(run_dir, cfg.steps, usage, removal, skip.output)
    half = cfg.n_layer // 2
    future = np.nan_to_num(skip.matrix)
    result.update(
        second_first_ratio=usage.second_first_ratio(),
        attn_ratio=usage.second_first_ratio("attn_contrib"),
        mlp_ratio=usage.second_first_ratio("mlp_contrib"),
        skip_future_first_half_share=float(future[:half].sum() / max(future.sum(), 1e-12)),
        removal_first_half=float(removal[:half].mean()), removal_second_half=float(removal[half:].mean()))
    if cfg.linear_map:
        result.update(_map_diagonal(cfg, arm, seed, model, corpus, x))
    return result


def summarize(cfg: DepthUsageConfig, results: dict[str, list[dict]]) -> dict:
    """Per-arm means of every depth measure (the paper's findings beside the metric)."""
    keys = list(results[next(iter(results))][0])
    out = {k: {arm: float(np.mean([r[k] for r in rows])) for arm, rows in results.items()} for k in keys}
    out["second_half_contributes_less"] = {arm: bool(v < 1) for arm, v in out["second_first_ratio"].items()}
    return out


def _usage_from_runs(out_dir: Path, arm: str, step: int) -> DepthUsage | None:
    tables = [RunLog.read(p) for p in sorted((out_dir / "runs").glob(f"{arm}-s*"))]
    rows = [(la, me, va) for t in tables for st, la, me, va in zip(
        t["step"].to_pylist(), t["layer"].to_pylist(), t["metric"].to_pylist(), t["value"].to_pylist(),
        strict=True) if st == step and me in METRICS]
    names = list(dict.fromkeys(la for la, _, _ in rows))
    if not names:
        return None
    def mean(name: str, metric: str) -> float:
        return float(np.mean([v for la, me, v in rows if la == name and me == metric] or [np.nan]))

    cols = {m: np.array([mean(n, m) for n in names]) for m in METRICS}
    return DepthUsage(tuple(names), **cols)


def sections(cfg: DepthUsageConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
    """The per-block contribution profile of each arm, averaged over seeds."""
    usages = {arm: u for arm in results if (u := _usage_from_runs(out_dir, arm, cfg.steps)) is not None}
    return [depth_profile_section(usages)] if usages else []


RECIPE = study(Recipe(
    name="depth-usage",
    paper="Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)",
    arxiv="2505.13898",
    claim="Second-half layers add much less to the residual stream than first-half ones (Llama 3.1, "
          "Qwen 3); we test whether LayerNorm Scaling (Curse of Depth, 2502.05795) raises the second-half "
          "/ first-half relative contribution of a 12-layer Pre-LN byte GPT, and report whether the "
          "ratio is below 1 in each arm, where skip effects fall and the 6-to-12-layer map's diagonal",
    metric="second_first_ratio",
    better="higher",
    arms=("pre-ln", "lns"),
    config=DepthUsageConfig,
    run=run,
    summarize=summarize,
    sections=sections,
    smoke=dict(d_model=64, seq_len=64, batch_size=16, steps=300, warmup=30, eval_every=100, eval_batches=8,
               max_bytes=3_000_000, probe_seqs=16, map_tokens=1000),
    full={},
    seeds=3,
    smoke_seeds=1,
))
