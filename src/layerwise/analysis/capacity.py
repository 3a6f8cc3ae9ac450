"""Capacity curves: held-out error of single-layer transformers over a grid of heads x width.

Universal Approximation Theorem for a Single-Layer Transformer (Gumaan, 2025, arXiv 2507.10581)
proves that one attention layer plus a position-wise ReLU FFN can approximate any continuous
sequence-to-sequence map on a compact set; the theorem is existential (it says nothing about the
sizes needed or whether training finds them). :func:`capacity_curve` measures what training does
find: for every (heads, width) it trains a :class:`~layerwise.models.SingleLayerTransformer`
(model width ``width``, FFN hidden ``ffn_ratio * width``) with Adam (cosine decay) on
``n_train`` inputs drawn uniformly from [-1, 1]^in_dim per token, and reports the RMSE and max
error on ``n_test`` fresh inputs. Every cell uses the same data and seed, so a cell equals
:func:`fit_single_layer` called alone with that seed.

:func:`equivariant_floor` gives the error no permutation-equivariant model (no positional
encodings) can beat in expectation: the RMS distance from the target to its symmetrisation
``(1/n!) sum_pi pi^-1 f(pi x)``, the L2 projection onto equivariant maps for i.i.d. tokens.

Example::

    >>> from layerwise.analysis import capacity_curve
    >>> from layerwise.data import smooth_seq_map
    >>> curve = capacity_curve(smooth_seq_map(seed=0), heads=(1, 2), widths=(8, 16), steps=10, n_train=256)
    >>> curve.rmse.shape
    (2, 2)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.models.single_layer import PAPER, SingleLayerTransformer, check_sizes

Target = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class CapacityCurve:
    """Held-out ``rmse`` and ``max_error`` (arrays (len(heads), len(widths))); ``target_rms``: the
    RMSE of predicting the held-out mean (so ``rmse / target_rms`` is a relative error)."""

    heads: tuple[int, ...]
    widths: tuple[int, ...]
    rmse: np.ndarray
    max_error: np.ndarray
    target_rms: float
    positional: bool

    @property
    def rel_rmse(self) -> np.ndarray:
        return self.rmse / self.target_rms

    def width_slope(self) -> np.ndarray:
        """Per heads row: least-squares slope of log RMSE on log width (NaN with one width)."""
        return _slopes(np.log(self.widths), np.log(self.rmse))

    def heads_slope(self) -> np.ndarray:
        """Per width column: least-squares slope of log RMSE on log heads (NaN with one heads)."""
        return _slopes(np.log(self.heads), np.log(self.rmse.T))


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if len(x) < 2:
        return np.full(y.shape[0], math.nan)
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def sample_inputs(n: int, seq_len: int, in_dim: int, generator: torch.Generator) -> Tensor:
    """``n`` sequences of ``seq_len`` tokens uniform in [-1, 1]^in_dim, float32."""
    return torch.rand(n, seq_len, in_dim, generator=generator) * 2 - 1


def _data(target: Target, *, seed: int, seq_len: int, in_dim: int, n_train: int,
          n_test: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_train, x_test = (sample_inputs(n, seq_len, in_dim, g) for n in (n_train, n_test))
    with torch.no_grad():
        y_train, y_test = target(x_train).float(), target(x_test).float()
    for x, y in ((x_train, y_train), (x_test, y_test)):
        if y.dim() != 3 or y.shape[:2] != x.shape[:2]:
            raise ValueError(f"target must map (N, {seq_len}, {in_dim}) to (N, {seq_len}, out_dim); "
                             f"got {tuple(y.shape)}")
    return x_train, y_train, x_test, y_test


def _check(*, heads: Sequence[int], widths: Sequence[int], lr: float, **sizes: int) -> None:
    for name, grid in (("heads", heads), ("widths", widths)):
        if len(grid) == 0:
            raise ValueError(f"{name} must be a non-empty sequence of ints >= 1")
        check_sizes(**{f"{name}[{i}]": v for i, v in enumerate(grid)})
    bad = [(h, w) for h in heads for w in widths if w % h]
    if bad:
        raise ValueError(f"every heads value must divide every width; heads={bad[0][0]} does not "
                         f"divide width={bad[0][1]}")
    check_sizes(**sizes)
    if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite float > 0, got {lr!r}")


def _train(target_data: tuple[Tensor, ...], *, heads: int, width: int, seed: int, positional: bool,
           ffn_ratio: int, steps: int, batch_size: int, lr: float) -> tuple[float, float]:
    x_train, y_train, x_test, y_test = target_data
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SingleLayerTransformer(in_dim=x_train.shape[-1], out_dim=y_train.shape[-1],
                                       seq_len=x_train.shape[1], width=width, heads=heads,
                                       ffn_width=ffn_ratio * width, positional=positional)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (batch_size,), generator=g)
        loss = (model(x_train[idx]) - y_train[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        err = model(x_test) - y_test
    return float(err.square().mean().sqrt()), float(err.abs().max())


def fit_single_layer(target: Target, *, heads: int, width: int, seed: int = 0, seq_len: int = 4,
                     in_dim: int = 2, positional: bool = True, ffn_ratio: int = 4, n_train: int = 4096,
                     n_test: int = 1024, steps: int = 3000, batch_size: int = 256,
                     lr: float = 3e-3) -> dict[str, float]:
    """Train one single-layer transformer on ``target``; its held-out ``rmse`` and ``max_error``."""
    curve = capacity_curve(target, heads=(heads,), widths=(width,), seed=seed, seq_len=seq_len,
                           in_dim=in_dim, positional=positional, ffn_ratio=ffn_ratio, n_train=n_train,
                           n_test=n_test, steps=steps, batch_size=batch_size, lr=lr)
    return {"rmse": float(curve.rmse[0, 0]), "max_error": float(curve.max_error[0, 0]),
            "target_rms": curve.target_rms}


@register("capacity_curve", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def capacity_curve(target: Target, *, heads: Sequence[int] = (1, 2, 4), widths: Sequence[int] = (8, 16, 32),
                   seed: int = 0, seq_len: int = 4, in_dim: int = 2, positional: bool = True,
                   ffn_ratio: int = 4, n_train: int = 4096, n_test: int = 1024, steps: int = 3000,
                   batch_size: int = 256, lr: float = 3e-3) -> CapacityCurve:
    """Held-out error of a single-layer transformer per (heads, width), trained on ``target``."""
    if not callable(target):
        raise TypeError(f"target must be a callable mapping (N, seq_len, in_dim) tensors, got {target!r}")
    heads, widths = tuple(heads), tuple(widths)
    _check(heads=heads, widths=widths, lr=lr, seq_len=seq_len, in_dim=in_dim, ffn_ratio=ffn_ratio,
           n_train=n_train, n_test=n_test, steps=steps, batch_size=batch_size)
    data = _data(target, seed=seed, seq_len=seq_len, in_dim=in_dim, n_train=n_train, n_test=n_test)
    rmse, max_error = np.zeros((len(heads), len(widths))), np.zeros((len(heads), len(widths)))
    for (i, h), (j, w) in itertools.product(enumerate(heads), enumerate(widths)):
        rmse[i, j], max_error[i, j] = _train(data, heads=h, width=w, seed=seed, positional=positional,
                                             ffn_ratio=ffn_ratio, steps=steps, batch_size=batch_size, lr=lr)
    y_test = data[3]
    target_rms = float((y_test - y_test.mean(dim=(0, 1))).square().mean().sqrt())
    return CapacityCurve(heads, widths, rmse, max_error, target_rms, positional)


def equivariant_floor(target: Target, x: Tensor) -> float:
    """RMS distance on ``x`` (N, n, d) from ``target`` to its symmetrisation over the n! position
    permutations: the least expected RMSE of any permutation-equivariant model (n <= 8)."""
    if x.dim() != 3:
        raise ValueError(f"x must have shape (N, n, d), got {tuple(x.shape)}")
    n = x.shape[1]
    if not 1 <= n <= 8:
        raise ValueError(f"x must have 1 to 8 positions (n! permutations), got {n}")
    with torch.no_grad():
        y = target(x).double()
        sym = torch.zeros_like(y)
        for perm in itertools.permutations(range(n)):
            inverse = np.argsort(perm)
            sym += target(x[:, list(perm)]).double()[:, inverse]
        sym /= math.factorial(n)
    return float((y - sym).square().mean().sqrt())
