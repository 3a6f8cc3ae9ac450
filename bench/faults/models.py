"""Small seeded recipes on the reference models, each ``recipe(seed) -> Setup`` for
:func:`layerwise.doctor._setup.train`: a digits MLP, CNN and ViT, and a GPT on a Markov token
stream. Seconds per run on one CPU thread. Faults are added by :mod:`faults.injections`."""

from __future__ import annotations

from functools import cache

import torch
from torch.nn import functional as F

from layerwise.doctor._setup import Setup

BATCH = 64


@cache
def _digits(flat: bool):
    from layerwise.data import digits

    return digits(flat=flat, seed=0)


def _optimizer(name: str, params, lr: float, **kw) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **kw)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **kw)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def _image_setup(model, seed: int, *, flat: bool, opt: str, lr: float, steps: int) -> Setup:
    split = _digits(flat)
    x, y = split.x_train, split.y_train
    if not flat:
        x = x.reshape(-1, 1, 8, 8)
    held_x = split.x_val if flat else split.x_val.reshape(-1, 1, 8, 8)
    order = torch.randint(0, len(y), (steps, BATCH), generator=torch.Generator().manual_seed(seed))

    def batch(step: int):
        rows = order[step]
        return x[rows], y[rows]

    return Setup(model, _optimizer(opt, model.parameters(), lr), batch, F.cross_entropy, steps,
                 (held_x, split.y_val))


def mlp(seed: int, *, depth: int = 4, width: int = 64, act: str = "relu", init: str | float = "kaiming",
        opt: str = "sgd", lr: float = 0.05, steps: int = 150) -> Setup:
    """An MLP (``depth`` blocks of ``width``) on the flattened 8x8 digits."""
    from layerwise.models import MLP

    torch.manual_seed(seed)
    model = MLP(in_dim=64, out_dim=10, depth=depth, width=width, act=act, init=init)
    return _image_setup(model, seed, flat=True, opt=opt, lr=lr, steps=steps)


def cnn(seed: int, *, channels: tuple[int, ...] = (8, 16, 16), opt: str = "sgd", lr: float = 0.05,
        steps: int = 120) -> Setup:
    """A CNN (conv-BN-ReLU-pool blocks) on the 8x8 digits."""
    from layerwise.models import CNN

    torch.manual_seed(seed)
    model = CNN(in_channels=1, num_classes=10, channels=channels, image_size=8)
    return _image_setup(model, seed, flat=False, opt=opt, lr=lr, steps=steps)


def vit(seed: int, *, n_layer: int = 3, d_model: int = 32, opt: str = "adam", lr: float = 2e-3,
        steps: int = 100, placement: str = "pre", init_std: float = 0.02) -> Setup:
    """A ViT (2x2 patches, 4 heads) on the 8x8 digits."""
    from layerwise.models import ViT

    torch.manual_seed(seed)
    model = ViT(image_size=8, patch_size=2, n_layer=n_layer, d_model=d_model, n_head=4,
                placement=placement, init_std=init_std)
    return _image_setup(model, seed, flat=False, opt=opt, lr=lr, steps=steps)


@cache
def _corpus(seed: int):
    from layerwise.data import markov_tokens

    return markov_tokens(vocab_size=32, n_tokens=20_000, seed=seed)


def gpt(seed: int, *, n_layer: int = 3, d_model: int = 32, opt: str = "adam", lr: float = 3e-3,
        steps: int = 100, placement: str = "pre", init_std: float = 0.02) -> Setup:
    """A GPT (4 heads, context 16) learning a random order-1 Markov chain over 32 tokens."""
    from layerwise.models import GPT

    corpus = _corpus(seed)
    torch.manual_seed(seed)
    model = GPT(n_layer=n_layer, d_model=d_model, n_head=4, seq_len=16, vocab_size=32,
                placement=placement, init_std=init_std)
    draws = torch.Generator().manual_seed(seed)
    windows = [corpus.batch(32, 16, generator=draws) for _ in range(steps)]
    held = corpus.batch(64, 16, split="val", generator=torch.Generator().manual_seed(10_000 + seed))

    def loss_fn(logits, y):
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    return Setup(model, _optimizer(opt, model.parameters(), lr), windows.__getitem__, loss_fn, steps, held)


BUILDERS = {"mlp": mlp, "cnn": cnn, "vit": vit, "gpt": gpt}
