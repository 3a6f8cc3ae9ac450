"""layerwise.train: training schemes that are not a gradient transform (DANN, ...)."""

from layerwise.train.dann import DANNTrainer

__all__ = ["DANNTrainer"]
