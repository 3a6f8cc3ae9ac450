"""Two moons with a rotated target domain: a toy unsupervised domain-adaptation task."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from layerwise._registry import register

CENTRE = (0.5, 0.25)  # centre of symmetry (and mean) of noise-free sklearn moons


@dataclass(frozen=True)
class DomainShift:
    """A labelled source domain and a shifted target domain.

    ``x_source``/``x_target`` are float32 ``(N, 2)``, ``y_source``/``y_target`` int64 ``(N,)``.
    ``y_target`` is for evaluation only: an adaptation method must not train on it.
    ``centre`` is float32 ``(2,)``, the point the target was rotated about by ``angle_deg``.
    """

    x_source: Tensor
    y_source: Tensor
    x_target: Tensor
    y_target: Tensor
    angle_deg: float
    centre: Tensor
    name: str


def rotate(points: np.ndarray, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """``points`` float64 ``(N, 2)`` rotated counter-clockwise by ``angle_deg`` about ``centre``."""
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = np.asarray(centre, dtype=np.float64)
    return (points - c) @ rot.T + c


@register(
    "two_moons_shift",
    kind="dataset",
    paper="Domain-Adversarial Training of Neural Networks (Ganin et al., 2016)",
    arxiv="1505.07818",
)
def two_moons_shift(
    *,
    n_source: int = 500,
    n_target: int = 500,
    angle_deg: float = 35.0,
    noise: float = 0.1,
    seed: int = 0,
) -> DomainShift:
    """Source: sklearn ``make_moons``; target: fresh moons rotated by ``angle_deg``.

    The rotation is about the moons' centre (0.5, 0.25), counter-clockwise. Both domains are
    class-balanced (``n // 2`` and ``n - n // 2``). The two ``make_moons`` seeds come from a
    local torch generator seeded by ``seed``; the global RNGs are untouched.

    Returns:
        ``DomainShift`` (x float32 ``(N, 2)``, y int64 ``(N,)``).
    """
    from layerwise.data._sklearn import sklearn_datasets

    make_moons = sklearn_datasets().make_moons
    if n_source < 2 or n_target < 2 or noise < 0:
        raise ValueError(f"need n_source, n_target >= 2 and noise >= 0, got {n_source}, "
                         f"{n_target}, {noise}")
    gen = torch.Generator().manual_seed(seed)
    seed_source, seed_target = torch.randint(0, 2**31 - 1, (2,), generator=gen).tolist()
    xs, ys = make_moons(n_samples=n_source, noise=noise, random_state=seed_source)
    xt, yt = make_moons(n_samples=n_target, noise=noise, random_state=seed_target)
    xt = rotate(xt, angle_deg, CENTRE)
    return DomainShift(
        x_source=torch.from_numpy(xs.astype(np.float32)),
        y_source=torch.from_numpy(ys.astype(np.int64)),
        x_target=torch.from_numpy(xt.astype(np.float32)),
        y_target=torch.from_numpy(yt.astype(np.int64)),
        angle_deg=float(angle_deg),
        centre=torch.tensor(CENTRE, dtype=torch.float32),
        name=f"two_moons_shift({angle_deg:g}deg)",
    )
