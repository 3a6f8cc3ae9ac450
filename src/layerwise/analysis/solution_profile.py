"""``solution_profile``: what a trained network's layers look like, to compare solutions of optimizers.

Optimizers Qualitatively Alter Solutions And We Should Leverage This (2025, arXiv 2507.12224)
argues that the optimizer is an inductive bias: networks trained to the same accuracy by SGD,
AdamW or Shampoo differ in the dimension of their representations and in how much the classes
share them. This profile measures those properties per layer, on one batch of data:

- ``effective_rank``: the effective rank (Roy & Vetterli, 2007; ``layerwise.analysis.effective_rank``)
  of the layer's (samples, features) output, centred over the samples by default: exp of the
  entropy of the normalised singular values, k for k equal singular values;
- ``cross_class_cosine``: the mean, over pairs of distinct classes, of the cosine between the two
  classes' mean representations (not centred, so that shared active units count as overlap): 0
  when the class means are orthogonal, 1 when every class is represented alike;
- ``sparsity``: the fraction of output entries that are exactly zero (dead ReLU units, per sample);
- ``weight_spectra``: the singular values (descending, float64) of every weight with two or more
  axes inside the layer, reshaped to (out, -1), keyed by the parameter's dotted name.

Layers are chosen by any :func:`layerwise.layers.select_layers` selector (default: the model's
blocks); a sample's representation is its layer output flattened. Works in float64 on the CPU.

Example::

    >>> import torch
    >>> from layerwise.analysis import solution_profile
    >>> from layerwise.models import MLP
    >>> model = MLP(in_dim=8, out_dim=3, depth=2, width=16)
    >>> x, y = torch.randn(60, 8), torch.arange(60) % 3
    >>> prof = solution_profile(model, (x, y))
    >>> prof.layers, sorted(prof.weight_spectra)
    (('blocks.0', 'blocks.1'), ['blocks.0.linear.weight', 'blocks.1.linear.weight'])
    >>> 1.0 <= prof.effective_rank["blocks.1"] <= 16.0, prof.weight_spectra["blocks.0.linear.weight"].shape
    (True, (8,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.analysis._arrays import as_matrix, warn_degenerate
from layerwise.analysis.spectra import effective_rank
from layerwise.layers import Selector, get_module, select_layers

PAPER = ("Optimizers Qualitatively Alter Solutions And We Should Leverage This (2025)", "2507.12224")


@dataclass(frozen=True)
class SolutionProfile:
    """Per-layer readings of one model on one batch (see the module doc for each)."""

    layers: tuple[str, ...]
    effective_rank: dict[str, float]
    cross_class_cosine: dict[str, float]
    sparsity: dict[str, float]
    weight_spectra: dict[str, np.ndarray]

    def mean(self, what: str) -> float:
        """The mean over layers of ``effective_rank``, ``cross_class_cosine`` or ``sparsity``."""
        if what not in ("effective_rank", "cross_class_cosine", "sparsity"):
            raise ValueError(f"what must be effective_rank, cross_class_cosine or sparsity, got {what!r}")
        return float(np.mean([getattr(self, what)[name] for name in self.layers]))


def cross_class_cosine(h: Any, labels: Any) -> float:
    """Mean cosine between the mean representations of every pair of distinct classes in ``labels``;
    NaN (with a warning) when fewer than two classes are present or a class mean is zero."""
    x = as_matrix(h, "h")
    y = torch.as_tensor(labels).reshape(-1).to("cpu")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"labels must have one entry per sample: {y.shape[0]} labels, {x.shape[0]} samples")
    classes = torch.unique(y)
    means = torch.stack([x[y == c].mean(dim=0) for c in classes])
    norms = torch.linalg.vector_norm(means, dim=1)
    if len(classes) < 2 or bool((norms == 0).any()) or not bool(torch.isfinite(means).all()):
        warn_degenerate("cross_class_cosine: fewer than two classes, or a zero class mean; returning NaN")
        return math.nan
    unit = means / norms[:, None]
    cos = unit @ unit.T
    pairs = torch.triu_indices(len(classes), len(classes), offset=1)
    return float(cos[pairs[0], pairs[1]].mean())


def _inputs(data: Any) -> tuple[Any, Tensor | None]:
    """(inputs, labels or None) from an (x, y) pair, a Split (its validation part) or a tensor."""
    if hasattr(data, "tensors") and hasattr(data, "x_val"):
        x, y = data.tensors("val")
    elif isinstance(data, tuple | list) and len(data) == 2:
        x, y = data
    elif isinstance(data, Tensor):
        x, y = data, None
    else:
        raise TypeError(f"data must be an (x, y) pair, a layerwise Split or an input tensor, got "
                        f"{type(data).__name__}")
    if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"data holds no samples (inputs of shape {tuple(getattr(x, 'shape', ()))}); "
                         "pass at least one sample, two classes for cross_class_cosine")
    if y is not None:
        y = torch.as_tensor(y)
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(f"data: {x.shape[0]} inputs but {y.shape[0] if y.ndim else 0} labels")
    return x, y


def _outputs(model: nn.Module, names: list[str], x: Tensor, batch_size: int) -> dict[str, Tensor]:
    """Each named layer's output on ``x`` (first tensor of a tuple), detached, in eval mode."""
    chunks: dict[str, list[Tensor]] = {name: [] for name in names}

    def hook(name: str):
        def record(_m: nn.Module, _i: Any, out: Any) -> None:
            out = out[0] if isinstance(out, tuple | list) else out
            chunks[name].append(out.detach().flatten(1).to("cpu", torch.float64))
        return record

    handles = [get_module(model, name).register_forward_hook(hook(name)) for name in names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for part in x.split(batch_size):
                model(part)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def _weight_spectra(model: nn.Module, names: list[str]) -> dict[str, np.ndarray]:
    spectra = {}
    for name in names:
        for pname, p in get_module(model, name).named_parameters():
            if p.ndim >= 2:
                w = p.detach().to("cpu", torch.float64).reshape(p.shape[0], -1)
                spectra[f"{name}.{pname}"] = torch.linalg.svdvals(w).numpy()
    return spectra


@register("solution_profile", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
def solution_profile(model: nn.Module, data: Any, *, layers: Selector = None, center: bool = True,
                     batch_size: int = 1024) -> SolutionProfile:
    """Per-layer effective rank, cross-class cosine and sparsity of ``model``'s representations of
    ``data`` ((x, y), a Split's validation part, or inputs alone: then the cosine is NaN), and the
    singular values of the layers' weights. ``layers``: a select_layers selector (default: blocks).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x, y = _inputs(data)
    try:
        names = select_layers(model, layers)
    except LookupError as err:
        raise ValueError(f"layers={layers!r}: {err}") from None
    outputs = _outputs(model, names, x, batch_size)
    cosine = {n: cross_class_cosine(h, y) if y is not None else math.nan for n, h in outputs.items()}
    return SolutionProfile(
        layers=tuple(names),
        effective_rank={n: effective_rank(h, center=center) for n, h in outputs.items()},
        cross_class_cosine=cosine,
        sparsity={n: float((h == 0).double().mean()) for n, h in outputs.items()},
        weight_spectra=_weight_spectra(model, names),
    )
