"""Late fusion of a frozen foreground classifier with a frozen context stream.

Contextual Fusion Enables Robustness to Adversarial Attacks (Akumalla, Haney & Bazhenov, 2020,
arXiv 2011.09526) and its follow-up (arXiv 2406.05120): two separately pretrained, frozen
streams, one for the object (foreground) and one for the scene (background, context), and a
joint classifier on their concatenated features. A gradient attack computed through the
foreground stream alone then moves the object evidence but not the scene evidence.

Here the joint linear classifier on ``[foreground logits, context features]`` keeps the
foreground block fixed to the identity, so only the context block is trained::

    logits(x) = foreground(x) + context_weight * head(context(x))

a log-linear pooling (product of experts) of the foreground classifier with a learned context
expert. ``context_weight`` sets how much the context counts: 0 is exactly the foreground
stream; raising it after training leans the decision toward the context, the role of the
follow-up's penalty ``alpha * ||theta_fg||^2`` on the joint classifier's foreground weights [derived].
Both streams stay frozen and in eval mode (batch-norm statistics included) whatever the mode of
the module; only ``head`` has trainable parameters.

:meth:`LateFusion.foreground_classifier` is the foreground stream's own classifier, for an attack
through one stream (``layerwise.analysis.fgsm(fusion.foreground_classifier(), x, y, eps=...)``,
then the result fed to the whole model) or, passing ``fusion`` itself, through the whole model.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn import LateFusion
    >>> _ = torch.manual_seed(0)
    >>> fg, ctx = nn.Linear(6, 3), nn.Linear(6, 4)
    >>> fusion = LateFusion(fg, ctx, context_dim=4, num_classes=3)
    >>> [n for n, p in fusion.named_parameters() if p.requires_grad]
    ['head.weight', 'head.bias']
    >>> x = torch.rand(5, 6)
    >>> fusion.context_weight = 0.0
    >>> torch.equal(fusion(x), fg(x)), fusion.foreground_classifier() is fg
    (True, True)
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from layerwise._registry import register

PAPER = ("Contextual Fusion Enables Robustness to Adversarial Attacks (Akumalla, Haney & "
         "Bazhenov, 2020)", "2011.09526")


def _positive_int(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


@register("late_fusion", kind="module", paper=PAPER[0], arxiv=PAPER[1])
class LateFusion(nn.Module):
    """``foreground(x) + context_weight * head(context(x))`` with both streams frozen.

    Args:
        foreground: module from inputs to ``(N, num_classes)`` logits (the object classifier).
        context: module from inputs to ``(N, context_dim)`` features (e.g. a scene classifier's
            logits or penultimate features).
        context_dim: width of the context features.
        num_classes: number of classes of the foreground classifier and of the fused output.
        context_weight: weight of the context evidence, a finite number >= 0 (0: the
            foreground stream exactly).
    """

    def __init__(self, foreground: nn.Module, context: nn.Module, *, context_dim: int,
                 num_classes: int, context_weight: float = 1.0) -> None:
        super().__init__()
        for name, stream in (("foreground", foreground), ("context", context)):
            if not isinstance(stream, nn.Module):
                raise TypeError(f"{name} must be an nn.Module, got {type(stream).__name__}")
        self.context_dim = _positive_int(context_dim, "context_dim")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.foreground, self.context = foreground, context
        self.head = nn.Linear(self.context_dim, self.num_classes)
        self.context_weight = context_weight
        for p in (*foreground.parameters(), *context.parameters()):
            p.requires_grad_(False)
        self.train(self.training)

    @property
    def context_weight(self) -> float:
        return self._context_weight

    @context_weight.setter
    def context_weight(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value < 0:
            raise ValueError(f"context_weight must be a finite number >= 0, got {value!r}")
        self._context_weight = float(value)

    def train(self, mode: bool = True) -> LateFusion:
        """Set the head's mode; the frozen streams always stay in eval mode."""
        super().train(mode)
        self.foreground.eval()
        self.context.eval()
        return self

    def foreground_classifier(self) -> nn.Module:
        """The foreground stream: inputs to its own logits (what a one-stream attack uses)."""
        return self.foreground

    def forward(self, x: Tensor) -> Tensor:
        fg = self.foreground(x)
        return self.fuse(fg, self.context(x) if self._context_weight != 0.0 else None)

    def fuse(self, fg_logits: Tensor, context_features: Tensor | None) -> Tensor:
        """The fused logits from the streams' outputs (e.g. cached ones, to train the head
        without running the frozen streams again); ``None`` features only at weight 0."""
        if fg_logits.dim() != 2 or fg_logits.shape[1] != self.num_classes:
            raise ValueError(f"foreground must return (N, num_classes={self.num_classes}) logits, "
                             f"got shape {tuple(fg_logits.shape)}")
        if self._context_weight == 0.0:
            return fg_logits
        n = fg_logits.shape[0]
        if context_features is None or context_features.shape != (n, self.context_dim):
            shape = None if context_features is None else tuple(context_features.shape)
            raise ValueError(f"context must return (N={n}, context_dim={self.context_dim}) "
                             f"features, got shape {shape}")
        return fg_logits + self._context_weight * self.head(context_features)

    def extra_repr(self) -> str:
        return (f"context_dim={self.context_dim}, num_classes={self.num_classes}, "
                f"context_weight={self._context_weight}")
