"""Per-layer metrics, one file per family; each registered with its paper."""

from layerwise.metrics import activations, gradients, noise
from layerwise.metrics.base import METRICS, MetricSpec, metric, resolve

__all__ = ["METRICS", "MetricSpec", "activations", "gradients", "metric", "noise", "resolve"]
