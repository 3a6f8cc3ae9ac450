"""word_problems: answers follow the arithmetic, draws are seeded and distinct, held-out sets excluded."""

import re

import pytest

from layerwise.data import word_problems
from layerwise.data._word_problems import FORMS


def test_answers_follow_the_worked_arithmetic():
    wp = word_problems(300, seed=3)
    for q, a, v, b, key in zip(wp.questions, wp.answers, wp.verbose, wp.brief, wp.keys, strict=True):
        form, _, _, x, y, z = key
        ops = FORMS[form][1]
        first = x + y if ops[0] == "+" else x - y
        assert a == (first + z if ops[1] == "+" else first - z)
        assert first >= 0 and 0 <= a <= 27 and all(1 <= n <= 9 for n in (x, y, z))
        assert b == f"The answer is {a}." and v.endswith(" " + b)
        assert f"{first}{ops[1]}{z}={a}." in v
        assert [int(n) for n in re.findall(r"\d+", q)] == [x, y, z]


def test_seeded_distinct_and_excluding_a_held_out_set():
    held = word_problems(50, seed=1)
    assert word_problems(50, seed=1) == held and word_problems(50, seed=2) != held
    train = word_problems(2000, seed=0, exclude=held)
    assert len(set(train.keys)) == 2000 and not set(train.keys) & set(held.keys)


def test_bad_n():
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 50000\]"):
        word_problems(0)
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 49998\]"):
        word_problems(49_999, exclude=word_problems(2))
