"""Convergent Learning: unit-level correspondence between two networks' layers.

Convergent Learning: Do Different Neural Networks Learn the Same Representations? (Li, Yosinski,
Clune, Lipson, Hopcroft, ICLR 2016, arXiv 1511.07543). Four tools on two layers' activations over
the same inputs:

- ``unit_correlation``: Pearson correlation of every unit of A with every unit of B;
- ``match_units``: one-to-one (bipartite, Hungarian solver maximising the summed correlation, as
  Munkres on -C in the authors' ``match_unit.py``) or semi-matching (each unit to its best partner);
- ``sparse_prediction``: predict B's units from A's with an L1 penalty over a grid (sklearn ``Lasso``
  per target unit; the paper trains a 1x1-conv "stitch" with L1 weight decay 10^L). Held-out R^2
  against the mean number of non-zero weights shows one-to-one versus few-to-one codes;
- ``cluster_units``: spectral clustering of both networks' units on |correlation| (many-to-many).

Units are along ``unit_dim``; every other axis counts as a sample (conv layers: ``unit_dim=1`` makes
spatial positions samples, as the paper does). Dead units (no variance) correlate 0 with everything,
with a :class:`DegenerateActivationWarning`.

Example::

    >>> import torch
    >>> from layerwise.analysis import matched_correlation
    >>> a = torch.randn(300, 8)
    >>> b = a[:, torch.randperm(8)] + 0.1 * torch.randn(300, 8)  # same units, shuffled
    >>> scores = matched_correlation({"fc1": a}, {"fc1": b})
    >>> scores["fc1"]["bipartite"] > 0.99
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from layerwise._registry import register
from layerwise.analysis._arrays import as_units, same_samples, warn_degenerate

PAPER = (
    "Convergent Learning: Do Different Neural Networks Learn the Same Representations? "
    "(Li, Yosinski, Clune, Lipson, Hopcroft, 2016)",
    "1511.07543",
)
DEFAULT_ALPHAS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)  # [derived] Lasso alphas on z-scored units


def _standardise(x: torch.Tensor, name: str) -> torch.Tensor:
    """Z-score each unit; dead units become zero columns (with a warning)."""
    xc = x - x.mean(dim=0)
    std = xc.square().mean(dim=0).sqrt()
    dead = std <= 1e-12 * x.abs().amax(dim=0).clamp_min(1e-300)
    if bool(dead.any()):
        warn_degenerate(f"{name}: {int(dead.sum())} unit(s) have no variance; they correlate 0 with all")
    return torch.where(dead, 0.0, xc / torch.where(dead, 1.0, std))


def unit_correlation(acts_a: Any, acts_b: Any, *, unit_dim: int = -1) -> np.ndarray:
    """Pearson correlation matrix (units of A x units of B) over the shared samples."""
    xa, xb = as_units(acts_a, unit_dim, "acts_a"), as_units(acts_b, unit_dim, "acts_b")
    same_samples(xa, xb)
    za, zb = _standardise(xa, "acts_a"), _standardise(xb, "acts_b")
    return ((za.T @ zb) / xa.shape[0]).clamp(-1.0, 1.0).numpy()


@dataclass(frozen=True)
class UnitMatching:
    """For each unit of A: its partner in B (-1 if left unmatched) and their correlation (NaN then)."""

    partner: np.ndarray
    corr: np.ndarray

    @property
    def mean(self) -> float:
        """Mean matched correlation over the matched units of A."""
        return float(np.nanmean(self.corr))


@register("unit_matching", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def match_units(corr: np.ndarray, method: str = "bipartite") -> UnitMatching:
    """Match units given a correlation matrix: ``"bipartite"`` (one-to-one) or ``"semi"`` (best partner).

    Bipartite maximises the summed correlation with scipy's ``linear_sum_assignment``; with more
    units in A than in B the surplus units of A stay unmatched.
    """
    corr = np.asarray(corr, dtype=np.float64)
    if not np.isfinite(corr).all():
        raise ValueError("the correlation matrix holds NaN or inf")
    partner = np.full(corr.shape[0], -1)
    if method == "bipartite":
        rows, cols = linear_sum_assignment(corr, maximize=True)
        partner[rows] = cols
    elif method == "semi":
        partner = corr.argmax(axis=1)
    else:
        raise ValueError(f"method must be 'bipartite' or 'semi', got {method!r}")
    matched = partner >= 0
    values = np.full(corr.shape[0], np.nan)
    values[matched] = corr[np.flatnonzero(matched), partner[matched]]
    return UnitMatching(partner, values)


def _pairs(acts_a: Mapping | Sequence, acts_b: Mapping | Sequence) -> list[tuple[Any, Any, Any]]:
    if isinstance(acts_a, Mapping) != isinstance(acts_b, Mapping) or len(acts_a) != len(acts_b):
        raise ValueError("acts_a and acts_b must be two dicts with the same layers, or two equal lists")
    if isinstance(acts_a, Mapping):
        if set(acts_a) != set(acts_b):
            raise ValueError(f"layers differ: {sorted(set(acts_a) ^ set(acts_b))}")
        return [(k, acts_a[k], acts_b[k]) for k in acts_a]
    return [(i, a, b) for i, (a, b) in enumerate(zip(acts_a, acts_b, strict=True))]


def matched_correlation(
    acts_a: Mapping | Sequence, acts_b: Mapping | Sequence, *, unit_dim: int = -1
) -> dict[Any, dict[str, float]]:
    """Per layer, the mean matched correlation ``{"bipartite": ..., "semi": ...}`` of net A's units.

    Layers are dict keys (dotted module names) or list positions. Semi >= bipartite always; a
    large gap means many-to-one codes (several units of A share one partner in B).
    """
    out = {}
    for layer, a, b in _pairs(acts_a, acts_b):
        corr = unit_correlation(a, b, unit_dim=unit_dim)
        out[layer] = {m: match_units(corr, m).mean for m in ("bipartite", "semi")}
    return out


@dataclass(frozen=True)
class SparsePoint:
    """One point of the sparsity/accuracy trade-off: L1 strength, held-out R^2, mean non-zeros."""

    alpha: float
    r2: float
    nonzeros: float


@register("sparse_unit_prediction", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def sparse_prediction(
    acts_a: Any,
    acts_b: Any,
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    unit_dim: int = -1,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> list[SparsePoint]:
    """Predict each unit of B from all units of A with Lasso, over an L1 grid (strongest first).

    Units are z-scored on the training split. R^2 is pooled over B's live units on the held-out
    split (1 - sum SSE / sum SST); ``nonzeros`` is the mean count of A-units used per B-unit.
    """
    from sklearn.linear_model import Lasso

    xa, xb = as_units(acts_a, unit_dim, "acts_a"), as_units(acts_b, unit_dim, "acts_b")
    same_samples(xa, xb)
    order = np.random.default_rng(seed).permutation(xa.shape[0])
    n_test = max(1, int(round(test_fraction * xa.shape[0])))
    test, train = order[:n_test], order[n_test:]
    mu_a, sd_a = xa[train].mean(0), xa[train].std(0).clamp_min(1e-300)
    mu_b, sd_b = xb[train].mean(0), xb[train].std(0)
    live = (sd_b > 0).numpy()
    za = ((xa - mu_a) / sd_a).numpy()
    zb = ((xb - mu_b) / sd_b.clamp_min(1e-300)).numpy()[:, live]
    model = Lasso(fit_intercept=False, warm_start=True, max_iter=5000, random_state=seed)
    points = []
    for alpha in sorted(alphas, reverse=True):
        model.set_params(alpha=alpha)
        model.fit(za[train], zb[train])
        pred = za[test] @ np.atleast_2d(model.coef_).T
        sst = np.square(zb[test] - zb[test].mean(0)).sum()
        r2 = 1.0 - np.square(zb[test] - pred).sum() / sst if sst > 0 else float("nan")
        nnz = float((np.atleast_2d(model.coef_) != 0).sum(axis=1).mean())
        points.append(SparsePoint(float(alpha), float(r2), nnz))
    return points


@register("unit_clustering", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def cluster_units(
    acts_a: Any, acts_b: Any, n_clusters: int, *, unit_dim: int = -1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral clustering of A's and B's units together; returns (labels of A, labels of B).

    The affinity is |correlation| over both networks' units (clipped at 1e-6 so dead units keep
    the graph connected). Clusters holding units of both nets are shared subspaces.
    """
    from sklearn.cluster import SpectralClustering

    xa, xb = as_units(acts_a, unit_dim, "acts_a"), as_units(acts_b, unit_dim, "acts_b")
    same_samples(xa, xb)
    joint = torch.cat([xa, xb], dim=1)
    affinity = np.abs(unit_correlation(joint, joint)).clip(1e-6, 1.0)
    np.fill_diagonal(affinity, 1.0)
    labels = SpectralClustering(n_clusters, affinity="precomputed", random_state=seed).fit_predict(affinity)
    return labels[: xa.shape[1]], labels[xa.shape[1] :]
