"""Decision rules against reference implementations (scipy) and hand-worked cases."""

import itertools

import numpy as np
import pytest
from scipy import stats

from layerwise.studies import Descriptive, Equivalence, Gate, NonInferiority, Superiority
from layerwise.studies._stats import holm, t_interval

X = np.array([0.3, -0.1, 0.8, 0.45, 0.2, 0.05])


def test_t_interval_matches_scipy():
    iv = t_interval(X, null=0.1)
    ref = stats.ttest_1samp(X, 0.1)
    ci = ref.confidence_interval(0.95)
    assert (iv.lo, iv.hi) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert iv.p == pytest.approx(ref.pvalue, rel=1e-12)
    ci90 = stats.ttest_1samp(X, 0).confidence_interval(0.90)
    assert t_interval(X, level=0.90).lo == pytest.approx(ci90.low, rel=1e-12)


def test_t_interval_refuses_non_finite_values():
    with pytest.raises(ValueError, match="diverged"):
        t_interval([1.0, float("nan")])


def test_holm_matches_its_definition_on_all_orders():
    """Reject the k smallest p-values while p_(i) <= alpha / (m - i), stop at the first failure."""
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    for perm in itertools.permutations(p):
        got = holm(perm)
        order = np.argsort(perm)
        want = [False] * len(p)
        for i, j in enumerate(order):
            if perm[j] > 0.05 / (len(p) - i):
                break
            want[j] = True
        assert got == want
    assert holm([0.01, 0.04, 0.03, 0.005, 0.2]) == [True, False, False, True, False]


def test_superiority_needs_every_baseline_after_holm():
    b1 = np.zeros(6)
    t = X + 1.0
    weak = t - 0.3 + np.array([0.5, -0.6, 0.4, -0.5, 0.6, -0.4])  # a baseline the treatment barely beats
    rule = Superiority("m", "higher", treatment="t", baseline=("b1", "b2"))
    j = rule.judge({"t": t, "b1": b1, "b2": weak})
    assert j.verdict == "inconclusive" and set(j.comparisons) == {"b1", "b2"}
    assert "Holm-corrected over 2" in j.summary
    assert rule.judge({"t": t, "b1": b1, "b2": b1}).verdict == "holds"
    assert rule.judge({"t": -t, "b1": b1, "b2": b1}).verdict == "fails"


def test_lower_is_better_flips_the_sign():
    rule = Superiority("loss", "lower", treatment="t", baseline="b")
    assert rule.judge({"t": -1.0 - X, "b": np.zeros(6)}).verdict == "holds"
    assert rule.judge({"t": 1.0 + X, "b": np.zeros(6)}).verdict == "fails"


def test_non_inferiority_and_equivalence_on_worked_cases():
    ni = NonInferiority("acc", "higher", treatment="t", baseline="b", margin=0.5)
    slightly_worse = -0.1 + 0.05 * np.array([1, -1, 1, -1, 1, -1.0])
    assert ni.judge({"t": slightly_worse, "b": np.zeros(6)}).verdict == "holds"
    assert ni.judge({"t": slightly_worse - 1.0, "b": np.zeros(6)}).verdict == "fails"
    eq = Equivalence("acc", treatment="t", baseline="b", margin=0.5)
    assert eq.judge({"t": slightly_worse, "b": np.zeros(6)}).verdict == "holds"
    assert eq.judge({"t": slightly_worse + 2.0, "b": np.zeros(6)}).verdict == "fails"
    wide = np.array([1.0, -1.0, 0.9, -0.9, 1.1, -1.1])
    assert eq.judge({"t": wide, "b": np.zeros(6)}).verdict == "inconclusive"


def test_descriptive_is_a_one_sample_test_against_the_null():
    rule = Descriptive("log_ratio", "lower", null=0.0, arm="a")
    assert rule.judge({"a": -0.5 + 0.1 * X}).verdict == "holds"
    assert rule.judge({"a": 0.5 + 0.1 * X}).verdict == "fails"
    assert rule.judge({"a": X - X.mean()}).verdict == "inconclusive"


def test_gate_reads_reference_keys_and_any_mode():
    results = {"a": [{"acc": 0.11, "chance": 0.1}], "b": [{"acc": 0.9, "chance": 0.1}]}
    each = Gate("acc", above="chance", margin=0.05)
    (reason,) = each.failures(results, ["a", "b"])
    assert reason == "arm 'a' did not learn: acc 0.11 is not above chance 0.1 + 0.05 = 0.15"
    assert Gate("acc", above="chance", margin=0.05, which="any").failures(results, ["a", "b"]) == []
    nan = {"a": [{"acc": float("nan"), "chance": 0.1}]}
    assert each.failures(nan, ["a"])  # an arm with no finite value did not learn
    with pytest.raises(ValueError, match="exactly one"):
        Gate("acc")


def test_profile_ratio_of_a_vanished_first_layer_is_nan_not_an_error():
    from layerwise.studies._profiles import last_over_first

    assert last_over_first({"a": 2.0, "b": 1.0}) == 0.5
    assert np.isnan(last_over_first({"a": 0.0, "b": 1.0}))
    with pytest.raises(ValueError, match="two layers"):
        last_over_first({"a": 1.0})
