"""The gated (U/V) MLP of the PINN gradient-pathologies paper (its "improved architecture").

Wang, Teng, Perdikaris, "Understanding and mitigating gradient pathologies in physics-informed
neural networks", 2021, arXiv 2001.04536, Sec. 3.3 (model M3; M4 adds loss annealing)::

    U = act(X W_U + b_U),  V = act(X W_V + b_V)              two encoders of the input
    Z_l = act(H_l W_l + b_l),  H_{l+1} = Z_l * U + (1 - Z_l) * V   for each hidden layer (H_0 = X)
    f(X) = H_L W + b                                          linear output

Xavier-normal weights, zero biases (the official code draws the encoder biases Xavier-normal
too; ``reset_parameters`` follows it). tanh by default, as in the paper.

Example::

    >>> import torch
    >>> from layerwise.multiloss import GatedMLP
    >>> net = GatedMLP(2, 1, width=50, depth=3)
    >>> net(torch.randn(5, 2)).shape
    torch.Size([5, 1])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from layerwise._registry import register


@register("gated_mlp", kind="module",
          paper="Understanding and mitigating gradient pathologies in physics-informed neural networks "
                "(Wang, Teng, Perdikaris, 2021)", arxiv="2001.04536")
class GatedMLP(nn.Module):
    """MLP whose hidden layers mix two input encodings U and V through gates Z: Z*U + (1-Z)*V."""

    def __init__(self, in_dim: int, out_dim: int, *, width: int = 50, depth: int = 3,
                 activation: Callable[[Tensor], Tensor] = torch.tanh) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.act = activation
        self.encoder_u = nn.Linear(in_dim, width)
        self.encoder_v = nn.Linear(in_dim, width)
        self.hidden = nn.ModuleList([nn.Linear(in_dim if i == 0 else width, width) for i in range(depth)])
        self.out = nn.Linear(width, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in [self.encoder_u, self.encoder_v, *self.hidden, self.out]:
            nn.init.xavier_normal_(lin.weight)
            nn.init.zeros_(lin.bias)
        for enc in (self.encoder_u, self.encoder_v):  # official code: Xavier std for a (1, width) bias
            nn.init.normal_(enc.bias, std=math.sqrt(2.0 / (1 + enc.out_features)))

    def forward(self, x: Tensor) -> Tensor:
        u, v = self.act(self.encoder_u(x)), self.act(self.encoder_v(x))
        h = x
        for layer in self.hidden:
            z = self.act(layer(h))
            h = z * u + (1 - z) * v
        return self.out(h)
