"""Study ``real-llm-depth``: does the second half of SmolLM2-135M add less to its residual stream?

Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025, arXiv
2505.13898) found that the second-half layers of Llama 3.1 and Qwen 3 contribute much less to the
residual stream than the first-half ones. No training here: on ``n_seq`` windows of ``seq_len``
tokens of offline English prose (``pydoc``), :func:`layerwise.depth.depth_usage` gives each block's
relative contribution ``||x_{l+1} - x_l|| / ||x_l||`` (and of its attention and MLP sublayers) and
:func:`layerwise.depth.attention_entropy` the per-layer attention entropy (Attention Saturation and
Gradient Suppression at Inflection Layers, Wang, 2025, arXiv 2511.00797). The "arms" are the two
halves of the blocks (baseline ``first-half``, treatment ``second-half``; better = lower states
the paper's claim) and the "seeds" are disjoint text batches. ``model`` is the judged model
(``smollm2``: 30 layers, the dequantised weights cached by :func:`layerwise.depth.cli.load_model`);
``also`` lists models measured beside it (``minilm``: 6 BERT layers, Post-LN) for the details and the
report. ``tiny-llama`` is a random 4-layer Hugging Face Llama on bytes, for fast tests.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import torch

from layerwise.data import text_corpus
from layerwise.depth import DepthUsage, adapt, attention_entropy, depth_usage
from layerwise.depth.sections import depth_profile_section
from layerwise.monitor import RunLog
from layerwise.studies.recipe import Recipe, study

ARMS = ("first-half", "second-half")
HALF_METRICS = ("block_contrib", "attn_contrib", "mlp_contrib", "attn_entropy")


@dataclass(frozen=True)
class RealLLMDepthConfig:
    """Paper-15 measurement on the PyPI-shipped models: 8 sequences of 128 tokens per batch (issue 4);
    SmolLM2 loads in ~1 s once cached (~50 s the first time) and measures in ~10-20 s per batch."""

    model: str = "smollm2"
    also: tuple[str, ...] = ("minilm",)
    data: str = "pydoc"
    n_seq: int = 8
    seq_len: int = 128


@functools.lru_cache(maxsize=4)
def _load(name: str) -> tuple[torch.nn.Module, object | None]:
    """``(model, tokenizer)`` in eval mode; the tokenizer is None for byte-level models."""
    if name == "tiny-llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             attn_implementation="eager")
        return LlamaForCausalLM(config).eval(), None
    from layerwise.depth.cli import load_model

    model, tokenizer = load_model(name)
    return model.eval(), tokenizer


@functools.lru_cache(maxsize=4)
def _token_ids(data: str, name: str, n_tokens: int) -> torch.Tensor:
    """At least ``n_tokens`` token ids of the validation text of ``data`` (bytes without a tokenizer)."""
    _, tokenizer = _load(name)
    val = text_corpus(data).val
    if tokenizer is None:
        ids = val.long()
    else:
        text = bytes(val[: 8 * n_tokens].tolist()).decode("utf-8", errors="ignore")
        ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"])
    if ids.numel() < n_tokens:
        raise ValueError(f"{data!r} has {ids.numel()} {name} tokens, fewer than the {n_tokens} needed")
    return ids


def _batch(cfg: RealLLMDepthConfig, name: str, seed: int) -> dict[str, torch.Tensor]:
    """Batch ``seed``: the ``seed``-th disjoint block of ``n_seq`` windows of ``seq_len`` tokens."""
    size = cfg.n_seq * cfg.seq_len
    ids = _token_ids(cfg.data, name, size * (seed + 1))
    return {"input_ids": ids[seed * size: (seed + 1) * size].view(cfg.n_seq, cfg.seq_len)}


@functools.lru_cache(maxsize=16)
def _measure(cfg: RealLLMDepthConfig, name: str, seed: int) -> tuple[DepthUsage, np.ndarray]:
    """Depth usage and per-layer, per-head attention entropy of model ``name`` on batch ``seed``."""
    model, _ = _load(name)
    batch = _batch(cfg, name, seed)
    ad = adapt(model)
    with torch.no_grad():
        usage = depth_usage(model, batch, adapter=ad)
    return usage, attention_entropy(model, batch, adapter=ad)


def halves(values: np.ndarray) -> tuple[float, float]:
    """Means over the first and the last ``L // 2`` layers (an odd L leaves the middle one out)."""
    half = len(values) // 2
    return float(np.nanmean(values[:half])), float(np.nanmean(values[len(values) - half:]))


def _profile(usage: DepthUsage, entropy: np.ndarray) -> dict[str, np.ndarray]:
    return {"block_contrib": usage.block_contrib, "attn_contrib": usage.attn_contrib,
            "mlp_contrib": usage.mlp_contrib, "attn_entropy": entropy.mean(axis=1)}


def _log(path: Path, usage: DepthUsage, entropy: np.ndarray, meta: dict) -> None:
    with RunLog(path, meta=meta) as log:
        for layer, metric, value in usage.rows():
            log.log(0, layer, metric, value)
        for i, layer in enumerate(usage.names):
            log.log(0, layer, "attn_entropy", float(entropy[i].mean()))
            log.log(0, layer, "attn_entropy_min_head", float(entropy[i].min()))


def run(cfg: RealLLMDepthConfig, arm: str, seed: int, run_dir: Path) -> dict[str, float]:
    """Measure every model on text batch ``seed``; return the arm's half means (primary model first)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; use one of {ARMS}")
    torch.set_num_threads(1)
    side = ARMS.index(arm)
    out: dict[str, float] = {}
    for name in (cfg.model, *cfg.also):
        usage, entropy = _measure(cfg, name, seed)
        meta = {"study": "real-llm-depth", "arm": arm, "seed": seed, "model": name,
                "config": dataclasses.asdict(cfg)}
        _log(run_dir if name == cfg.model else run_dir / name, usage, entropy, meta)
        prefix = "" if name == cfg.model else f"{name}_"
        for metric, values in _profile(usage, entropy).items():
            out[f"{prefix}{metric}"] = halves(values)[side]
        out[f"{prefix}second_first_ratio"] = usage.second_first_ratio()
        out[f"{prefix}n_layers"] = float(len(usage.names))
    return out


def summarize(cfg: RealLLMDepthConfig, results: dict[str, list[dict]]) -> dict:
    """Per-model half means, second/first ratios per batch, and whether the second half adds less."""
    out: dict = {}
    for name in (cfg.model, *cfg.also):
        prefix = "" if name == cfg.model else f"{name}_"
        entry = {m: {arm: float(np.mean([r[prefix + m] for r in rows])) for arm, rows in results.items()}
                 for m in HALF_METRICS}
        ratios = [r[prefix + "second_first_ratio"] for r in results[ARMS[0]]]
        entry["second_first_ratio"] = {"mean": float(np.mean(ratios)), "values": ratios}
        entry["second_half_contributes_less"] = bool(all(v < 1 for v in ratios))
        entry["n_layers"] = int(results[ARMS[0]][0][prefix + "n_layers"])
        out[name] = entry
    return out


def _mean_usage(cfg: RealLLMDepthConfig, name: str, n_seeds: int) -> tuple[DepthUsage, np.ndarray]:
    measured = [_measure(cfg, name, s) for s in range(n_seeds)]
    fields = {f.name: np.mean([getattr(u, f.name) for u, _ in measured], axis=0)
              for f in dataclasses.fields(DepthUsage) if f.name != "names"}
    return DepthUsage(measured[0][0].names, **fields), np.mean([e for _, e in measured], axis=0)


def _entropy_table(profiles: dict[str, np.ndarray]) -> str:
    rows = "".join(f"<tr><td>{escape(name)}</td><td>{' '.join(f'{v:.2f}' for v in ent.mean(axis=1))}"
                   "</td></tr>" for name, ent in profiles.items())
    head = "<tr><th>model</th><th>attention entropy per layer (nats, head mean)</th></tr>"
    return f"<table>{head}{rows}</table>"


def sections(cfg: RealLLMDepthConfig, results: dict[str, list[dict]], out_dir: Path) -> list:
    """The judged model's per-layer contribution profile, the others beside it, and attention entropy."""
    from layerwise.report import Section

    n_seeds = min(len(rows) for rows in results.values())
    if n_seeds == 0:
        return []
    means = {name: _mean_usage(cfg, name, n_seeds) for name in (cfg.model, *cfg.also)}
    out = [depth_profile_section({cfg.model: means[cfg.model][0]})]
    if cfg.also:
        others = depth_profile_section({name: means[name][0] for name in cfg.also})
        out.append(Section(f"Depth profile: {', '.join(cfg.also)}", html=others.html, figures=others.figures,
                           text=others.text))
    out.append(Section("Attention entropy", html=_entropy_table({n: e for n, (_, e) in means.items()}),
                       text="Mean over heads, sequences and queries; low values are saturated attention "
                            "(Wang, 2025, arXiv 2511.00797). MiniLM attends bidirectionally, so its "
                            "maximum entropy is higher than a causal model's."))
    return out


RECIPE = study(Recipe(
    name="real-llm-depth",
    paper="Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)",
    arxiv="2505.13898",
    claim="The second half of a pretrained LLM's layers contributes much less to the residual stream than "
          "the first half (Llama 3.1, Qwen 3); we test whether the mean relative contribution "
          "||x_{l+1} - x_l|| / ||x_l|| of SmolLM2-135M's last 15 blocks is lower than that of its first 15, "
          "over disjoint batches of offline prose, and report MiniLM's 6 layers and attention entropy "
          "beside it",
    metric="block_contrib",
    better="lower",
    arms=ARMS,
    config=RealLLMDepthConfig,
    run=run,
    summarize=summarize,
    sections=sections,
    smoke=dict(model="minilm", also=("tiny-llama",), n_seq=4, seq_len=64),
    full={},
    seeds=3,
    smoke_seeds=1,
))
