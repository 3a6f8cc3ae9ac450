"""Delta-CKA: how much a layer's representation moved between two checkpoints, in a shared PCA basis.

Attention Saturation and Gradient Suppression at Inflection Layers (Wang, 2025, arXiv 2511.00797)
tracks "Delta-CKA under a shared PCA basis" per layer during fine-tuning. The paper gives no
formula; this is the project's reconstruction ([derived], SPECS-B section 8):

    P = top-k principal directions of the pooled [H_before; H_after], k keeping ``variance`` (95%)
    Delta-CKA = 1 - CKA_linear((H_before - mu) P, (H_after - mu) P)

The shared basis drops the low-variance directions that both checkpoints barely use, so noise
there does not count as change. With ``variance=1.0`` it equals ``1 - linear_cka(before, after)``
(CKA is invariant to the orthogonal change of basis). 0 means no change; NaN (with a warning)
when either checkpoint's activations are degenerate.

Example::

    >>> import torch
    >>> from layerwise.analysis import delta_cka
    >>> h = torch.randn(400, 16) @ torch.randn(16, 16)
    >>> round(delta_cka(h, h), 6)
    0.0
    >>> delta_cka(h, h + 0.1 * torch.randn(400, 16)) < delta_cka(h, torch.randn(400, 16))
    True
"""

from __future__ import annotations

from typing import Any

import torch

from layerwise._registry import register
from layerwise.analysis._arrays import as_matrix, same_samples
from layerwise.analysis.cka import linear_cka

SATURATION_PAPER = (
    "Attention Saturation and Gradient Suppression at Inflection Layers (Wang, 2025)",
    "2511.00797",
)


def shared_pca_basis(
    before: torch.Tensor, after: torch.Tensor, variance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (d, k) principal directions of the pooled activations keeping ``variance``."""
    pooled = torch.cat([before, after])
    mu = pooled.mean(dim=0)
    centred = pooled - mu
    # (d x d) covariance eigenproblem: cheap when samples outnumber features, as activations do.
    if centred.shape[0] >= centred.shape[1]:
        evals, evecs = torch.linalg.eigh(centred.T @ centred)
        evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    else:
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        evals, evecs = s.square(), vh.T
    total = evals.sum()
    if total <= 0:
        return mu, evecs[:, :1]
    share = torch.cumsum(evals, 0) / total
    k = int(torch.searchsorted(share, torch.tensor(variance, dtype=share.dtype) - 1e-12)) + 1
    return mu, evecs[:, : min(k, evecs.shape[1])]


@register("delta_cka", kind="diagnostic", paper=SATURATION_PAPER[0], arxiv=SATURATION_PAPER[1])
def delta_cka(before: Any, after: Any, *, variance: float = 0.95) -> float:
    """1 - linear CKA between one layer's activations at two checkpoints, in a shared PCA basis.

    ``before`` and ``after`` are (n, ...) activations of the same layer on the same n inputs.
    """
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance must be in (0, 1], got {variance}")
    b, a = as_matrix(before, "before"), as_matrix(after, "after")
    same_samples(b, a)
    if not (bool(torch.isfinite(b).all()) and bool(torch.isfinite(a).all())):
        return 1.0 - linear_cka(b, a)  # NaN with the degenerate-activation warning
    mu, basis = shared_pca_basis(b, a, variance)
    return 1.0 - linear_cka((b - mu) @ basis, (a - mu) @ basis)
