"""Per-layer linear probes: separable labels, random labels, determinism, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layerwise.analysis import DegenerateActivationWarning, probe_accuracy


def test_separable_labels_near_perfect_and_random_labels_near_chance():
    x = torch.randn(240, 10)
    w = torch.randn(10)
    margin = x @ w
    keep = margin.abs() > 0.3  # a margin makes the classes linearly separable
    x, separable = x[keep], (margin[keep] > 0).long()
    random_labels = torch.randint(0, 2, (x.shape[0],))
    acc = probe_accuracy({"blocks.0": x}, separable)
    assert acc["blocks.0"][0] > 0.97
    chance = probe_accuracy({"blocks.0": x}, random_labels)["blocks.0"]
    assert abs(chance[0] - random_labels.float().mean().clamp(min=0.5).item()) < 0.15


def test_three_classes_strings_and_determinism():
    centres = np.array([[0, 0], [4, 0], [0, 4]], dtype=float)
    labels = np.repeat(["cat", "dog", "eel"], 30)
    feats = {
        "early": np.repeat(centres, 30, axis=0) + np.random.default_rng(0).normal(size=(90, 2)) * 0.3,
        "late": np.random.default_rng(1).normal(size=(90, 3, 2)),  # flattened per sample
    }
    a, b = probe_accuracy(feats, labels, folds=3), probe_accuracy(feats, labels, folds=3)
    assert a == b and list(a) == ["early", "late"]
    assert a["early"][0] == 1.0 and a["late"][0] < 0.6


def test_bad_inputs():
    x = torch.randn(20, 3)
    with pytest.raises(ValueError, match="two classes"):
        probe_accuracy({"l": x}, torch.zeros(20))
    with pytest.raises(ValueError, match="folds"):
        probe_accuracy({"l": x}, torch.tensor([0] * 17 + [1] * 3))
    with pytest.raises(ValueError, match="labels"):
        probe_accuracy({"l": x}, torch.arange(10) % 2)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.warns(DegenerateActivationWarning):
        mean, std = probe_accuracy({"l": bad}, torch.arange(20) % 2)["l"]
    assert math.isnan(mean) and math.isnan(std)
