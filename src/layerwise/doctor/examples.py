"""Ready recipes for trying the doctor on built-in data: a digits MLP and a Markov-chain GPT,
healthy or with a known fault.

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


def gpt_markov(seed: int, *, lr: float = 3e-3, steps: int = 200, n_layer: int = 4,
               placement: str = "pre") -> Setup:
    """A 4-block GPT (d 64, 4 heads, context 32) learning a random order-1 Markov chain over 64
    tokens, Adam; held-out windows from the chain's validation split."""
    from layerwise.data import markov_tokens
    from layerwise.models import GPT

    corpus = markov_tokens(vocab_size=64, n_tokens=60_000, seed=seed)
    torch.manual_seed(seed)
    model = GPT(n_layer=n_layer, d_model=64, n_head=4, seq_len=32, vocab_size=64, placement=placement)
    draws = torch.Generator().manual_seed(seed)
    windows = [corpus.batch(32, 32, generator=draws) for _ in range(steps)]
    held = corpus.batch(64, 32, split="val", generator=torch.Generator().manual_seed(10_000 + seed))

    def loss_fn(logits, y):
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    return Setup(model, torch.optim.Adam(model.parameters(), lr=lr), windows.__getitem__, loss_fn,
                 steps, held)


def gpt_hot(seed: int) -> Setup:
    """The Markov GPT at Adam lr 3e-2 (10x): its attention logits grow into the thousands and
    block 0's attention collapses onto single keys (Wortsman et al. 2023, arXiv 2309.14322)."""
    return gpt_markov(seed, lr=3e-2)


def saturated(seed: int) -> Setup:
    """The digits MLP with tanh units and weights drawn at std 1 (8x Glorot's scale): every
    block's outputs sit near +-1 from the first step."""
    from layerwise.models import MLP

    setup = digits_mlp(seed)
    torch.manual_seed(seed)
    setup.model = MLP(in_dim=64, out_dim=10, depth=4, width=64, act="tanh", init=1.0)
    setup.optimizer = torch.optim.SGD(setup.model.parameters(), lr=0.05)
    return setup
