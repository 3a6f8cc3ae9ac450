"""Projection heads and the pre/post probe against naive references."""

import pytest
import torch
from torch import nn

from layerwise.analysis import probe_accuracy
from layerwise.nn.heads import ProjectionHead, ReweightHead, pre_post_features, pre_post_probe


def test_reweight_head_is_kappa_to_minus_i_and_not_trainable():
    head = ReweightHead(5, kappa=1.2)
    x = torch.randn(3, 5)
    ref = torch.stack([x[:, i] * 1.2 ** (-i) for i in range(5)], 1)
    torch.testing.assert_close(head(x), ref)
    assert list(head.parameters()) == []
    assert torch.equal(ReweightHead(4, kappa=1.0)(x[:, :4]), x[:, :4])
    with pytest.raises(ValueError):
        ReweightHead(3, kappa=0.0)


def test_projection_head_is_linear_relu_linear():
    head = ProjectionHead(4, 3, hidden=7)
    x = torch.randn(2, 4)
    ref = head.fc2(torch.relu(head.fc1(x)))
    torch.testing.assert_close(head(x), ref)
    assert head.fc1.out_features == 7


def test_pre_post_probe_sees_information_the_head_throws_away():
    torch.manual_seed(0)
    labels = torch.arange(80) % 2
    x = torch.randn(80, 4)
    x[:, 3] += 4.0 * labels  # only feature 3 carries the label
    encoder = nn.Identity()
    head = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(4)[:3])  # drops feature 3
    out = pre_post_probe(encoder, head, x, labels, folds=4)
    feats = pre_post_features(encoder, head, x)
    ref = probe_accuracy(feats, labels, folds=4)
    assert out["pre"] == ref["pre"][0] and out["post"] == ref["post"][0]
    assert out["pre"] > 0.95 and out["post"] < 0.75 and out["gap"] == out["pre"] - out["post"]


def test_probe_restores_training_mode():
    enc, head = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)), nn.Linear(3, 2)
    enc.train()
    labels = torch.arange(20) % 2
    pre_post_probe(enc, head, torch.randn(20, 3), labels, folds=2)
    assert enc.training and head.training
