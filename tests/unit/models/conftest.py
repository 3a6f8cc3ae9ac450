"""Shared helpers for the reference-model tests: a tiny training loop and a leak check."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise import layers


def _fit(model: nn.Module, x: Tensor, y: Tensor, *, steps: int = 30, lr: float = 1e-2):
    """Adam on one fixed batch; returns (initial loss, final loss) in the model's mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps + 1):
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses[0], losses[-1]


def _no_activation_refs(model: nn.Module) -> None:
    """No module keeps a plain tensor attribute (an activation) after forward."""
    for name, module in model.named_modules():
        for key, value in vars(module).items():
            if key.startswith("_"):
                continue  # _parameters, _buffers, _modules, hook dicts
            assert not isinstance(value, Tensor), f"{name or 'model'}.{key} holds a tensor"
        hooks = (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks)
        assert not any(hooks), f"{name or 'model'} has leftover hooks"


@pytest.fixture
def fit() -> Callable:
    return _fit


@pytest.fixture
def no_activation_refs() -> Callable:
    return _no_activation_refs


@pytest.fixture
def block_outputs() -> Callable:
    """Run ``model(x)`` and return each ``blocks.N`` output (detached), via forward hooks."""

    return layers.block_outputs
