"""RDP accountant: closed forms, monotonicity, agreement with opacus when it is installed."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from layerwise.transforms.accountant import (
    DEFAULT_ALPHAS,
    RDPAccountant,
    epsilon,
    rdp,
    rdp_sampled_gaussian,
    rdp_to_epsilon,
)

SETTINGS = [(0.01, 1.0, 1000), (0.001, 0.6, 10_000), (0.1, 2.0, 50), (0.05, 0.8, 300)]


@pytest.mark.parametrize("alpha", [1.5, 2, 7.3, 32])
def test_q_one_is_the_gaussian_mechanism(alpha):
    assert rdp_sampled_gaussian(1.0, 1.7, alpha) == pytest.approx(alpha / (2 * 1.7**2))


def test_integer_and_fractional_series_agree_near_integers():
    # The fractional series evaluated just off an integer alpha tends to the finite sum.
    for q, sigma in [(0.01, 1.0), (0.2, 0.9)]:
        for a in (2, 5, 11):
            assert rdp_sampled_gaussian(q, sigma, a + 1e-7) == pytest.approx(
                rdp_sampled_gaussian(q, sigma, a), rel=1e-5
            )


def test_alpha_two_closed_form():
    # A_2 = (1-q)^2 + 2q(1-q) + q^2 e^{1/sigma^2} = 1 + q^2 (e^{1/sigma^2} - 1).
    q, s = 0.07, 1.3
    assert rdp_sampled_gaussian(q, s, 2) == pytest.approx(math.log1p(q * q * math.expm1(1 / s**2)))


def test_monotone_in_steps_noise_and_rate():
    base = epsilon(q=0.01, sigma=1.0, steps=1000, delta=1e-5)
    assert epsilon(q=0.01, sigma=1.0, steps=2000, delta=1e-5) > base
    assert epsilon(q=0.01, sigma=0.8, steps=1000, delta=1e-5) > base
    assert epsilon(q=0.02, sigma=1.0, steps=1000, delta=1e-5) > base
    assert epsilon(q=0.01, sigma=1.0, steps=1000, delta=1e-7) > base
    r = rdp(0.01, 1.0, 1, DEFAULT_ALPHAS)
    assert np.all(np.diff(r) >= 0)  # RDP grows with alpha


def test_edge_cases_and_conversion():
    assert rdp_sampled_gaussian(0.0, 1.0, 3) == 0
    assert math.isinf(rdp_sampled_gaussian(0.5, 0.0, 3))
    r = rdp(0.01, 1.0, 1000)
    assert rdp_to_epsilon(r, 1e-5, conversion="classic")[0] > rdp_to_epsilon(r, 1e-5)[0]
    with pytest.raises(ValueError):
        rdp_to_epsilon(r, 1e-5, conversion="nope")


def test_accountant_composes_history():
    acc = RDPAccountant()
    for _ in range(3):
        acc.step(q=0.01, sigma=1.0, steps=100)
    acc.step(q=0.02, sigma=1.2, steps=50)
    assert acc.history == [(0.01, 1.0, 300), (0.02, 1.2, 50)]
    expected = rdp(0.01, 1.0, 300) + rdp(0.02, 1.2, 50)
    assert acc.epsilon(1e-5) == pytest.approx(rdp_to_epsilon(expected, 1e-5)[0])


@pytest.mark.skipif(
    importlib.util.find_spec("opacus") is None, reason="opacus not installed (the [dp] extra)"
)
@pytest.mark.parametrize(("q", "sigma", "steps"), SETTINGS)
def test_matches_opacus(q, sigma, steps):
    from opacus.accountants import RDPAccountant as OpacusRDP

    theirs = OpacusRDP()
    theirs.history = [(sigma, q, steps)]
    ours = epsilon(q=q, sigma=sigma, steps=steps, delta=1e-5, alphas=OpacusRDP.DEFAULT_ALPHAS)
    assert ours == pytest.approx(theirs.get_epsilon(1e-5), rel=1e-6)


def test_docstring_example():
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module("layerwise.transforms.accountant")).failed == 0
