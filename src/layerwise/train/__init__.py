"""layerwise.train: training schemes that are not a gradient transform (DANN, ...)."""

from layerwise.train.dann import DANNTrainer
from layerwise.train.noprop import NoPropBlock, NoPropTrainer
from layerwise.train.rlcp import DualStreamTrainer, GradientReversalProbe

__all__ = ["DANNTrainer", "NoPropBlock", "NoPropTrainer", "DualStreamTrainer", "GradientReversalProbe"]
