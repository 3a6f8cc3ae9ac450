"""Linear multi-task regression whose task gradients at zero have a chosen angle and ratio."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise._registry import register


@dataclass(frozen=True)
class MultiTaskRegression:
    """Whitened inputs and one linear target per task.

    Fields:
        x: float32 ``(n_samples, dim)`` with ``x.T @ x / n_samples == I``.
        y: float32 ``(n_samples, n_tasks)``, ``y[:, k] = x @ weights[k] + noise``.
        weights: float32 ``(n_tasks, dim)``; ``||weights[0]|| = 1``.
    """

    x: Tensor
    y: Tensor
    weights: Tensor
    angle_deg: float
    magnitude_ratio: float
    name: str


def whitened_inputs(n_samples: int, dim: int, gen: torch.Generator) -> Tensor:
    """float64 ``(n_samples, dim)`` with ``x.T @ x / n_samples = I`` (scaled orthonormal columns)."""
    q, _ = torch.linalg.qr(torch.randn(n_samples, dim, generator=gen, dtype=torch.float64))
    return q * math.sqrt(n_samples)


def task_weights(
    dim: int, n_tasks: int, angle_deg: float, magnitude_ratio: float, gen: torch.Generator
) -> Tensor:
    """float64 ``(n_tasks, dim)``: ``w_0 = u_0``, ``w_k = r**k (cos a u_0 + sin a u_k)``.

    ``u_0 .. u_{K-1}`` are random orthonormal directions, so the angle between ``w_0`` and every
    ``w_k`` is ``a`` and the angle between ``w_j`` and ``w_k`` (j, k >= 1) is
    ``acos(cos(a) ** 2)``.
    """
    u, _ = torch.linalg.qr(torch.randn(dim, n_tasks, generator=gen, dtype=torch.float64))
    u = u.T
    a = math.radians(angle_deg)
    weights = [u[0]]
    for k in range(1, n_tasks):
        weights.append(magnitude_ratio**k * (math.cos(a) * u[0] + math.sin(a) * u[k]))
    return torch.stack(weights)


@register(
    "multitask_regression",
    kind="dataset",
    paper="Gradient Surgery for Multi-Task Learning (Yu et al., 2020)",
    arxiv="2001.06782",
)
def multitask_regression(
    *,
    n_samples: int = 512,
    dim: int = 16,
    n_tasks: int = 2,
    angle_deg: float = 90.0,
    magnitude_ratio: float = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> MultiTaskRegression:
    """Multi-task linear regression with controlled gradient conflict at initialisation.

    Because ``x`` is whitened, the MSE gradient of task ``k`` at ``w = 0`` is
    ``-2 * weights[k]`` (noise-free), so the angle between the task-0 and task-k gradients is
    exactly ``angle_deg`` and their norm ratio ``magnitude_ratio ** k``. Needs
    ``n_samples >= dim >= max(2, n_tasks)``. Seeded by a local torch generator.

    Returns:
        ``MultiTaskRegression`` (x float32 ``(N, dim)``, y float32 ``(N, n_tasks)``,
        weights float32 ``(n_tasks, dim)``).
    """
    if n_tasks < 1 or dim < max(2, n_tasks) or n_samples < dim:
        raise ValueError(
            f"need n_samples >= dim >= max(2, n_tasks) and n_tasks >= 1, "
            f"got n_samples={n_samples}, dim={dim}, n_tasks={n_tasks}"
        )
    if not 0.0 <= angle_deg <= 180.0 or magnitude_ratio <= 0 or noise < 0:
        raise ValueError(
            f"need 0 <= angle_deg <= 180, magnitude_ratio > 0, noise >= 0; "
            f"got {angle_deg}, {magnitude_ratio}, {noise}"
        )
    gen = torch.Generator().manual_seed(seed)
    x = whitened_inputs(n_samples, dim, gen)
    weights = task_weights(dim, n_tasks, angle_deg, magnitude_ratio, gen)
    y = x @ weights.T
    if noise > 0:
        y = y + noise * torch.randn(y.shape, generator=gen, dtype=torch.float64)
    return MultiTaskRegression(
        x=x.float(),
        y=y.float(),
        weights=weights.float(),
        angle_deg=float(angle_deg),
        magnitude_ratio=float(magnitude_ratio),
        name=f"multitask_regression({n_tasks} tasks, {angle_deg:g}deg)",
    )
