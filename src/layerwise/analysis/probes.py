"""Per-layer linear probes: how linearly decodable a label is from each layer's activations.

Understanding Intermediate Layers Using Linear Classifier Probes (Alain & Bengio, 2016,
arXiv 1610.01644). For each layer: z-score the features, fit a multinomial logistic regression,
and report its accuracy under stratified k-fold cross-validation with a fixed shuffling seed, so
two calls on the same data agree exactly. The scaler is fitted inside each fold (no leakage).

Used by the domain-adversarial (domain decodability), unlearning (fact decodability) and
projection-head studies; labels can be anything with at least ``folds`` samples per class.

Example::

    >>> import torch
    >>> from layerwise.analysis import probe_accuracy
    >>> labels = torch.arange(120) % 2
    >>> feats = {"blocks.0": torch.randn(120, 6) + 3.0 * labels[:, None], "blocks.1": torch.randn(120, 6)}
    >>> acc = probe_accuracy(feats, labels, folds=4)
    >>> acc["blocks.0"][0] > 0.95, acc["blocks.1"][0] < 0.8
    (True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from layerwise._registry import register
from layerwise.analysis._arrays import as_matrix, warn_degenerate

PAPER = (
    "Understanding Intermediate Layers Using Linear Classifier Probes (Alain & Bengio, 2016)",
    "1610.01644",
)


def _labels(labels: Any) -> np.ndarray:
    y = labels.detach().cpu().numpy() if hasattr(labels, "detach") else np.asarray(labels)
    return y.reshape(-1)


@register("linear_probe", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def probe_accuracy(
    features_by_layer: Mapping[str, Any],
    labels: Any,
    folds: int = 5,
    *,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 1000,
) -> dict[str, tuple[float, float]]:
    """Mean and std of held-out accuracy of a logistic-regression probe, per layer.

    ``features_by_layer`` maps a layer name to its (n, ...) activations (flattened per sample);
    ``labels`` has n entries of any hashable type. A layer with NaN/inf features gets (NaN, NaN)
    and a warning. ``C`` is the inverse L2 strength of sklearn's ``LogisticRegression``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = _labels(labels)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("probes need at least two classes")
    if folds < 2 or counts.min() < folds:
        raise ValueError(f"every class needs >= folds={folds} >= 2 samples; smallest has {counts.min()}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = {}
    for layer, feats in features_by_layer.items():
        x = as_matrix(feats, str(layer)).numpy()
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{layer}: {x.shape[0]} samples but {y.shape[0]} labels")
        if not np.isfinite(x).all():
            warn_degenerate(f"probe_accuracy: {layer} holds NaN or inf; its accuracy is NaN")
            out[layer] = (float("nan"), float("nan"))
            continue
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
        scores = cross_val_score(probe, x, y, cv=splitter)
        out[layer] = (float(scores.mean()), float(scores.std()))
    return out
