"""Newton-Schulz orthogonalisation: the map G = U S V^T -> ~U V^T at the heart of Muon.

Muon: An optimizer for hidden layers in neural networks (Jordan et al., 2024, blog post
https://kellerjordan.github.io/posts/muon/; no arXiv id). After scaling G to Frobenius norm 1 (so its
spectral norm is <= 1), the quintic iteration

    A = X X^T,   X <- a X + (b A + c A^2) X,   (a, b, c) = (3.4445, -4.7750, 2.0315)

pushes every singular value towards 1 in 5 steps. These coefficients trade exactness for speed: the
singular values land in roughly [0.7, 1.2] instead of exactly 1, which does not hurt training.
Wide matrices are iterated as given, tall ones transposed (so A is the smaller Gram matrix).
Computation runs in ``dtype``: float32 by default on CPU (exact enough for checks and the same on every
CPU), bfloat16 by default on CUDA (tensor cores). ``torch.optim.Muon`` always uses bfloat16.

Example::

    >>> import torch
    >>> from layerwise.optim.newton_schulz import newton_schulz
    >>> s = torch.linalg.svdvals(newton_schulz(torch.randn(32, 64)))
    >>> bool((s > 0.6).all() and (s < 1.3).all())
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def default_ns_dtype(device: torch.device | str) -> torch.dtype:
    """bfloat16 on CUDA (tensor cores), float32 elsewhere (accuracy; many CPUs lack fast bf16)."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def newton_schulz(
    g: Tensor,
    *,
    steps: int = NS_STEPS,
    coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Approximately orthogonalise ``g`` (shape (m, n) or a batch (k, m, n)); returns ``dtype``.

    Batched input is normalised per matrix, so stacking same-shaped matrices is one call.
    """
    if g.dim() not in (2, 3):
        raise ValueError(f"newton_schulz needs a matrix or a batch of matrices, got shape {tuple(g.shape)}")
    a, b, c = coefficients
    x = g.to(dtype or default_ns_dtype(g.device))
    batched = x.dim() == 3
    if not batched:
        x = x.unsqueeze(0)
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = x.mT
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp_min(eps)
    for _ in range(steps):
        gram = x @ x.mT
        poly = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, poly, x, beta=a)
    if tall:
        x = x.mT
    return x if batched else x.squeeze(0)
