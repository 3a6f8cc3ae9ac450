"""Study ``spinal``: is the change a fine-tuning shift makes localised in the final third of depth?

SPINAL -- Scaling-law and Preference Integration in Neural Alignment Layers (Das et al., 2026,
arXiv 2601.06238): each checkpoint becomes a depth trace of the contraction score alpha_l (tail
slope of the singular-value spectrum of layer l's hidden states) and the transport score (Fisher-Rao
length between adjacent layers' logit-lens distributions). Alignment (DPO) shows up mainly in the
final blocks, where alpha rises and transport falls.

Tiny reproduction (shared/papers/SPECS-B.md, section 12, with supervised fine-tuning in place of DPO,
as the spec allows for "any fine-tuning"): pretrain a 6-layer byte GPT on the standard-library
sources, keep a copy, fine-tune it on English (pydoc), and trace both checkpoints on held-out
fine-tuning prompts. Per block: alpha before/after (``tail`` of the energy, and ``alt_tail`` as the
spec's robustness check), the transport step into the block's output, Delta-CKA of the block's output
(shared PCA basis) and the relative parameter change. The arms compare *where* the change sits, on
the same runs: "first-third" (baseline) is the mean |Delta alpha| over the first third of the blocks,
"final-third" (treatment) over the last third; the claim holds if the final third changes more. The
6-layer model cannot test the paper's "layers 21-30", only the weaker final-third localisation.

Example::

    layerwise run spinal --full --seeds 3 d_model=64 seq_len=64 pretrain_steps=400
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from layerwise.analysis import contraction_score, delta_cka, transport_score
from layerwise.data import text_corpus
from layerwise.depth import logit_lens
from layerwise.models import GPT
from layerwise.monitor import RunLog
from layerwise.studies.recipe import Recipe, study
from layerwise.studies.training import train_lm

ARMS = ("first-third", "final-third")
MEASURES = ("delta_alpha", "abs_delta_alpha", "abs_delta_alpha_alt", "delta_transport",
            "abs_delta_transport", "delta_cka", "param_change")


@dataclass(frozen=True)
class SpinalConfig:
    """Paper-12 sizes (full: a 6-layer d=128 GPT, 2,000 pretraining steps on stdlib, 300 fine-tuning
    steps on pydoc, about 5 minutes per seed on 2 CPU cores); smoke shrinks width, context and steps."""

    n_layer: int = 6
    d_model: int = 128
    n_head: int = 4
    seq_len: int = 128
    batch_size: int = 32
    pretrain_corpus: str = "stdlib"
    finetune_corpus: str = "pydoc"
    max_bytes: int | None = None
    pretrain_steps: int = 2000
    finetune_steps: int = 300
    lr: float = 1e-3
    finetune_lr: float = 3e-4
    warmup: int = 100
    eval_every: int = 100
    eval_batches: int = 8
    every: int = 5
    probe_seqs: int = 32
    tail: tuple[float, ...] = (0.5, 0.95)
    alt_tail: tuple[float, ...] = (0.3, 0.9)


def _gpt(cfg: SpinalConfig, vocab: int) -> GPT:
    return GPT(n_layer=cfg.n_layer, d_model=cfg.d_model, n_head=cfg.n_head, seq_len=cfg.seq_len,
               vocab_size=vocab, placement="pre")


@functools.lru_cache(maxsize=1)
def pretrained(cfg: SpinalConfig, seed: int) -> tuple[dict[str, Tensor], float]:
    """Weights and val loss of the model pretrained on ``pretrain_corpus`` (cached: both arms share it)."""
    torch.manual_seed(seed)
    corpus = text_corpus(cfg.pretrain_corpus, max_bytes=cfg.max_bytes)
    model = _gpt(cfg, corpus.vocab_size)
    result = train_lm(model, corpus, steps=cfg.pretrain_steps, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                      lr=cfg.lr, warmup=cfg.warmup, seed=seed, run_dir=None, every=cfg.every,
                      eval_every=cfg.eval_every, eval_batches=cfg.eval_batches)
    return copy.deepcopy(model.state_dict()), result["val_loss"]


@torch.no_grad()
def depth_trace(model: GPT, x: Tensor) -> tuple[list[Tensor], np.ndarray]:
    """Each block's output (B, T, d) and the Fisher-Rao transport step into it from the logit lens."""
    model.eval()
    outs: list[Tensor] = []
    handles = [b.register_forward_hook(lambda _m, _a, out: outs.append(out)) for b in model.blocks]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return outs, transport_score(logit_lens(model, x).probs).steps


def _param_change(before: GPT, after: GPT) -> list[float]:
    out = []
    for b0, b1 in zip(before.blocks, after.blocks, strict=True):
        w0 = torch.cat([p.detach().flatten() for p in b0.parameters()])
        w1 = torch.cat([p.detach().flatten() for p in b1.parameters()])
        out.append(float((w1 - w0).norm() / w0.norm()))
    return out


def per_block(cfg: SpinalConfig, before: GPT, after: GPT, x: Tensor) -> dict[str, np.ndarray]:
    """Every per-block measure (``MEASURES`` plus the raw traces) of the two checkpoints on ``x``."""
    h0, t0 = depth_trace(before, x)
    h1, t1 = depth_trace(after, x)
    a0 = np.array([contraction_score(h, tail=cfg.tail) for h in h0])
    a1 = np.array([contraction_score(h, tail=cfg.tail) for h in h1])
    alt = np.array([contraction_score(b, tail=cfg.alt_tail) - contraction_score(a, tail=cfg.alt_tail)
                    for a, b in zip(h0, h1, strict=True)])
    return {"alpha_before": a0, "alpha_after": a1, "delta_alpha": a1 - a0, "abs_delta_alpha": np.abs(a1 - a0),
            "abs_delta_alpha_alt": np.abs(alt), "transport_before": t0, "transport_after": t1,
            "delta_transport": t1 - t0, "abs_delta_transport": np.abs(t1 - t0),
            "delta_cka": _delta_cka(h0, h1),
            "param_change": np.array(_param_change(before, after))}


def _delta_cka(h0: list[Tensor], h1: list[Tensor]) -> np.ndarray:
    return np.array([delta_cka(a.flatten(0, 1), b.flatten(0, 1)) for a, b in zip(h0, h1, strict=True)])


def _log(run_dir: Path, step: int, traces: dict[str, np.ndarray]) -> None:
    with RunLog(run_dir) as log:
        for metric, values in traces.items():
            for i, value in enumerate(values):
                log.log(step, f"blocks.{i}", metric, float(value))


def run(cfg: SpinalConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Pretrain (cached), fine-tune with a Monitor, trace both checkpoints; the arm picks the third."""
    torch.set_num_threads(1)
    k = cfg.n_layer // 3
    if arm not in ARMS or k < 1:
        raise ValueError(f"arm must be one of {ARMS} and n_layer >= 3, got {arm!r}, {cfg.n_layer}")
    state, pre_val = pretrained(cfg, seed)
    corpus = text_corpus(cfg.finetune_corpus)
    before, after = _gpt(cfg, corpus.vocab_size), _gpt(cfg, corpus.vocab_size)
    before.load_state_dict(state)
    after.load_state_dict(state)
    meta = {"study": "spinal", "arm": arm, "seed": seed, "config": dataclasses.asdict(cfg)}
    result = train_lm(after, corpus, steps=cfg.finetune_steps, batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                      lr=cfg.finetune_lr, warmup=min(cfg.warmup, cfg.finetune_steps // 10 + 1), seed=seed,
                      run_dir=run_dir, every=cfg.every, eval_every=cfg.eval_every,
                      eval_batches=cfg.eval_batches, meta=meta)
    x, _ = corpus.batch(cfg.probe_seqs, cfg.seq_len, split="val", generator=torch.Generator().manual_seed(1))
    traces = per_block(cfg, before, after, x)
    _log(run_dir, cfg.finetune_steps, traces)
    thirds = {"first": slice(0, k), "final": slice(cfg.n_layer - k, cfg.n_layer)}
    out = {"pretrain_val_loss": pre_val, "finetune_val_loss": result["val_loss"]}
    for name, part in thirds.items():
        out.update({f"{m}_{name}": float(np.mean(traces[m][part])) for m in MEASURES})
    out["change"] = out[f"abs_delta_alpha_{arm.split('-')[0]}"]
    out.update({f"{m}@blocks.{i}": float(v) for m, vals in traces.items() for i, v in enumerate(vals)})
    return out


def summarize(cfg: SpinalConfig, results: dict[str, list[dict]]) -> dict:
    """Per-third means over seeds of every measure (arms share their runs), and final/first ratios."""
    rows = results[ARMS[0]]
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if "@" not in k and k != "change"}
    for m in MEASURES:
        if not m.startswith("delta_"):
            out[f"{m}_final_over_first"] = out[f"{m}_final"] / max(out[f"{m}_first"], 1e-12)
    return out


def sections(cfg: SpinalConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
    """The SPINAL depth traces before and after fine-tuning, averaged over seeds."""
    from layerwise.report import Section
    from layerwise.report.render import new_figure, style

    rows = results[ARMS[0]]
    blocks = np.arange(cfg.n_layer)

    def trace(metric: str) -> np.ndarray:
        return np.array([np.mean([r[f"{metric}@blocks.{i}"] for r in rows]) for i in blocks])

    panels = ((("alpha_before", "alpha_after"), "contraction alpha"),
              (("transport_before", "transport_after"), "transport step into block"),
              (("delta_cka",), "Delta-CKA before/after"), (("param_change",), "||dW|| / ||W||"))
    with style():
        fig = new_figure(9.0, 2.4)
        for j, (metrics, title) in enumerate(panels):
            ax = fig.add_axes((0.05 + j * 0.245, 0.2, 0.19, 0.62))
            for metric in metrics:
                ax.plot(blocks, trace(metric), marker=".", label=metric.split("_")[-1])
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("block")
            ax.axvspan(cfg.n_layer - cfg.n_layer // 3 - 0.5, cfg.n_layer - 0.5, color="#f2d7a6", alpha=0.4)
            if len(metrics) > 1:
                ax.legend(fontsize=6)
    return [Section("SPINAL depth traces", figures=(fig,),
                    text="Per-block contraction and transport before and after fine-tuning, representation "
                         "change (Delta-CKA) and parameter change, mean over seeds; the shaded band is the "
                         "final third (Das et al., 2026, arXiv 2601.06238).")]


RECIPE = study(Recipe(
    name="spinal",
    paper="SPINAL: Scaling-law and Preference Integration in Neural Alignment Layers (Das et al., 2026)",
    arxiv="2601.06238",
    claim="Alignment changes mainly the final decoder blocks, where the contraction score rises and the "
          "transport score falls; we test on a 6-layer byte GPT pretrained on stdlib code and fine-tuned on "
          "pydoc English whether the fine-tuning change of the contraction score |Delta alpha| is larger in "
          "the final third of the blocks than in the first third, and report transport, Delta-CKA and "
          "parameter change per third",
    metric="change",
    better="higher",
    arms=ARMS,
    config=SpinalConfig,
    run=run,
    summarize=summarize,
    sections=sections,
    smoke=dict(d_model=64, seq_len=64, batch_size=16, pretrain_steps=300, finetune_steps=100, warmup=30,
               eval_every=50, eval_batches=4, max_bytes=3_000_000, probe_seqs=16),
    full={},
    seeds=3,
    smoke_seeds=1,
))
