"""Norm factory shared by the reference models: ``make_norm("layer" | "rms", dim)``."""

from __future__ import annotations

from torch import nn

from layerwise.nn.rmsnorm import RMSNorm

NORMS = ("layer", "rms")


def make_norm(kind: str, dim: int) -> nn.Module:
    """A fresh norm over the last dimension: ``nn.LayerNorm`` ("layer") or ``RMSNorm`` ("rms")."""
    if kind == "layer":
        return nn.LayerNorm(dim)
    if kind == "rms":
        return RMSNorm(dim)
    raise ValueError(f"unknown norm {kind!r}; use one of {', '.join(NORMS)}")
