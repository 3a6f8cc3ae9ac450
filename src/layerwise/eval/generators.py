"""Bounded greedy generators: a prompt in, a response out, for the prompt-sensitivity harness.

A generator is any callable ``prompt -> text``; it may also offer ``batch(prompts) -> texts``,
which the harness then prefers. :func:`as_generator` turns models into generators:

* a byte-level :class:`layerwise.models.GPT` (token = UTF-8 byte) -> :class:`ByteGPTGenerator`;
* a Hugging Face causal LM with its tokenizer -> :class:`HFGenerator`.

Both decode greedily and stop at ``stop`` (a newline by default), after ``max_new_tokens``, or
when a call has run ``time_limit`` seconds (``timed_out`` then counts the calls cut short).

Example::

    >>> import torch
    >>> from layerwise.eval import as_generator
    >>> from layerwise.models import GPT
    >>> _ = torch.manual_seed(0)
    >>> gen = as_generator(GPT(n_layer=1, d_model=16, n_head=2, seq_len=32, vocab_size=256),
    ...                    max_new_tokens=5)
    >>> len(gen("2+2=").encode("utf-8", errors="surrogateescape")) <= 5
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Generator(Protocol):
    """Anything that answers a prompt with text."""

    def __call__(self, prompt: str) -> str: ...


def _check_bounds(max_new_tokens: int, time_limit: float) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")


class ByteGPTGenerator:
    """Greedy decoding for a byte-level causal model ``model(ids (B, T)) -> logits (B, T, 256+)``
    (a :class:`layerwise.models.GPT`); ``batch`` decodes many prompts at once, dropping rows
    that reached ``stop``."""

    def __init__(self, model: nn.Module, *, max_new_tokens: int = 64, time_limit: float = 60.0,
                 stop: str = "\n") -> None:
        _check_bounds(max_new_tokens, time_limit)
        self.model, self.max_new_tokens, self.time_limit = model, max_new_tokens, time_limit
        self.stop = stop.encode()[0] if stop else None
        self.timed_out = 0

    def __call__(self, prompt: str) -> str:
        return self.batch([prompt])[0]

    @torch.no_grad()
    def batch(self, prompts: Sequence[str]) -> list[str]:
        rows = [list(p.encode()) for p in prompts]
        limit = getattr(self.model, "seq_len", None)
        longest = max(len(r) for r in rows) + self.max_new_tokens
        if limit is not None and longest > limit:
            raise ValueError(f"max_new_tokens={self.max_new_tokens}: the longest prompt plus the new "
                             f"tokens ({longest}) exceed the model's seq_len={limit}")
        was_training = self.model.training
        self.model.eval()
        new: list[list[int]] = [[] for _ in rows]
        active, start = list(range(len(rows))), time.perf_counter()
        try:
            for _ in range(self.max_new_tokens):
                if not active:
                    break
                if time.perf_counter() - start > self.time_limit:
                    self.timed_out += 1
                    break
                active = self._step(rows, new, active)
        finally:
            self.model.train(was_training)
        return [bytes(n).decode("utf-8", errors="replace") for n in new]

    def _step(self, rows: list[list[int]], new: list[list[int]], active: list[int]) -> list[int]:
        lens = [len(rows[i]) + len(new[i]) for i in active]
        ids = torch.zeros(len(active), max(lens), dtype=torch.long)
        for j, i in enumerate(active):
            ids[j, : lens[j]] = torch.tensor(rows[i] + new[i])
        logits = self.model(ids)
        nxt = logits[torch.arange(len(active)), torch.tensor(lens) - 1].argmax(-1).tolist()
        still = []
        for i, tok in zip(active, nxt, strict=True):
            if tok == self.stop:
                continue
            new[i].append(tok)
            still.append(i)
        return still


class HFGenerator:
    """Greedy decoding for a Hugging Face causal LM through ``model.generate`` (its
    ``max_time`` enforces ``time_limit``); the response is cut at the first ``stop`` ("" keeps
    it whole). ``chat=True`` sends the prompt as one user turn through the tokenizer's chat
    template (instruction-tuned models)."""

    def __init__(self, model: nn.Module, tokenizer: Any, *, max_new_tokens: int = 64,
                 time_limit: float = 60.0, stop: str = "\n", chat: bool = False) -> None:
        _check_bounds(max_new_tokens, time_limit)
        if tokenizer is None or not callable(tokenizer) or not hasattr(tokenizer, "decode"):
            raise TypeError("tokenizer must be the model's Hugging Face tokenizer (callable, with "
                            f"decode), got {type(tokenizer).__name__}")
        self.model, self.tokenizer, self.stop, self.chat = model, tokenizer, stop, chat
        self.max_new_tokens, self.time_limit, self.timed_out = max_new_tokens, time_limit, 0

    @torch.no_grad()
    def __call__(self, prompt: str) -> str:
        if self.chat:
            prompt = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                        tokenize=False, add_generation_prompt=True)
        enc = self.tokenizer(prompt, return_tensors="pt")
        start = time.perf_counter()
        out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  max_time=self.time_limit,
                                  pad_token_id=getattr(self.tokenizer, "eos_token_id", None))
        new = out[0, enc["input_ids"].shape[1]:]
        if len(new) < self.max_new_tokens and time.perf_counter() - start >= self.time_limit:
            self.timed_out += 1
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return text.lstrip("\n").split(self.stop)[0] if self.stop else text


def is_causal_lm(model: Any) -> bool:
    """True for a Hugging Face model that can generate and is not an encoder-decoder."""
    config = getattr(model, "config", None)
    can = getattr(model, "can_generate", None)
    return (config is not None and callable(can) and bool(can())
            and not getattr(config, "is_encoder_decoder", False))


def as_generator(model: Any, tokenizer: Any = None, *, max_new_tokens: int = 64,
                 time_limit: float = 60.0, name: str = "model") -> Callable[[str], str]:
    """``model`` as a generator: a plain callable (not a module) is returned unchanged; a
    byte-level GPT and a Hugging Face causal LM are wrapped with bounded greedy decoding.
    Anything else is a TypeError naming ``name``."""
    from layerwise.models import GPT

    if isinstance(model, GPT):
        return ByteGPTGenerator(model, max_new_tokens=max_new_tokens, time_limit=time_limit)
    if isinstance(model, nn.Module):
        if is_causal_lm(model):
            return HFGenerator(model, tokenizer, max_new_tokens=max_new_tokens, time_limit=time_limit)
        raise TypeError(f"{name}: {type(model).__name__} is not a causal LM; pass a layerwise GPT, "
                        "a Hugging Face *ForCausalLM with its tokenizer, or a callable prompt -> text")
    if callable(model):
        return model
    raise TypeError(f"{name}: expected a callable prompt -> text or a causal LM, got "
                    f"{type(model).__name__}")
