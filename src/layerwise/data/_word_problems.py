"""Generated two-step arithmetic word problems, each with a worked (verbose) and a brief answer.

Offline stand-in for GSM8K-style problems in the protocol of Brevity Constraints Reverse
Performance Hierarchies in Language Models (Hakim, 2026, arXiv 2604.00025): one problem such as
``"Ann has 7 figs, gets 5 more and gives away 3. How many figs now?"`` comes with a worked
solution ``"Ann starts with 7. 7+5=12. 12-3=9. The answer is 9."`` and a brief one ``"The
answer is 9."``; both end with the answer, so a scorer that reads the last integer grades either.
Operands are 1-9 (the second subtraction never goes below zero), so answers lie in 0-27.

Example::

    >>> from layerwise.data import word_problems
    >>> wp = word_problems(3, seed=0)
    >>> len(wp), wp.answers[0] == int(wp.brief[0].split()[-1].rstrip("."))
    (3, True)
    >>> wp.verbose[0].endswith(wp.brief[0])
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerwise._registry import register

NAMES = ("Ann", "Bob", "Cal", "Dee", "Eli", "Fay", "Gus", "Ivy")
ITEMS = ("figs", "pens", "cups", "eggs", "nuts", "hats", "toys", "keys")
# (question template, the two operations): a has a, then op1 b, then op2 c
FORMS = (
    ("{n} has {a} {i}, gets {b} more and gives away {c}. How many {i} now?", "+-"),
    ("{n} has {a} {i}, gives away {b} and gets {c} more. How many {i} now?", "-+"),
    ("{n} has {a} {i}, gets {b} more and then {c} more. How many {i} now?", "++"),
)
MAX_PROBLEMS = 50_000  # of about 114,000 distinct problems: rejection sampling stays fast


@dataclass(frozen=True)
class WordProblems:
    """Parallel lists: ``questions[k]``, its integer ``answers[k]``, the worked solution
    ``verbose[k]`` and the one-sentence ``brief[k]`` (a suffix of ``verbose[k]``); ``keys[k]`` is
    the tuple (form, name, item, a, b, c) that identifies the problem."""

    questions: tuple[str, ...]
    answers: tuple[int, ...]
    verbose: tuple[str, ...]
    brief: tuple[str, ...]
    keys: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.questions)


def _operands(rng: np.random.Generator, ops: str) -> tuple[int, int, int]:
    a, b, c = (int(v) for v in rng.integers(1, 10, size=3))
    if ops == "-+":
        b = int(rng.integers(1, a + 1))  # a - b >= 0
    elif ops == "+-":
        c = int(rng.integers(1, min(a + b, 9) + 1))
    return a, b, c


def _solve(key: tuple[int, ...]) -> tuple[str, int, str, str]:
    form, name, item, a, b, c = key
    template, ops = FORMS[form]
    n, i = NAMES[name], ITEMS[item]
    first = a + b if ops[0] == "+" else a - b
    answer = first + c if ops[1] == "+" else first - c
    question = template.format(n=n, i=i, a=a, b=b, c=c)
    brief = f"The answer is {answer}."
    verbose = f"{n} starts with {a}. {a}{ops[0]}{b}={first}. {first}{ops[1]}{c}={answer}. {brief}"
    return question, answer, verbose, brief


@register("word_problems", kind="dataset", paper="Brevity Constraints Reverse Performance Hierarchies "
          "in Language Models (Hakim, 2026)", arxiv="2604.00025")
def word_problems(n: int, *, seed: int = 0, exclude: WordProblems | None = None) -> WordProblems:
    """``n`` distinct problems drawn with ``seed``; none shares a key with ``exclude`` (a
    held-out set). Raises ValueError unless 1 <= n and n + len(exclude) <= ``MAX_PROBLEMS``."""
    banned = set(exclude.keys) if exclude is not None else set()
    if not isinstance(n, int) or not 1 <= n <= MAX_PROBLEMS - len(banned):
        raise ValueError(f"n must be an integer in [1, {MAX_PROBLEMS - len(banned)}] (MAX_PROBLEMS "
                         f"less the excluded problems), got {n!r}")
    rng = np.random.default_rng(seed)
    keys: dict[tuple[int, ...], None] = {}
    while len(keys) < n:
        form = int(rng.integers(len(FORMS)))
        key = (form, int(rng.integers(len(NAMES))), int(rng.integers(len(ITEMS))),
               *_operands(rng, FORMS[form][1]))
        if key not in banned:
            keys[key] = None
    rows = [_solve(k) for k in keys]
    q, a, v, b = (tuple(col) for col in zip(*rows, strict=True))
    return WordProblems(questions=q, answers=a, verbose=v, brief=b, keys=tuple(keys))
