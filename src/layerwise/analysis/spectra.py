"""Spectral and distributional depth traces: effective rank, SPINAL contraction and transport.

- ``effective_rank``: The Effective Rank: a Measure of Effective Dimensionality (Roy & Vetterli,
  EUSIPCO 2007): exp of the Shannon entropy of the singular values normalised to sum to 1. A
  matrix with k equal non-zero singular values has effective rank k.
- ``contraction_score`` and ``transport_score``: SPINAL -- Scaling-law and Preference Integration
  in Neural Alignment Layers (Das et al., 2026, arXiv 2601.06238). The paper defines them at
  abstract level only; these are the project's reconstructions ([derived], SPECS-B section 12):

  * contraction alpha = -d log sigma_k / d log k, a least-squares line through (log k, log sigma_k)
    over the spectral tail ``k_lo..k_hi``, where k_lo (k_hi) is the first rank whose cumulative
    energy sum_{i<=k} sigma_i^2 / sum sigma^2 reaches ``tail[0]`` (``tail[1]``), by default 50% and
    95%. Singular values at float rounding level are left out. If the window holds fewer than
    ``min_points`` ranks it is widened upwards (steep spectra reach 95% energy within 2 ranks).
    Higher alpha: stronger contraction into few directions.
  * transport = Fisher-Rao length of the path of logit-lens next-token distributions across
    depth: each step d(p_l, p_{l+1}) = 2 arccos BC(p_l, p_{l+1}), BC = sum_v sqrt(p q) the
    Bhattacharyya coefficient, averaged over token positions; ``length`` sums the steps. It is
    computed as 4 arcsin(||sqrt p - sqrt q|| / 2), the same angle without arccos's rounding
    trouble near 1: exactly 0 for identical distributions, pi for disjoint supports.

The logit-lens distributions are an input here (softmax of the unembedded, final-normed hidden
state of every layer), shaped (layers, ..., vocab).

Example::

    >>> import torch
    >>> from layerwise.analysis import contraction_score, effective_rank, transport_score
    >>> q, _ = torch.linalg.qr(torch.randn(200, 50, dtype=torch.float64))
    >>> ranks = torch.arange(1, 51, dtype=torch.float64)
    >>> round(contraction_score(q * ranks.pow(-1.5)), 6)
    1.5
    >>> round(effective_rank(q[:, :7]), 6)
    7.0
    >>> probs = torch.softmax(torch.randn(4, 10, 32), dim=-1)  # 4 layers, 10 tokens, vocab 32
    >>> transport_score(probs).steps.shape
    (3,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from layerwise._registry import register
from layerwise.analysis._arrays import as_units, warn_degenerate

SPINAL = (
    "SPINAL -- Scaling-law and Preference Integration in Neural Alignment Layers (Das et al., 2026)",
    "2601.06238",
)
ROY_VETTERLI = "The Effective Rank: a Measure of Effective Dimensionality (Roy & Vetterli, 2007)"


def _singular_values(h: Any, center: bool) -> Tensor:
    """Singular values of the (samples, features) matrix, tokens folded into samples."""
    x = as_units(h, -1, "h")
    if center:
        x = x - x.mean(dim=0)
    if not bool(torch.isfinite(x).all()):
        return torch.zeros(0, dtype=torch.float64)
    return torch.linalg.svdvals(x)


@register("effective_rank", kind="diagnostic", paper=ROY_VETTERLI, arxiv=None)
def effective_rank(h: Any, *, center: bool = False) -> float:
    """exp(entropy of sigma / sum sigma) of a (samples, features) matrix; NaN if it is zero or non-finite."""
    s = _singular_values(h, center)
    if s.numel() == 0 or float(s.sum()) == 0.0:
        warn_degenerate("effective_rank: the matrix is zero or non-finite; returning NaN")
        return float("nan")
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@register("spinal_contraction", kind="diagnostic", paper=SPINAL[0], arxiv=SPINAL[1])
def contraction_score(
    h: Any, *, tail: tuple[float, float] = (0.5, 0.95), center: bool = False, min_points: int = 3
) -> float:
    """SPINAL contraction: minus the log-log slope of the singular-value spectrum over its tail.

    ``h`` holds one layer's hidden states, (tokens, d) or (batch, tokens, d). NaN (with a
    warning) when fewer than 2 singular values are above rounding level.
    """
    lo_frac, hi_frac = tail
    if not 0.0 <= lo_frac < hi_frac <= 1.0 or min_points < 2:
        raise ValueError(f"need 0 <= tail[0] < tail[1] <= 1 and min_points >= 2, got {tail}, {min_points}")
    s = _singular_values(h, center)
    if s.numel():
        s = s[s > s[0] * torch.finfo(s.dtype).eps * max(as_units(h, -1).shape)]
    if s.numel() < 2:
        warn_degenerate("contraction_score: fewer than 2 non-zero singular values; returning NaN")
        return float("nan")
    energy = torch.cumsum(s.square(), 0) / s.square().sum()
    count = s.numel()
    k_lo = min(int(torch.searchsorted(energy, torch.tensor(lo_frac, dtype=energy.dtype))), count - 1)
    k_hi = min(int(torch.searchsorted(energy, torch.tensor(hi_frac, dtype=energy.dtype))), count - 1)
    k_hi = max(k_hi, min(count - 1, k_lo + min_points - 1))
    k_lo = min(k_lo, k_hi - 1)
    ranks = np.arange(k_lo + 1, k_hi + 2, dtype=np.float64)  # 1-indexed ranks of the window
    slope = np.polyfit(np.log(ranks), np.log(s[k_lo : k_hi + 1].numpy()), 1)[0]
    return float(-slope)


def fisher_rao_distance(p: Any, q: Any, dim: int = -1) -> Tensor:
    """Fisher-Rao distance 2 arccos(sum sqrt(p q)) between distributions along ``dim``, in [0, pi]."""
    a = torch.as_tensor(p, dtype=torch.float64).clamp_min(0)
    b = torch.as_tensor(q, dtype=torch.float64).clamp_min(0)
    a = (a / a.sum(dim, keepdim=True)).sqrt()
    b = (b / b.sum(dim, keepdim=True)).sqrt()
    chord = torch.linalg.vector_norm(a - b, dim=dim)
    return 4.0 * torch.arcsin((chord / 2.0).clamp(max=math.sqrt(0.5)))


@dataclass(frozen=True)
class Transport:
    """Fisher-Rao step between each pair of adjacent layers (averaged over positions) and their sum."""

    steps: np.ndarray
    length: float


@register("spinal_transport", kind="diagnostic", paper=SPINAL[0], arxiv=SPINAL[1])
def transport_score(probs: Any) -> Transport:
    """SPINAL transport: Fisher-Rao steps between adjacent layers' logit-lens distributions.

    ``probs`` is (layers, ..., vocab) probabilities (softmax applied); any middle axes (batch,
    tokens) are positions to average over.
    """
    p = probs.detach().cpu() if isinstance(probs, Tensor) else torch.as_tensor(np.asarray(probs))
    p = p.to(torch.float64)
    if p.ndim < 2 or p.shape[0] < 2:
        raise ValueError(f"probs must be (layers >= 2, ..., vocab), got shape {tuple(p.shape)}")
    sums = p.sum(-1)
    normalised = bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3))
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or not normalised:
        raise ValueError("probs must be finite, non-negative and sum to 1 over the last axis (apply softmax)")
    p = p.reshape(p.shape[0], -1, p.shape[-1])
    steps = fisher_rao_distance(p[:-1], p[1:]).mean(dim=1).numpy()
    return Transport(steps, float(steps.sum()))
