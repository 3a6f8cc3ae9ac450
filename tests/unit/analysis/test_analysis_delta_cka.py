"""Delta-CKA in a shared PCA basis between two checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from layerwise.analysis import DegenerateActivationWarning, delta_cka, linear_cka


def _activations(n: int = 400) -> torch.Tensor:
    """Three strong directions (97% of the variance) and five weak ones (std 0.4)."""
    strong = torch.randn(n, 3, dtype=torch.float64) * torch.tensor([4.0, 3.0, 2.0], dtype=torch.float64)
    return torch.cat([strong, 0.4 * torch.randn(n, 5, dtype=torch.float64)], dim=1)


def test_zero_for_identical_and_full_basis_is_plain_cka():
    h = _activations()
    after = h + 0.3 * torch.randn_like(h)
    assert delta_cka(h, h) == pytest.approx(0.0, abs=1e-12)
    assert delta_cka(h, after, variance=1.0) == pytest.approx(1.0 - linear_cka(h, after), abs=1e-10)


def test_low_variance_directions_are_dropped():
    h = _activations()
    after = h.clone()
    after[:, 3:] = 0.4 * torch.randn(400, 5, dtype=torch.float64)  # only the weak directions change
    full = delta_cka(h, after, variance=1.0)
    assert full > 1e-4
    assert delta_cka(h, after) < full / 100  # the 95% basis keeps only the strong directions


def test_grows_with_the_size_of_the_change():
    h = _activations()
    small = delta_cka(h, h + 0.2 * torch.randn_like(h))
    large = delta_cka(h, h + 2.0 * torch.randn_like(h))
    assert 0.0 < small < large <= 1.0


def test_degenerate_and_bad_arguments():
    h = _activations(50)
    with pytest.warns(DegenerateActivationWarning):
        assert math.isnan(delta_cka(torch.zeros(50, 8), h))
    bad = h.clone()
    bad[0, 0] = float("inf")
    with pytest.warns(DegenerateActivationWarning):
        assert math.isnan(delta_cka(h, bad))
    with pytest.raises(ValueError, match="variance"):
        delta_cka(h, h, variance=0.0)
    with pytest.raises(ValueError, match="same samples"):
        delta_cka(h, h[:10])
