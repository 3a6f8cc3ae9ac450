"""Activation health of a layer's output: scale, offset, outliers, dead units, bias shift.

Massive activations (a few entries orders of magnitude above the median) are the symptom the
Peri-LN paper (Kim et al., 2025, arXiv 2502.02732) tracks per layer; bias shift (non-zero unit
means acting as a bias on the next layer) is the ELU paper's (Clevert et al., 2016,
arXiv 1511.07289). The functions below are the naive definitions; ``activation_stats`` computes
the requested subset in a few fused reductions, in float32, on the tensor's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from layerwise.metrics.base import metric
from layerwise.metrics.papers import CURSE_OF_DEPTH, ELU, PERI_LN

MEDIAN_SAMPLE = 512  # max |x| / median |x| uses the median of at most this many strided entries


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
    512 evenly strided entries; NaN when they are all zero.
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


@dataclass
class Partial:
    """Per-layer pieces taken in the forward hook; finished for all layers at once.

    ``sumsq`` (dot product), per-unit ``unit_sum`` / ``unit_min`` / ``unit_max`` (one pass each
    over the units' axis) and ``sample`` (<= 512 strided entries, for the max/median ratio).
    The global sum, min and max follow from the per-unit ones.
    """

    sumsq: Tensor
    unit_sum: Tensor
    unit_min: Tensor
    unit_max: Tensor
    numel: int
    sample: Tensor | None = None


def activation_partial(h: Tensor, names: tuple[str, ...], unit_dim: int = -1) -> Partial:
    """Reduce a layer output to the few tensors ``finish_activation_stats`` needs (no sync)."""
    x = h.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    flat = x.reshape(-1)
    if x.dim() < 2:
        x, unit_dim = flat.reshape(-1, 1), -1
    if unit_dim in (-1, x.dim() - 1):
        x, dims = x.reshape(-1, x.shape[-1]), 0
    else:
        dims = tuple(d for d in range(x.dim()) if d != unit_dim % x.dim())
    # amin + amax: aminmax(dim=...) is 10x slower on CPU
    lo, hi, total = x.amin(dims), x.amax(dims), x.sum(dims)
    sample = None
    if "act_max_median" in names:
        sample = flat[:: max(1, flat.numel() // MEDIAN_SAMPLE)].clone()
    return Partial(torch.dot(flat, flat), total, lo, hi, flat.numel(), sample)


def part_sizes(parts: list[Partial]) -> tuple[Tensor, Tensor]:
    """(entries, units) of each part as float tensors on the parts' device (cache them: on a GPU
    building them is a host-to-device copy)."""
    device = parts[0].sumsq.device
    n = torch.tensor([p.numel for p in parts], device=device, dtype=torch.float32)
    return n, torch.tensor([p.unit_sum.numel() for p in parts], device=device, dtype=torch.float32)


def finish_activation_stats(parts: list[Partial], names: tuple[str, ...] = FORWARD,
                            sizes: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
    """Per-layer values (one entry per part) of the forward metrics ``names``, batched over layers.

    ``act_max`` propagates NaN and Inf exactly, so it doubles as the non-finite detector; the
    median of ``act_max_median`` is over the non-zero sampled entries (NaN when all are zero).
    ``sizes`` is ``part_sizes(parts)``, computed here when not given.
    """
    want = set(names)
    n, units = sizes if sizes is not None else part_sizes(parts)
    out: dict[str, Tensor] = {}
    if "act_rms" in want:
        out["act_rms"] = (torch.stack([p.sumsq for p in parts]).float() / n).sqrt()
    if want & {"act_mean", "bias_shift"}:
        sums = _padded([p.unit_sum for p in parts], 0.0)
        out["act_mean"] = sums.sum(dim=1) / n
        unit_means = sums / (n / units)[:, None]
        out["bias_shift"] = (unit_means.pow(2).sum(dim=1) / units).sqrt()
    unit_max = _padded([p.unit_max for p in parts], -torch.inf)
    lo = _padded([p.unit_min for p in parts], torch.inf).amin(dim=1)
    out["act_max"] = torch.maximum(unit_max.amax(dim=1), -lo)
    if "dead_fraction" in want:  # padding entries (-inf) are not units: subtract them
        dead = (unit_max <= 0).sum(dim=1) - (unit_max.shape[1] - units)
        out["dead_fraction"] = dead / units
    if "act_max_median" in want and all(p.sample is not None for p in parts):
        sample = _padded([p.sample for p in parts], 0.0).abs()
        median = torch.where(sample > 0, sample, torch.nan).nanmedian(dim=1).values
        out["act_max_median"] = out["act_max"] / median
    return out


def _padded(rows: list[Tensor], value: float) -> Tensor:
    """Stack equal-length rows; pad with ``value`` when layers differ in width."""
    try:
        return torch.stack(rows).float()
    except RuntimeError:
        return torch.nn.utils.rnn.pad_sequence([r.float() for r in rows], batch_first=True,
                                               padding_value=value)


def activation_stats(h: Tensor, names: tuple[str, ...], unit_dim: int = -1) -> Tensor:
    """The metrics ``names`` (a subset of FORWARD) of one output ``h``, in that order."""
    done = finish_activation_stats([activation_partial(h, names, unit_dim)], names)
    return torch.stack([done[n][0] for n in names])
