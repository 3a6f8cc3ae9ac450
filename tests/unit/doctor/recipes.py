"""Seeded recipes for the doctor's verify tests: a small MLP on a fixed 3-class task, with a fault."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from layerwise.doctor._setup import Setup
from layerwise.models import MLP


def _task(seed: int):
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(320, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return (x[:256], y[:256]), (x[256:], y[256:])


def _setup(seed: int, *, lr: float, steps: int = 150, dead_block: int | None = None,
           init: str | float = "kaiming", depth: int = 4, act: str = "relu") -> Setup:
    torch.manual_seed(seed)
    model = MLP(in_dim=8, out_dim=3, depth=depth, width=16, init=init, act=act)
    if dead_block is not None:  # every pre-activation of one block far below zero
        with torch.no_grad():
            model.blocks[dead_block].linear.bias.fill_(-50.0)
    (x, y), held = _task(seed)
    batch = lambda step: (x[(step % 4) * 64:(step % 4 + 1) * 64], y[(step % 4) * 64:(step % 4 + 1) * 64])  # noqa: E731
    return Setup(model, torch.optim.SGD(model.parameters(), lr=lr), batch, F.cross_entropy, steps, held)


def dead(seed: int) -> Setup:
    """Block 1 dead from the start."""
    return _setup(seed, lr=0.05, dead_block=1)


def saturated(seed: int) -> Setup:
    """Tanh units with weights at std 2: outputs near +-1 from the first step."""
    return _setup(seed, lr=0.05, act="tanh", init=2.0)


def healthy(seed: int) -> Setup:
    return _setup(seed, lr=0.05)


def dies_at_60(seed: int) -> Setup:
    """Healthy until block 1's biases are set far below zero before step 60."""
    setup = _setup(seed, lr=0.05)

    def kill(step: int, s: Setup) -> None:
        if step == 60:
            with torch.no_grad():
                s.model.blocks[1].linear.bias.fill_(-50.0)

    setup.before_step = kill
    return setup


def nan_batch(seed: int) -> Setup:
    """Healthy but for one batch of NaN inputs at step 40."""
    setup = _setup(seed, lr=0.05)
    inner = setup.batch

    def batch(step: int):
        x, y = inner(step)
        return (torch.full_like(x, float("nan")), y) if step == 40 else (x, y)

    setup.batch = batch
    return setup


def nan_loss(seed: int) -> Setup:
    """A loss that is NaN whatever the model does (a broken hand-written loss)."""
    setup = _setup(seed, lr=0.05, steps=20)
    setup.loss_fn = lambda out, y: F.cross_entropy(out, y) * float("nan")
    return setup


def bad_shard(seed: int) -> Setup:
    """Healthy but for steps 80-85, whose batches carry labels shifted by one class (a shard
    written with another label order)."""
    setup = _setup(seed, lr=0.05)
    inner = setup.batch

    def batch(step: int):
        x, y = inner(step)
        return (x, (y + 1) % 3) if 80 <= step < 86 else (x, y)

    setup.batch = batch
    return setup
