"""Activation health of a layer's output: scale, offset, outliers, dead units, bias shift.

Massive activations (a few entries orders of magnitude above the median) are the symptom the
Peri-LN paper (Kim et al., 2025, arXiv 2502.02732) tracks per layer; bias shift (non-zero unit
means acting as a bias on the next layer) is the ELU paper's (Clevert et al., 2016,
arXiv 1511.07289). The functions below are the naive definitions; ``activation_stats`` computes
the requested subset in a few fused reductions, in float32, on the tensor's device.
"""

from __future__ import annotations

import functools
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
    """Fraction of units never positive over the batch (ReLU outputs only: a leaky ReLU's units
    keep a slope and cannot die); NaN when the output holds NaN/inf (a diverged layer is not "0%
    dead")."""
    if not torch.isfinite(h).all():
        return torch.tensor(float("nan"), dtype=torch.float64)
    alive = (units(h, unit_dim) > 0).any(dim=0)
    return 1.0 - alive.double().mean()


@metric("bias_shift", tier="business", stage="forward", paper=ELU[0], arxiv=ELU[1])
def bias_shift(h: Tensor, unit_dim: int = -1) -> Tensor:
    """RMS over units of each unit's batch mean: the bias the layer hands to the next one."""
    return units(h.double(), unit_dim).mean(dim=0).pow(2).mean().sqrt()


FORWARD = ("act_rms", "act_mean", "act_max", "act_max_median", "dead_fraction", "bias_shift")


@dataclass
class Pieces:
    """What the forward metrics need of ``L`` layer outputs, one row per layer.

    ``l2`` norms (L,), ``unit_sum`` / ``unit_max`` (L, units) per unit where ``bias_shift`` /
    ``dead_fraction`` need them, else (L, 1) over the whole output; the global ``minimum`` (L,)
    and ``sample`` (L, <= 512 strided entries, for the max/median ratio); ``numel`` and ``units``
    give each layer's sizes. Rows of layers narrower than the widest are padded (sum 0, max -inf,
    sample 0).
    """

    l2: Tensor
    unit_sum: Tensor
    unit_max: Tensor
    minimum: Tensor
    numel: tuple[int, ...]
    units: tuple[int, ...]
    sample: Tensor | None = None


def stacked_pieces(stack: Tensor, names: tuple[str, ...], unit_dim: int = -1) -> Pieces:
    """:class:`Pieces` of ``L`` same-shaped outputs stacked along a new first axis, in four or
    five reductions for all of them; ``unit_dim`` indexes the axes of one output. Sums and norms
    accumulate in float32 (float64 for float64 outputs); no host sync."""
    n_layers = stack.shape[0]
    flat = stack.reshape(n_layers, -1)
    acc = torch.float64 if stack.dtype == torch.float64 else torch.float32
    if "bias_shift" in names or "dead_fraction" in names:
        per_unit, dims = _per_unit(stack, unit_dim)  # a copy when the output is not contiguous
    if "bias_shift" in names:
        unit_sum = per_unit.sum(dims, dtype=acc)
    else:
        unit_sum = flat.sum(1, dtype=acc, keepdim=True)
    if "dead_fraction" in names:
        unit_max, minimum = per_unit.amax(dims), flat.amin(1)
    else:
        minimum, maximum = _min_max(flat)
        unit_max = maximum[:, None]
    numel = flat.shape[1]
    sample = flat[:, :: max(1, numel // MEDIAN_SAMPLE)].clone() if "act_max_median" in names else None
    return Pieces(torch.linalg.vector_norm(flat, dim=1, dtype=acc), unit_sum, unit_max, minimum,
                  (numel,) * n_layers, (_unit_count(stack, unit_dim),) * n_layers, sample)


def _per_unit(stack: Tensor, unit_dim: int) -> tuple[Tensor, int | tuple[int, ...]]:
    """A view of ``stack`` and the axes to reduce so that one value per (layer, unit) remains."""
    n_layers, out_dims = stack.shape[0], stack.dim() - 1
    if out_dims < 2:  # a scalar or a vector per layer: its entries are samples of one unit
        return stack.reshape(n_layers, -1, 1), 1
    if unit_dim % out_dims == out_dims - 1:
        return stack.reshape(n_layers, -1, stack.shape[-1]), 1
    return stack, tuple(d for d in range(1, stack.dim()) if d != unit_dim % out_dims + 1)


def _unit_count(stack: Tensor, unit_dim: int) -> int:
    out_dims = stack.dim() - 1
    return 1 if out_dims < 2 else stack.shape[unit_dim % out_dims + 1]


def _min_max(flat: Tensor) -> tuple[Tensor, Tensor]:
    """Row minima and maxima: one fused kernel on a GPU; two reductions on the CPU, where
    ``aminmax`` along a dimension is several times slower than both."""
    if flat.is_cuda:
        return torch.aminmax(flat, dim=1)
    return flat.amin(1), flat.amax(1)


def layer_pieces(h: Tensor, names: tuple[str, ...], unit_dim: int = -1) -> Pieces:
    """:class:`Pieces` of one layer output of any float dtype and layout (L = 1)."""
    return stacked_pieces(h.detach().unsqueeze(0), names, unit_dim)


def concat_pieces(parts: list[Pieces]) -> Pieces:
    """One :class:`Pieces` of all layers in ``parts`` (unit rows padded to the widest)."""
    if len(parts) == 1:
        return parts[0]
    samples = [p.sample for p in parts]
    return Pieces(
        torch.cat([p.l2 for p in parts]), _padded([p.unit_sum for p in parts], 0.0),
        _padded([p.unit_max for p in parts], -torch.inf), torch.cat([p.minimum for p in parts]),
        sum((p.numel for p in parts), ()), sum((p.units for p in parts), ()),
        _padded(samples, 0.0) if all(s is not None for s in samples) else None,
    )


def merge_rows(pieces: Pieces, extra: dict[int, list[Pieces]]) -> Pieces:
    """``pieces`` with row ``r`` combined with the one-layer :class:`Pieces` in ``extra[r]``
    (more calls of that layer in one step, e.g. the micro-batches of an accumulated step): sums
    of squares and sums add, unit maxima and minima combine, sizes add; the max/median sample
    stays the first call's."""
    if not extra:
        return pieces
    l2, unit_sum, unit_max, minimum = (pieces.l2.clone(), pieces.unit_sum.clone(),
                                       pieces.unit_max.clone(), pieces.minimum.clone())
    numel = list(pieces.numel)
    for row, parts in extra.items():
        for part in parts:
            l2[row] = torch.sqrt(l2[row] ** 2 + part.l2[0].to(l2.dtype) ** 2)
            sums, maxima = part.unit_sum.shape[1], part.unit_max.shape[1]  # per unit, or 1 (whole)
            unit_sum[row, :sums] += part.unit_sum[0].to(unit_sum.dtype)
            part_max = part.unit_max[0].to(unit_max.dtype)
            unit_max[row, :maxima] = torch.maximum(unit_max[row, :maxima], part_max)
            minimum[row] = torch.minimum(minimum[row], part.minimum[0].to(minimum.dtype))
            numel[row] += part.numel[0]
    return Pieces(l2, unit_sum, unit_max, minimum, tuple(numel), pieces.units, pieces.sample)


def finish_activation_stats(pieces: Pieces, names: tuple[str, ...] = FORWARD) -> dict[str, Tensor]:
    """Per-layer values (one entry per row of ``pieces``) of the forward metrics ``names``.

    ``act_max`` propagates NaN and Inf exactly, so it doubles as the non-finite detector; the
    median of ``act_max_median`` is over the non-zero sampled entries (NaN when all are zero).
    """
    want = set(names)
    device = pieces.l2.device
    n, units = _sizes(pieces.numel, device), _sizes(pieces.units, device)
    out: dict[str, Tensor] = {}
    if "act_rms" in want:
        out["act_rms"] = pieces.l2.float() / n**0.5
    if "act_mean" in want:
        out["act_mean"] = pieces.unit_sum.sum(dim=1).float() / n
    if "bias_shift" in want:
        unit_means = pieces.unit_sum.float() / _column(n / units)
        out["bias_shift"] = (unit_means.pow(2).sum(dim=1) / units).sqrt()
    unit_max = pieces.unit_max.float()
    out["act_max"] = torch.maximum(unit_max.amax(dim=1), -pieces.minimum.float())
    if "dead_fraction" in want:  # padding entries (-inf) are not units: subtract them
        dead = (unit_max <= 0).sum(dim=1) - (unit_max.shape[1] - units)
        finite = torch.isfinite(out["act_max"])  # NaN/inf anywhere in the output reach act_max
        out["dead_fraction"] = torch.where(finite, dead / units, torch.nan)
    if "act_max_median" in want and pieces.sample is not None:
        sample = pieces.sample.float().abs()
        median = torch.where(sample > 0, sample, torch.nan).nanmedian(dim=1).values
        out["act_max_median"] = out["act_max"] / median
    return out


def _sizes(values: tuple[int, ...], device: torch.device) -> float | Tensor:
    """Per-layer sizes as a Python number when all layers agree (no host-to-device copy), else as
    a cached device tensor."""
    return float(values[0]) if len(set(values)) == 1 else _size_tensor(values, device)


@functools.lru_cache(maxsize=128)
def _size_tensor(values: tuple[int, ...], device: torch.device) -> Tensor:
    return torch.tensor(values, device=device, dtype=torch.float32)


def _column(x: float | Tensor) -> float | Tensor:
    return x[:, None] if isinstance(x, Tensor) else x


def _padded(rows: list[Tensor], value: float) -> Tensor:
    """Concatenate (L_i, k_i) blocks along the first axis, padding rows to the widest with ``value``."""
    try:
        return torch.cat(rows)
    except RuntimeError:
        return torch.nn.utils.rnn.pad_sequence([row for r in rows for row in r], batch_first=True,
                                               padding_value=value)


def activation_stats(h: Tensor, names: tuple[str, ...], unit_dim: int = -1) -> Tensor:
    """The metrics ``names`` (a subset of FORWARD) of one output ``h``, in that order."""
    done = finish_activation_stats(layer_pieces(h, names, unit_dim), names)
    return torch.stack([done[n][0] for n in names])
