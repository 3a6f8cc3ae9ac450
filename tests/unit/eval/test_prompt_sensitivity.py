"""PromptSensitivityHarness: the inverse-scaling subset and gap statistics on scripted generators,
bounded decoding (tokens, time, stop), and bad input."""

import time

import numpy as np
import pytest
import torch
from torch import nn

import layerwise.studies  # noqa: F401 (the harness uses its t-interval: import cost at collection)
from layerwise.eval import (
    ByteGPTGenerator,
    HFGenerator,
    PromptSensitivityHarness,
    as_generator,
    final_integer,
)
from layerwise.models import GPT

PROBLEMS = [("2+2?", 4), ("3+3?", 6), ("1+1?", 2), ("5+0?", 5)]
VARIANTS = {"standard": "Q {problem}", "brief": "Q {problem} briefly"}
T_975_3 = 3.182446305284263  # Student-t 97.5% quantile, 3 degrees of freedom


def brief_right(prompt):
    """Small model: a bare, right answer to every prompt."""
    return str(eval(prompt.split()[1].rstrip("?")))


def verbose_wrong(prompt):
    """Large model: under the standard prompt, verbose and off by one on the first two problems
    (2+2, 3+3); asked to be brief, brief and right."""
    right = int(brief_right(prompt))
    if "briefly" in prompt:
        return str(right)
    wrong = right + 1 if right in (4, 6) else right
    return f"first I add the two numbers carefully and I get {wrong}"


def run(models=None, **kw):
    models = models or {"small": brief_right, "large": verbose_wrong}
    return PromptSensitivityHarness(models, PROBLEMS, variants=VARIANTS, **kw).run()


def test_subset_and_gaps_on_verbose_wrong_vs_brief_right():
    r = run()
    assert r.inverse_scaling_subset().tolist() == [0, 1]
    assert r.inverse_scaling_subset(variant="brief").tolist() == []
    sub = r.gap("standard", r.inverse_scaling_subset())
    assert (sub.mean, sub.lo, sub.hi, sub.n) == (-1.0, -1.0, -1.0, 2)
    assert r.gap("brief", [0, 1]).mean == 0.0
    assert r.gap_change("brief", [0, 1]).mean == 1.0
    overall = r.gap("standard")  # per problem [-1, -1, 0, 0]
    half = T_975_3 * np.std([-1, -1, 0, 0], ddof=1) / 2
    assert overall.mean == -0.5
    assert overall.lo == pytest.approx(-0.5 - half, abs=1e-12)
    assert overall.hi == pytest.approx(-0.5 + half, abs=1e-12)
    assert r.accuracy("large", "standard") == 0.5 and r.accuracy("large", "brief") == 1.0
    assert r.mean_length("large", "standard") == 11.0 and r.mean_length("small", "brief") == 1.0
    assert r.mean_length("large", "standard", [0]) == 11.0
    s = r.summary()
    assert s["n_subset"] == 2 and s["acc_large_standard_subset"] == 0.0
    assert s["gap_brief_subset"] == (0.0, 0.0, 0.0)
    assert s["len_large_brief_all"] == 1.0


def test_ladder_uses_first_and_last_unless_named_and_chars_length():
    models = {"small": brief_right, "mid": verbose_wrong, "large": brief_right}
    r = run(models, length="chars")
    assert r.inverse_scaling_subset().tolist() == []
    assert r.inverse_scaling_subset(large="mid").tolist() == [0, 1]
    assert r.inverse_scaling_subset(small="mid").tolist() == []
    assert r.mean_length("small", "standard") == 1.0  # "4", "6", "2", "5"
    with pytest.raises(ValueError, match="model must be one of"):
        r.accuracy("huge", "standard")
    with pytest.raises(ValueError, match="variant must be one of"):
        r.gap("terse")


def test_progress_is_reported_per_batch_up_to_the_total():
    calls = []
    harness = PromptSensitivityHarness({"a": brief_right, "b": verbose_wrong}, PROBLEMS,
                                       variants=VARIANTS, batch_size=3)
    harness.run(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 16), (4, 16), (7, 16), (8, 16), (11, 16), (12, 16), (15, 16), (16, 16)]


def test_final_integer():
    assert final_integer("The answer is 12.") == 12
    assert final_integer("-3 then 5") == 5 and final_integer("x = -7") == -7
    assert final_integer("1,200 apples") == 1200 and final_integer("none") is None


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="problems is empty"):
        PromptSensitivityHarness({"a": brief_right, "b": brief_right}, [])
    with pytest.raises(TypeError, match=r"models\['big'\]: Linear is not a causal LM"):
        PromptSensitivityHarness({"a": brief_right, "big": nn.Linear(2, 2)}, PROBLEMS)
    with pytest.raises(TypeError, match=r"models\['b'\]: expected a callable"):
        PromptSensitivityHarness({"a": brief_right, "b": 3}, PROBLEMS)
    with pytest.raises(ValueError, match="one or more models"):
        PromptSensitivityHarness({}, PROBLEMS)
    with pytest.raises(ValueError, match="got list"):
        PromptSensitivityHarness([brief_right], PROBLEMS)
    single = PromptSensitivityHarness({"a": verbose_wrong}, PROBLEMS, variants=VARIANTS).run()
    assert single.accuracy("a", "standard") == 0.5 and single.summary()["n_subset"] == 0
    with pytest.raises(ValueError, match="at least two"):
        single.inverse_scaling_subset()
    with pytest.raises(ValueError, match="variants"):
        PromptSensitivityHarness({"a": brief_right, "b": brief_right}, PROBLEMS, variants={"x": "Q"})
    with pytest.raises(ValueError, match="reference"):
        PromptSensitivityHarness({"a": brief_right, "b": brief_right}, PROBLEMS, variants={"x": "{problem}"})
    with pytest.raises(ValueError, match="length"):
        PromptSensitivityHarness({"a": brief_right, "b": brief_right}, PROBLEMS, length="tokens")
    with pytest.raises(ValueError, match=r"problems\[0\]"):
        PromptSensitivityHarness({"a": brief_right, "b": brief_right}, [(1, 2)])
    with pytest.raises(ValueError, match="max_new_tokens"):
        ByteGPTGenerator(nn.Linear(1, 1), max_new_tokens=0)
    with pytest.raises(ValueError, match="time_limit"):
        ByteGPTGenerator(nn.Linear(1, 1), time_limit=0)


class Scripted(nn.Module):
    """Byte 'model' that always emits the next byte of ``script`` after the prompt (a
    position-indexed script), optionally sleeping per forward."""

    def __init__(self, script: bytes, prompt_len: int, sleep: float = 0.0):
        super().__init__()
        self.script, self.prompt_len, self.sleep, self.seq_len = script, prompt_len, sleep, 64

    def forward(self, ids):
        time.sleep(self.sleep)
        logits = torch.zeros(*ids.shape, 256)
        for t in range(ids.shape[1]):
            k = t + 1 - self.prompt_len
            logits[:, t, self.script[k] if 0 <= k < len(self.script) else ord("z")] = 1.0
        return logits


def test_byte_generator_stops_at_newline_and_max_new_tokens():
    assert ByteGPTGenerator(Scripted(b"ab\ncd", 2), max_new_tokens=10)("Q:") == "ab"
    assert ByteGPTGenerator(Scripted(b"abcdef", 2), max_new_tokens=3)("Q:") == "abc"
    with pytest.raises(ValueError, match="max_new_tokens=100"):
        ByteGPTGenerator(Scripted(b"a", 2), max_new_tokens=100)("Q:")


def test_byte_generator_respects_the_time_limit():
    gen = ByteGPTGenerator(Scripted(b"a" * 60, 2, sleep=0.03), max_new_tokens=60, time_limit=0.1)
    start = time.perf_counter()
    out = gen("Q:")
    assert time.perf_counter() - start < 0.25
    assert 1 <= len(out) <= 5 and gen.timed_out == 1


def test_batched_decoding_equals_one_prompt_at_a_time():
    torch.manual_seed(0)
    gen = as_generator(GPT(n_layer=1, d_model=16, n_head=2, seq_len=40, vocab_size=256),
                       max_new_tokens=6)
    prompts = ["a", "bcd", "efghij"]
    assert gen.batch(prompts) == [gen(p) for p in prompts]


class FakeHF(nn.Module):
    """Minimal Hugging Face causal LM: ``generate`` appends the bytes of ' 7\\nmore'."""

    class config:  # noqa: N801 (mirrors the HF attribute name)
        is_encoder_decoder = False

    def can_generate(self):
        return True

    def generate(self, input_ids, attention_mask=None, **kw):
        self.kw, self.prompt = kw, input_ids[0]
        tail = torch.tensor([list(b" 7\nmore")])[:, : kw["max_new_tokens"]]
        return torch.cat([input_ids, tail], dim=1)


class ByteTokenizer:
    eos_token_id = 0

    def __call__(self, text, return_tensors=None):
        ids = torch.tensor([list(text.encode())])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids.tolist()).decode()

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return f"<user>{messages[0]['content']}<bot>"


def test_hf_causal_lm_is_wrapped_with_greedy_bounded_decoding():
    model = FakeHF()
    gen = as_generator(model, ByteTokenizer(), max_new_tokens=5, time_limit=2.0)
    assert isinstance(gen, HFGenerator)
    assert gen("Q: 3+4?") == " 7"
    assert model.kw["max_new_tokens"] == 5 and model.kw["max_time"] == 2.0
    assert model.kw["do_sample"] is False
    with pytest.raises(TypeError, match="tokenizer"):
        as_generator(model, None)
    chat = HFGenerator(model, ByteTokenizer(), max_new_tokens=8, stop="", chat=True)
    assert chat("hi") == " 7\nmore"
    assert bytes(model.prompt.tolist()) == b"<user>hi<bot>"
