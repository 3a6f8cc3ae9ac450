"""Activation health of a layer's output: scale, offset, outliers, dead units, bias shift.

Massive activations (a few entries orders of magnitude above the median) are the symptom the
Peri-LN paper (Kim et al., 2025, arXiv 2502.02732) tracks per layer; bias shift (non-zero unit
means acting as a bias on the next layer) is the ELU paper's (Clevert et al., 2016,
arXiv 1511.07289). The functions below are the naive definitions; ``activation_stats`` computes
the requested subset in a few fused reductions, in float32, on the tensor's device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerwise.metrics.base import metric
from layerwise.metrics.papers import CURSE_OF_DEPTH, ELU, PERI_LN

MEDIAN_SAMPLE = 4096  # max |x| / median |x| uses the median of at most this many strided entries


def units(h: Tensor, unit_dim: int) -> Tensor:
    """``h`` as (samples, units): units along ``unit_dim`` (features, or channels for convs)."""
    return h.movedim(unit_dim, -1).reshape(-1, h.shape[unit_dim])


@metric("act_rms", tier="economy", stage="forward", paper=CURSE_OF_DEPTH[0], arxiv=CURSE_OF_DEPTH[1])
def act_rms(h: Tensor) -> Tensor:
    """Root mean square of a layer's output (residual-stream scale)."""
    return h.double().pow(2).mean().sqrt()


@metric("act_mean", tier="economy", stage="forward", paper=ELU[0], arxiv=ELU[1])
def act_mean(h: Tensor) -> Tensor:
    """Mean of a layer's output over every entry."""
    return h.double().mean()


@metric("act_max", tier="economy", stage="forward", paper=PERI_LN[0], arxiv=PERI_LN[1])
def act_max(h: Tensor) -> Tensor:
    """Largest magnitude max |x| in a layer's output (massive activations)."""
    return h.double().abs().max()


@metric("act_max_median", tier="economy", stage="forward", paper=PERI_LN[0], arxiv=PERI_LN[1])
def act_max_median(h: Tensor) -> Tensor:
    """max |x| / median |x| of a layer's output (massive activations).

    The median is taken over the non-zero entries (ReLU outputs are mostly zeros) of at most
    4096 evenly strided entries; NaN when they are all zero.
    """
    flat = h.double().abs().reshape(-1)
    sample = flat[:: max(1, flat.numel() // MEDIAN_SAMPLE)]
    nonzero = sample[sample > 0]
    return flat.max() / nonzero.median() if nonzero.numel() else torch.tensor(float("nan"))


@metric("dead_fraction", tier="economy", stage="forward", paper=ELU[0], arxiv=ELU[1])
def dead_fraction(h: Tensor, unit_dim: int = -1) -> Tensor:
    """Fraction of units never positive over the batch (ReLU-family outputs only)."""
    alive = (units(h, unit_dim) > 0).any(dim=0)
    return 1.0 - alive.double().mean()


@metric("bias_shift", tier="business", stage="forward", paper=ELU[0], arxiv=ELU[1])
def bias_shift(h: Tensor, unit_dim: int = -1) -> Tensor:
    """RMS over units of each unit's batch mean: the bias the layer hands to the next one."""
    return units(h.double(), unit_dim).mean(dim=0).pow(2).mean().sqrt()


FORWARD = ("act_rms", "act_mean", "act_max", "act_max_median", "dead_fraction", "bias_shift")


def activation_stats(h: Tensor, names: tuple[str, ...], unit_dim: int = -1) -> Tensor:
    """The metrics ``names`` (a subset of FORWARD, in that order) of output ``h``, as one tensor.

    One pass per statistic, no host sync. ``act_max`` propagates NaN and Inf exactly, so it doubles
    as the non-finite detector.
    """
    x = h.detach()
    if x.dtype != torch.float32 and x.dtype != torch.float64:
        x = x.float()
    flat = x.reshape(-1)
    out: list[Tensor] = []
    amax = None
    for name in names:
        if name == "act_rms":
            out.append(torch.linalg.vector_norm(flat) / flat.numel() ** 0.5)
        elif name == "act_mean":
            out.append(flat.mean())
        elif name in ("act_max", "act_max_median"):
            amax = torch.linalg.vector_norm(flat, float("inf")) if amax is None else amax
            if name == "act_max":
                out.append(amax)
            else:
                sample = flat[:: max(1, flat.numel() // MEDIAN_SAMPLE)].abs()
                sample = torch.where(sample > 0, sample, torch.nan)  # no sync, unlike masking
                out.append(amax / sample.nanmedian())
        elif name == "dead_fraction":
            alive = (units(x, unit_dim) > 0).any(dim=0)
            out.append(1.0 - alive.float().mean())
        elif name == "bias_shift":
            out.append(torch.linalg.vector_norm(units(x, unit_dim).mean(dim=0)) / x.shape[unit_dim] ** 0.5)
    return torch.stack(out).float()
