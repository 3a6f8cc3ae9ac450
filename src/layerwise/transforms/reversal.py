"""Gradient reversal layer (Ganin et al., 2015, arXiv 1505.07818).

The layer is the identity in the forward pass and multiplies the incoming gradient by -lambda in
the backward pass. Placed between a feature extractor and a domain classifier, it makes the
classifier minimise its loss while the features *maximise* it, which drives the features towards
domain invariance (domain-adversarial training, ``layerwise.train.DANNTrainer``).

lambda is a constant or a schedule ``lambda_(p)`` of the training progress p in [0, 1], which the
training loop sets through ``GradReverse.progress``. The paper's schedule is ``dann_lambda``:
lambda_p = 2 / (1 + exp(-gamma p)) - 1 with gamma = 10, rising from 0 to about 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.transforms._papers import DANN


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """The DANN schedule 2 / (1 + exp(-gamma p)) - 1 for progress ``p`` in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class GradientReversal(torch.autograd.Function):
    """Autograd function: forward x -> x, backward g -> -lambda g (no gradient for lambda)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambda_: float) -> Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad.neg() * ctx.lambda_, None


def grad_reverse(x: Tensor, lambda_: float = 1.0) -> Tensor:
    """Identity on ``x`` whose backward multiplies the gradient by ``-lambda_``."""
    return GradientReversal.apply(x, lambda_)


@register("grad_reverse", kind="module", paper=DANN[0], arxiv=DANN[1])
class GradReverse(nn.Module):
    """Gradient reversal layer with a constant or scheduled lambda.

    Paper: Domain-Adversarial Training of Neural Networks (Ganin, Ustinova, Ajakan, Germain,
    Larochelle, Laviolette, Marchand, Lempitsky, 2015, arXiv 1505.07818).

    Args:
        lambda_: a float, or a callable ``p -> lambda`` of the progress ``self.progress`` in [0, 1]
            (``dann_lambda`` is the paper's schedule).

    Example::

        >>> import torch
        >>> from layerwise.transforms import GradReverse, dann_lambda
        >>> grl = GradReverse(dann_lambda)
        >>> grl.progress = 1.0
        >>> x = torch.ones(3, requires_grad=True)
        >>> grl(x).sum().backward()
        >>> [round(v, 4) for v in x.grad.tolist()]
        [-0.9999, -0.9999, -0.9999]
    """

    def __init__(self, lambda_: float | Callable[[float], float] = 1.0) -> None:
        super().__init__()
        self.lambda_ = lambda_
        self.progress = 0.0

    @property
    def current_lambda(self) -> float:
        """lambda at the current progress."""
        return float(self.lambda_(self.progress)) if callable(self.lambda_) else float(self.lambda_)

    def forward(self, x: Tensor) -> Tensor:
        return grad_reverse(x, self.current_lambda)

    def extra_repr(self) -> str:
        lam = getattr(self.lambda_, "__name__", None) or repr(self.lambda_)
        return f"lambda_={lam}, progress={self.progress:g}"
