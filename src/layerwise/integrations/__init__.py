"""Bridges to other tools, each behind an extra: TensorBoard event files (``[tb]``)."""

from layerwise.integrations.tensorboard import export_tensorboard

__all__ = ["export_tensorboard"]
