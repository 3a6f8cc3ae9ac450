"""Study ``brevity``: does a brevity instruction shrink the large-minus-small gap on the
inverse-scaling problems of a ladder of tiny GPTs?

Brevity Constraints Reverse Performance Hierarchies in Language Models (Hakim, 2026, arXiv
2604.00025): on the 7.7% of problems where small models beat large ones, the large models' answers
are 59% longer, and adding "answer in under 50 words" to the prompt closes 67% of the gap (GSM8K:
from -13.1 to +7.7 pp). Measured with :class:`layerwise.eval.PromptSensitivityHarness`.

Reproduction (shared/papers/SPECS-B.md, paper 9; the spec judges a real ladder not reproducible
offline): a ladder of byte-level :class:`layerwise.models.GPT` s (``layers`` x ``widths``,
smallest first), trained per seed from scratch on generated two-step word problems
(:func:`layerwise.data.word_problems`). The training text makes the instruction meaningful: a third
of the examples are ``"Q: {question}\\nA: {worked solution}"`` (standard), a third
``"Q: {question} Solve it.\\nA: {worked solution}"`` (placebo) and a third
``"Q: {question} Be brief.\\nA: The answer is N."`` (brief); the loss covers only the answer. Every
model then answers ``n_eval`` held-out problems under the three prompts (greedy, at most
``max_new_tokens`` bytes, ``time_limit`` seconds per batch); the last integer is graded.

The inverse-scaling subset (the smallest model right, the largest wrong, standard prompt) has a gap
of -1 by construction, so any re-measurement regresses toward the mean and "closes" it: the
paper's raw closure (gap under brief on the subset + 1) is no evidence by itself. A re-measurement
that carried no information about the selection would land, on average, on the brief prompt's
gap over all problems; the judged number is therefore, per seed, ``brevity_effect =
gap_brief(subset) - gap_brief(all)``: how much more the brief prompt favours the large model on
the inverse-scaling problems than on problems at large. It is positive only if those problems are
specifically the ones brevity rescues (the paper's mechanism: large models fail them by
elaborating); shared difficulty (the small model's success marks easy problems, the large one's
failure hard ones) pushes it down, so the test is conservative. Rule (descriptive): above 0 by
at least 0.1. Why 0.1: the paper's closure is 67% of a 28.4 pp gap, 19 pp of accuracy; a
subset-specific share of at least about half of that, 10 pp, is what we would call a shrink. A
seed with an empty subset scores 0 (no evidence). Secondary (judged, not deciding): the raw
closure (``closure_brief``, the paper's measurement, regression included) above 0 by 0.1; the
brief closure beyond the placebo's (``placebo_contrast`` = closure_brief - closure_placebo; the
placebo prompt asks for the same worked answer in other words, so its re-measurement is more
correlated with the standard one than the brief's is: ``agree_*`` report how often each model's
grade matches its standard grade) above 0 by 0.1; the brief prompt shortens the largest model's
answers at least twofold (``log_len_ratio`` below 0 by ln 2). Reported: accuracy and length of
every model under every prompt, overall gaps, the gap on the subset under brief (> 0 is the
paper's "reversal"). This rule replaced a first one (brief minus placebo closure, now secondary)
before any full-size result was seen, when the placebo's higher correlation was noticed.
Gate: the largest model solves at least half the held-out problems under the standard prompt
(answers span 0-27); below that the ladder has not learned the task and nothing is judged.

Deviations: 3 tiny models on 1 task instead of 31 LLMs on 5 benchmarks; a model's size is its
only difference within a seed (same data, same steps), so "large" is also "better trained per
step"; no contamination checks; SmolLM2-135M is left out of the judged ladder (one real model is
not a ladder, and it costs seconds per answer on this CPU). :func:`smollm2_brevity` measures it
beside, not judged: on 20 held-out problems (chat template, greedy, <= 96 tokens, 1 thread) it
solved 1/20 plainly and 3/20 with "Answer in under 50 words.", in 62 vs 9 words on average and
4.9 vs 1.3 s per answer (126 s in all, loading included): brevity shortened its answers sevenfold
and did not hurt, at an accuracy too near the floor to say more. Calibration (seed 0, before the full
run, 60 held-out problems): after 800 steps a 1x32 model solved 3% (too few for a subset), 1x48 33%,
2x48 22%; 3x96 solved 68% after 600 steps; hence the ladder 1x48, 2x64, 3x96 and 800 steps.
Cost of the full size, measured: 1,091 s for 4 seeds (about 4.5 CPU-minutes per seed at one
thread: three models trained, 900 answers generated). The full run found inverse-scaling subsets
of only 1-2 of the 100 held-out problems per seed (the large model is right on 88%), so the
judged number rests on very few problems per seed.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from layerwise.data import IGNORE_INDEX, word_problems
from layerwise.eval import DEFAULT_VARIANTS, HFGenerator, PromptSensitivityHarness
from layerwise.models import GPT
from layerwise.studies._loops import warmup_cosine
from layerwise.studies._rules import Descriptive, Gate
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial

PROMPTS = {"standard": "Q: {problem}\nA:", "placebo": "Q: {problem} Solve it.\nA:",
           "brief": "Q: {problem} Be brief.\nA:"}


@dataclass(frozen=True)
class BrevityConfig:
    """Full size: models ``layers[k]`` x ``widths[k]`` (smallest first)."""

    layers: tuple[int, ...] = (1, 2, 3)
    widths: tuple[int, ...] = (48, 64, 96)
    n_head: int = 4
    seq_len: int = 160
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 50
    n_train: int = 6000
    n_eval: int = 100
    max_new_tokens: int = 64
    time_limit: float = 300.0


def training_text(question: str, verbose: str, brief: str, style: str) -> tuple[str, str]:
    """(prompt, answer) of one training example in ``style`` (a key of ``PROMPTS``)."""
    answer = brief if style == "brief" else verbose
    return PROMPTS[style].format(problem=question), f" {answer}\n"


def encode_batch(pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Byte ids (B, T) of prompt + answer, right-padded, and next-byte targets that are
    ``IGNORE_INDEX`` except on the answer."""
    seqs = [(list(p.encode()), list(a.encode())) for p, a in pairs]
    width = max(len(p) + len(a) for p, a in seqs) - 1
    x = torch.zeros(len(seqs), width, dtype=torch.long)
    y = torch.full((len(seqs), width), IGNORE_INDEX, dtype=torch.long)
    for k, (p, a) in enumerate(seqs):
        full = p + a
        x[k, : len(full) - 1] = torch.tensor(full[:-1])
        y[k, len(p) - 1: len(full) - 1] = torch.tensor(a)
    return x, y


def train_model(model: GPT, problems, cfg: BrevityConfig, t: Trial, offset: int, log,
                total: int) -> float:
    """AdamW on random (problem, style) examples; returns the mean loss of the last 50 steps
    (progress: ``offset * steps + step`` of ``total``)."""
    rng = random.Random(t.seed * 7919 + offset)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total=cfg.steps, warmup=cfg.warmup))
    styles, recent = tuple(PROMPTS), []
    for step in range(cfg.steps):
        rows = [rng.randrange(len(problems)) for _ in range(cfg.batch_size)]
        x, y = encode_batch([training_text(problems.questions[k], problems.verbose[k], problems.brief[k],
                                           rng.choice(styles)) for k in rows])
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        recent = (recent + [loss.item()])[-50:]
        if step % 50 == 0 or step == cfg.steps - 1:
            log.log(step, f"model{offset}", "train_loss", recent[-1])
            t.progress(offset * cfg.steps + step + 1, total)
    return sum(recent) / len(recent)


class BrevityStudy(Study):
    """A ladder of tiny GPTs under standard, placebo and brief prompts."""

    name = "brevity"
    paper = "Brevity Constraints Reverse Performance Hierarchies in Language Models (Hakim, 2026)"
    arxiv = "2604.00025"
    claim = ("On the inverse-scaling word problems of a ladder of tiny GPTs (the smallest right, the "
             "largest wrong), a brevity instruction favours the large model by at least 10 pp more "
             "than on all problems (beyond regression to the mean); secondary: it closes the gap by "
             "10 pp raw and beyond a placebo rewording, and halves the largest model's answer length")
    Config = BrevityConfig
    arms = {"ladder": {}}
    rule = Descriptive("brevity_effect", "higher", null=0.0, min_effect=0.1, arm="ladder", worst=0.0)
    also = (Descriptive("closure_brief", "higher", null=0.0, min_effect=0.1, arm="ladder", worst=0.0),
            Descriptive("placebo_contrast", "higher", null=0.0, min_effect=0.1, arm="ladder", worst=0.0),
            Descriptive("log_len_ratio", "lower", null=0.0, min_effect=math.log(2), arm="ladder"))
    gates = (Gate("acc_large_standard", above=0.5),)
    seeds = {"tiny": 1, "smoke": 1, "full": 4}
    cost_note = "4 seeds: each trains three models and generates 900 answers (about 4 CPU-minutes)"
    sizes = {
        "tiny": dict(layers=(1, 1), widths=(8, 16), n_head=2, steps=3, batch_size=4, n_train=20,
                     n_eval=4, max_new_tokens=8),
        "smoke": dict(steps=300, n_eval=40),
    }

    def trial(self, cfg: BrevityConfig, t: Trial) -> dict[str, float | list[float]]:
        if len(cfg.layers) != len(cfg.widths) or len(cfg.layers) < 2:
            raise ValueError(f"layers and widths must name the same >= 2 models, got {cfg.layers} "
                             f"and {cfg.widths}")
        held_out = word_problems(cfg.n_eval, seed=10_000 + t.seed)
        train = word_problems(cfg.n_train, seed=t.seed, exclude=held_out)
        models, losses = {}, []
        trained = len(cfg.layers) * cfg.steps
        total = trained + len(cfg.layers) * len(PROMPTS) * cfg.n_eval
        with t.runlog() as log:
            for k, (depth, width) in enumerate(zip(cfg.layers, cfg.widths, strict=True)):
                model = GPT(n_layer=depth, d_model=width, n_head=cfg.n_head, seq_len=cfg.seq_len,
                            vocab_size=128)
                losses.append(train_model(model, train, cfg, t, k, log, total))
                models[f"{depth}x{width}"] = model
        result = PromptSensitivityHarness(models, held_out, variants=PROMPTS,
                                          max_new_tokens=cfg.max_new_tokens,
                                          time_limit=cfg.time_limit, batch_size=cfg.n_eval).run(
            progress=lambda done, _: t.progress(trained + done, total))
        return {**self.readings(result), "train_loss": losses, "chance": 1 / 28}

    def sections(self, cfg: BrevityConfig, results: dict[str, list[dict]], out_dir) -> list:
        """Accuracy, answer length and agreement with the standard grade per model and prompt
        (means over seeds), and the inverse-scaling subset's size and gaps per seed."""
        from layerwise.report import Section

        rows = [r for r in results.get("ladder", []) if "acc_standard" in r]
        if not rows:
            return []
        names = [f"{d}x{w}" for d, w in zip(cfg.layers, cfg.widths, strict=True)]
        cells = []
        for v in PROMPTS:
            for k, name in enumerate(names):
                acc, words, agree = (np.mean([r[f"{q}_{v}"][k] for r in rows])
                                     for q in ("acc", "len", "agree"))
                cells.append(f"<tr><td>{name}</td><td>{v}</td><td>{acc:.3f}</td><td>{words:.1f}</td>"
                             f"<td>{agree:.3f}</td></tr>")
        head = ("<tr><th>model</th><th>prompt</th><th>accuracy</th><th>words</th>"
                "<th>agrees with standard</th></tr>")
        seeds = "".join(f"<tr><td>{s}</td><td>{r['n_subset']:.0f}</td><td>{r['subset_gap_brief']:.3f}</td>"
                        f"<td>{r['gap_brief_all']:.3f}</td><td>{r['closure_placebo']:.3f}</td></tr>"
                        for s, r in enumerate(rows))
        return [Section("Accuracy and length per model and prompt",
                        html=f"<table>{head}{''.join(cells)}</table>",
                        text="Means over seeds, on the held-out problems."),
                Section("Inverse-scaling subset per seed",
                        html="<table><tr><th>seed</th><th>problems</th><th>gap under brief (subset)</th>"
                             "<th>gap under brief (all)</th><th>closure under placebo</th></tr>"
                             f"{seeds}</table>",
                        text="Gap = large minus small accuracy; on the subset it is -1 under the "
                             "standard prompt by construction.")]

    @staticmethod
    def readings(result) -> dict[str, float | list[float]]:
        """The rule's and the report's numbers from one harness result."""
        subset = result.inverse_scaling_subset()
        large = result.models[-1]
        out: dict[str, float | list[float]] = {"n_subset": float(subset.size)}
        standard = result.correct[:, result.variants.index("standard")]
        for k, v in enumerate(result.variants):
            out[f"acc_{v}"] = [result.accuracy(m, v) for m in result.models]
            out[f"len_{v}"] = [result.mean_length(m, v) for m in result.models]
            out[f"agree_{v}"] = (result.correct[:, k] == standard).mean(axis=1).tolist()
            out[f"gap_{v}_all"] = result.gap(v).mean
        if subset.size:
            for v in ("placebo", "brief"):
                out[f"closure_{v}"] = result.gap_change(v, subset).mean
            out["subset_gap_brief"] = result.gap("brief", subset).mean
            out["brevity_effect"] = out["subset_gap_brief"] - out["gap_brief_all"]
            out["placebo_contrast"] = out["closure_brief"] - out["closure_placebo"]
        else:  # no inverse-scaling problem: no evidence of a shrink
            out.update(closure_placebo=math.nan, closure_brief=math.nan, subset_gap_brief=math.nan,
                       brevity_effect=0.0, placebo_contrast=math.nan)
        out["acc_large_standard"] = result.accuracy(large, "standard")
        out["log_len_ratio"] = math.log(max(result.mean_length(large, "brief"), 1e-3)
                                        / max(result.mean_length(large, "standard"), 1e-3))
        return out


def smollm2_brevity(n_problems: int = 5, *, max_new_tokens: int = 96, time_limit: float = 60.0,
                    load: Callable[[str], tuple[Any, Any]] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Optional extra, not judged: SmolLM2-135M (``make pretrained``; loaded by
    :func:`layerwise.depth.cli.load_model`) answers ``n_problems`` held-out word problems as a
    chat user turn, plain and with "Answer in under 50 words." (greedy, at most
    ``max_new_tokens`` tokens and ``time_limit`` seconds each); accuracy, mean words and seconds
    per answer under each prompt, and the wall time."""
    if load is None:
        from layerwise.depth.cli import load_model as load
    start = time.perf_counter()
    model, tokenizer = load("smollm2")
    gen = HFGenerator(model.eval(), tokenizer, max_new_tokens=max_new_tokens, time_limit=time_limit,
                      stop="", chat=True)
    problems = word_problems(n_problems, seed=20_000)
    result = PromptSensitivityHarness({"smollm2": gen}, problems, variants=DEFAULT_VARIANTS,
                                      batch_size=1).run(progress)
    out = {"n_problems": float(n_problems), "timed_out": float(gen.timed_out)}
    for k, v in enumerate(result.variants):
        out[f"acc_{v}"] = result.accuracy("smollm2", v)
        out[f"words_{v}"] = result.mean_length("smollm2", v)
        out[f"seconds_{v}"] = float(result.seconds[0, k].mean())
    out["seconds"] = time.perf_counter() - start
    return out
