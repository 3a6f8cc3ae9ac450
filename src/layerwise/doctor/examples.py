"""Ready recipes for trying the doctor on built-in data: a digits MLP with a known fault.

Each is a function of the seed returning a :class:`layerwise.doctor.Setup`, so
``layerwise doctor RUN --verify`` can rebuild it (log it with
``Monitor(meta={"recipe": "layerwise.doctor.examples:dead_block"})``, or :func:`train` it with
that meta). Example::

    >>> from layerwise.doctor.examples import dead_block
    >>> setup = dead_block(0)
    >>> setup.steps, tuple(setup.batch(0)[0].shape)
    (300, (64, 64))
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from layerwise.doctor._setup import Setup

BATCH = 64


def digits_mlp(seed: int, *, lr: float = 0.05, steps: int = 300, dead: int | None = None) -> Setup:
    """A 4-block ReLU MLP (width 64, Kaiming init) on the 8x8 digits, SGD, batches of 64 drawn
    by a seeded generator; ``dead``: the block whose biases start at -50 (no unit ever fires)."""
    from layerwise.data import digits
    from layerwise.models import MLP

    split = digits(flat=True, seed=seed)
    torch.manual_seed(seed)
    model = MLP(in_dim=64, out_dim=10, depth=4, width=64, init="kaiming")
    if dead is not None:
        with torch.no_grad():
            model.blocks[dead].linear.bias.fill_(-50.0)
    draws = torch.Generator().manual_seed(seed)
    order = torch.randint(0, len(split.y_train), (steps, BATCH), generator=draws)

    def batch(step: int):
        rows = order[step]
        return split.x_train[rows], split.y_train[rows]

    return Setup(model, torch.optim.SGD(model.parameters(), lr=lr), batch, F.cross_entropy, steps,
                 (split.x_val, split.y_val))


def healthy(seed: int) -> Setup:
    """The digits MLP as it should train."""
    return digits_mlp(seed)


def dead_block(seed: int) -> Setup:
    """Block 1 dead from the first step: every block above it sees constant input."""
    return digits_mlp(seed, dead=1)


def too_hot(seed: int) -> Setup:
    """A learning rate 40x too large (2.0): the loss blows up within a few steps."""
    return digits_mlp(seed, lr=2.0)
