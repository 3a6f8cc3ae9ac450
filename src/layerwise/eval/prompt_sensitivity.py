"""Prompt-sensitivity harness: accuracy and response length of a ladder of models under prompt
variants, the inverse-scaling subset and large-minus-small gaps with intervals.

Brevity Constraints Reverse Performance Hierarchies in Language Models (Hakim, 2026, arXiv
2604.00025) evaluates models of many sizes on the same problems, finds the inverse-scaling
problems (the small models right, the large ones wrong), and asks whether a brevity instruction
("answer in under 50 words") shortens the large models' answers and closes their gap. Here the
models are an ordered ladder (first = smallest, last = largest); every model answers every problem
under every prompt variant (a template with ``{problem}``); a scorer grades each response (by
default: its last integer equals the answer) and ``length`` measures it (words by default). On the
result, :meth:`PromptSensitivityResult.inverse_scaling_subset` gives the problems the smallest
model gets right and the largest wrong under the reference variant, and
:meth:`PromptSensitivityResult.gap` the large-minus-small accuracy on any set of problems, with a
paired Student-t interval over problems (``layerwise.studies._stats.t_interval``).

Example, with scripted generators (the large one is verbose and wrong on the standard prompt,
brief and right when asked to be brief)::

    >>> from layerwise.eval import PromptSensitivityHarness
    >>> small = lambda p: "4"
    >>> large = lambda p: "4" if "under 50 words" in p else "Let me think it over at length: 5"
    >>> result = PromptSensitivityHarness({"small": small, "large": large},
    ...                                   [("2+2?", 4), ("1+3?", 4)]).run()
    >>> result.inverse_scaling_subset().tolist()
    [0, 1]
    >>> result.gap("standard").mean, result.gap("brief").mean
    (-1.0, 0.0)
    >>> result.mean_length("large", "standard"), result.mean_length("large", "brief")
    (8.0, 1.0)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from layerwise._registry import register
from layerwise.eval.generators import as_generator

if TYPE_CHECKING:
    from layerwise.studies._stats import Interval

PAPER = "Brevity Constraints Reverse Performance Hierarchies in Language Models (Hakim, 2026)"
ARXIV = "2604.00025"
DEFAULT_VARIANTS = {"standard": "{problem}", "brief": "{problem} Answer in under 50 words."}
_INT = re.compile(r"-?\d+")


def t_interval(values: np.ndarray, level: float) -> Interval:
    """The studies' Student-t interval (imported here: ``layerwise.studies`` imports this package)."""
    from layerwise.studies._stats import t_interval as interval

    return interval(values, level=level)


def final_integer(text: str) -> int | None:
    """The last integer in ``text`` (None if there is none)."""
    found = _INT.findall(text.replace(",", ""))
    return int(found[-1]) if found else None


def final_integer_scorer(response: str, answer: Any) -> bool:
    """True when the last integer of ``response`` equals ``answer``."""
    return final_integer(response) == int(answer)


def _length_fn(length: str | Callable[[str], float]) -> Callable[[str], float]:
    if callable(length):
        return length
    if length == "words":
        return lambda text: float(len(text.split()))
    if length == "chars":
        return lambda text: float(len(text))
    raise ValueError(f"length must be 'words', 'chars' or a callable text -> number, got {length!r}")


def _problems(problems: Any) -> tuple[list[str], list[Any]]:
    if hasattr(problems, "questions") and hasattr(problems, "answers"):
        pairs = list(zip(problems.questions, problems.answers, strict=True))
    else:
        pairs = list(problems)
    if not pairs:
        raise ValueError("problems is empty: give at least one (question, answer) pair")
    for k, pair in enumerate(pairs):
        if len(pair) != 2 or not isinstance(pair[0], str):
            raise ValueError(f"problems[{k}] must be a (question: str, answer) pair, got {pair!r}")
    return [q for q, _ in pairs], [a for _, a in pairs]


@dataclass(frozen=True)
class PromptSensitivityResult:
    """Every response, graded: arrays indexed ``[model, variant, problem]``."""

    models: tuple[str, ...]
    variants: tuple[str, ...]
    responses: tuple[tuple[tuple[str, ...], ...], ...]
    correct: np.ndarray
    lengths: np.ndarray
    seconds: np.ndarray
    reference: str = "standard"

    def _ladder(self) -> None:
        if len(self.models) < 2:
            raise ValueError(f"subsets and gaps compare models: give at least two, got {list(self.models)}")

    def _index(self, model: str | None, variant: str, default: int) -> tuple[int, int]:
        m = default if model is None else self._pos(self.models, model, "model")
        return m, self._pos(self.variants, variant, "variant")

    @staticmethod
    def _pos(names: tuple[str, ...], name: str, what: str) -> int:
        if name not in names:
            raise ValueError(f"{what} must be one of {', '.join(names)}, got {name!r}")
        return names.index(name)

    def _rows(self, problems: Sequence[int] | np.ndarray | None) -> np.ndarray:
        return np.arange(self.correct.shape[2]) if problems is None else np.asarray(problems, dtype=int)

    def accuracy(self, model: str, variant: str, problems: Sequence[int] | None = None) -> float:
        """Share of ``problems`` (default all; NaN when empty) that ``model`` gets right."""
        m, v = self._index(model, variant, 0)
        rows = self._rows(problems)
        return float(self.correct[m, v, rows].mean()) if rows.size else float("nan")

    def mean_length(self, model: str, variant: str, problems: Sequence[int] | None = None) -> float:
        """Mean response length of ``model`` under ``variant`` on ``problems`` (default all)."""
        m, v = self._index(model, variant, 0)
        rows = self._rows(problems)
        return float(self.lengths[m, v, rows].mean()) if rows.size else float("nan")

    def inverse_scaling_subset(self, small: str | None = None, large: str | None = None,
                               variant: str | None = None) -> np.ndarray:
        """Indices of the problems ``small`` (default: the first model) gets right and ``large``
        (default: the last) gets wrong under ``variant`` (default: the reference variant)."""
        self._ladder()
        s, v = self._index(small, variant or self.reference, 0)
        lg, _ = self._index(large, variant or self.reference, len(self.models) - 1)
        return np.flatnonzero(self.correct[s, v] & ~self.correct[lg, v])

    def gap_per_problem(self, variant: str, small: str | None = None,
                        large: str | None = None) -> np.ndarray:
        """Per problem: large correct (0/1) minus small correct, under ``variant``."""
        self._ladder()
        s, v = self._index(small, variant, 0)
        lg, _ = self._index(large, variant, len(self.models) - 1)
        return self.correct[lg, v].astype(float) - self.correct[s, v].astype(float)

    def gap(self, variant: str, problems: Sequence[int] | None = None, *, small: str | None = None,
            large: str | None = None, level: float = 0.95) -> Interval:
        """Large-minus-small accuracy on ``problems`` with a paired t-interval over problems."""
        return t_interval(self.gap_per_problem(variant, small, large)[self._rows(problems)], level=level)

    def gap_change(self, variant: str, problems: Sequence[int] | None = None, *,
                   reference: str | None = None, level: float = 0.95) -> Interval:
        """How much ``variant`` raises the large-minus-small gap over ``reference`` (default:
        the reference variant) on ``problems``: paired over problems."""
        ref = reference or self.reference
        diff = self.gap_per_problem(variant) - self.gap_per_problem(ref)
        return t_interval(diff[self._rows(problems)], level=level)

    def summary(self) -> dict[str, Any]:
        """Accuracy and mean length per model and variant, overall and on the inverse-scaling
        subset, and the gap per variant (mean and 95% interval) on both."""
        ladder = len(self.models) > 1
        subset = self.inverse_scaling_subset() if ladder else np.array([], dtype=int)
        out: dict[str, Any] = {"n_problems": int(self.correct.shape[2]), "n_subset": int(subset.size),
                               "subset": subset.tolist()}
        for name, rows in (("all", None), ("subset", subset)):
            for variant in self.variants:
                iv = self.gap(variant, rows) if ladder and (rows is None or rows.size) else None
                out[f"gap_{variant}_{name}"] = (iv.mean, iv.lo, iv.hi) if iv else (np.nan,) * 3
                for model in self.models:
                    out[f"acc_{model}_{variant}_{name}"] = self.accuracy(model, variant, rows)
                    out[f"len_{model}_{variant}_{name}"] = self.mean_length(model, variant, rows)
        return out


@register("prompt_sensitivity", kind="diagnostic", paper=PAPER, arxiv=ARXIV)
class PromptSensitivityHarness:
    """Every model of an ordered ladder (smallest first) answers every problem under every
    prompt variant; :meth:`run` returns a :class:`PromptSensitivityResult`.

    Args:
        models: name -> a callable ``prompt -> text``, a byte-level layerwise GPT or a Hugging
            Face causal LM (then give its tokenizer in ``tokenizers``); subsets and gaps need
            two or more, accuracy and length one.
        problems: ``(question, answer)`` pairs, or an object with ``questions`` and ``answers``
            (:func:`layerwise.data.word_problems`).
        variants: name -> template containing ``{problem}``; must include ``reference``.
        scorer: ``(response, answer) -> bool``; default: the last integer equals the answer.
        length: ``"words"``, ``"chars"`` or a callable text -> number (tokens, say).
        max_new_tokens, time_limit: bounds of the wrapped models' greedy decoding (seconds per
            call; a batch of ``batch_size`` prompts is one call).
    """

    def __init__(self, models: Mapping[str, Any], problems: Any, *,
                 variants: Mapping[str, str] = DEFAULT_VARIANTS,
                 scorer: Callable[[str, Any], bool] = final_integer_scorer,
                 length: str | Callable[[str], float] = "words", reference: str = "standard",
                 tokenizers: Mapping[str, Any] | None = None, max_new_tokens: int = 64,
                 time_limit: float = 60.0, batch_size: int = 64) -> None:
        if not isinstance(models, Mapping) or not models:
            got = "an empty mapping" if isinstance(models, Mapping) else type(models).__name__
            raise ValueError(f"models must map names to one or more models (smallest first), got {got}")
        self.questions, self.answers = _problems(problems)
        if not variants or any("{problem}" not in t for t in variants.values()):
            raise ValueError("variants must map names to templates that each contain '{problem}'")
        if reference not in variants:
            raise ValueError(f"reference must be one of the variants {list(variants)}, got {reference!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        tokenizers = tokenizers or {}
        self.generators = {name: as_generator(m, tokenizers.get(name), max_new_tokens=max_new_tokens,
                                              time_limit=time_limit, name=f"models[{name!r}]")
                           for name, m in models.items()}
        self.variants, self.scorer, self.reference = dict(variants), scorer, reference
        self.length, self.batch_size = _length_fn(length), batch_size

    def run(self, progress: Callable[[int, int], None] | None = None) -> PromptSensitivityResult:
        """Generate, grade and measure every response; ``progress(done, total)`` after each
        batch (total = models x variants x problems)."""
        shape = (len(self.generators), len(self.variants), len(self.questions))
        correct, lengths, seconds = np.zeros(shape, bool), np.zeros(shape), np.zeros(shape)
        responses, done, total = [], 0, int(np.prod(shape))
        for m, gen in enumerate(self.generators.values()):
            per_variant = []
            for v, template in enumerate(self.variants.values()):
                texts = []
                for lo in range(0, len(self.questions), self.batch_size):
                    prompts = [template.format(problem=q) for q in self.questions[lo:lo + self.batch_size]]
                    start = time.perf_counter()
                    out = gen.batch(prompts) if hasattr(gen, "batch") else [gen(p) for p in prompts]
                    seconds[m, v, lo:lo + len(prompts)] = (time.perf_counter() - start) / len(prompts)
                    texts += out
                    done += len(prompts)
                    if progress is not None:
                        progress(done, total)
                correct[m, v] = [bool(self.scorer(t, a)) for t, a in zip(texts, self.answers, strict=True)]
                lengths[m, v] = [self.length(t) for t in texts]
                per_variant.append(tuple(texts))
            responses.append(tuple(per_variant))
        return PromptSensitivityResult(tuple(self.generators), tuple(self.variants), tuple(responses),
                                       correct, lengths, seconds, self.reference)
