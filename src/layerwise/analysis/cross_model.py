"""Cross-model linear maps: how well each layer of one model linearly predicts each layer of another.

Do Language Models Use Their Depth Efficiently? (Csordas, Manning, Potts, 2025, arXiv 2505.13898)
fits linear maps from a shallow model's layer-i residual to a deep model's layer-j residual; if
the deep model "spreads the same computation", the best j for each i grows with relative depth
(a diagonal heatmap). This is the project's reconstruction ([derived], SPECS-A section 15):

- inputs are both models' activations on the same samples (flatten tokens into samples:
  (B*T, D)), z-scored with the training split's statistics;
- ridge regression in closed form, float64, ``alpha`` on the z-scored inputs;
- the score is held-out R^2 pooled over the target's features, 1 - sum SSE / sum SST.

Example::

    >>> import torch
    >>> from layerwise.analysis import linear_map_r2
    >>> x = torch.randn(600, 8)
    >>> shallow = [x, torch.tanh(x @ torch.randn(8, 8))]
    >>> deep = [x @ torch.randn(8, 12), torch.randn(600, 12)]
    >>> r2 = linear_map_r2(shallow, deep)
    >>> r2.shape, bool(r2[0, 0] > 0.99), bool(abs(r2[0, 1]) < 0.1)
    ((2, 2), True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from layerwise._registry import register
from layerwise.analysis._arrays import as_matrix, same_samples

PAPER = ("Do Language Models Use Their Depth Efficiently? (Csordas, Manning, Potts, 2025)", "2505.13898")


def _zscore(x: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    mu, sd = x[train].mean(0), x[train].std(0)
    return (x - mu) / torch.where(sd > 0, sd, 1.0)


@register("cross_model_linear_map", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def linear_map_r2(
    acts_from: Sequence[Any],
    acts_to: Sequence[Any],
    *,
    alpha: float = 1.0,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> np.ndarray:
    """Held-out R^2 of a ridge map from each layer of ``acts_from`` to each of ``acts_to``.

    Returns an array (len(acts_from), len(acts_to)); row i's argmax is the layer of the second
    model that layer i of the first resembles most. R^2 can be negative (worse than the mean).
    """
    if alpha < 0 or not 0.0 < test_fraction < 1.0:
        raise ValueError("need alpha >= 0 and 0 < test_fraction < 1")
    xs = [as_matrix(a, f"acts_from[{i}]") for i, a in enumerate(acts_from)]
    ys = [as_matrix(a, f"acts_to[{j}]") for j, a in enumerate(acts_to)]
    for m in xs + ys:
        same_samples(xs[0], m)
    n = xs[0].shape[0]
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    n_test = max(1, int(round(test_fraction * n)))
    test, train = order[:n_test], order[n_test:]
    if train.numel() < 2:
        raise ValueError(f"too few samples ({n}) for a train/test split")
    ys = [_zscore(y, train) for y in ys]
    out = np.full((len(xs), len(ys)), np.nan)
    for i, x in enumerate(xs):
        z = _zscore(x, train)
        xtr, xte = z[train], z[test]
        gram = xtr.T @ xtr + alpha * torch.eye(z.shape[1], dtype=z.dtype)
        factor = torch.linalg.cholesky_ex(gram)
        for j, y in enumerate(ys):
            rhs = xtr.T @ y[train]
            if factor.info == 0:
                w = torch.cholesky_solve(rhs, factor.L)
            else:  # alpha = 0 with collinear inputs: least squares instead
                w = torch.linalg.lstsq(xtr, y[train]).solution
            resid = y[test] - xte @ w
            sst = (y[test] - y[test].mean(0)).square().sum()
            out[i, j] = float(1.0 - resid.square().sum() / sst) if sst > 0 else np.nan
    return out
