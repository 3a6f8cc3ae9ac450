"""MLP: a plain fully connected network with depth, width, norm, residual and init knobs.

Each block is Linear -> optional norm -> activation (``blocks.i.linear``, ``blocks.i.norm``,
``blocks.i.act``); block 0 maps ``in_dim -> width``, the others ``width -> width``, and ``head``
maps ``width -> out_dim``. Inputs of any shape (N, ...) are flattened.

A ready-made depth pathology: the default-initialised (``init="default"``) 16-layer ReLU MLP of
width 256. PyTorch's default weights are U(-1/sqrt(fan_in), 1/sqrt(fan_in)), variance
1/(3 fan_in), so each ReLU layer shrinks the signal's second moment about 6-fold: the spread of
the activations across inputs collapses with depth (on Gaussian input, the per-unit std over the
batch falls from 0.33 at block 0 to 2e-7 at block 15; the std over all entries stalls near 0.02
because the biases are the same for every input) and so do the weight gradients.
``init="kaiming"`` (Delving Deep into Rectifiers, He et al., 2015, arXiv 1502.01852) keeps the
spread within a factor of 4.

Example::

    >>> import torch
    >>> from layerwise.models import MLP
    >>> MLP(in_dim=64, out_dim=10, depth=3, width=32)(torch.randn(5, 1, 8, 8)).shape
    torch.Size([5, 10])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from layerwise._registry import register
from layerwise.nn.activations import make_activation

INITS = ("default", "kaiming", "xavier", "orthogonal")
_NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


class MLPBlock(nn.Module):
    """Linear -> norm -> activation, plus the input when ``residual`` and shapes match."""

    def __init__(
        self, in_dim: int, out_dim: int, *, act: str, norm: str | None, residual: bool, bias: bool,
        act_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if norm is not None and norm not in _NORMS:
            raise ValueError(f"unknown norm {norm!r}; use 'batch', 'layer' or None")
        self.linear = nn.Linear(in_dim, out_dim, bias=bias)
        self.norm = _NORMS[norm](out_dim) if norm is not None else nn.Identity()
        self.act = make_activation(act)
        if act_kwargs:  # e.g. LeakyReLU's negative_slope, ELU's alpha
            self.act = type(self.act)(**act_kwargs)
        self.residual = residual and in_dim == out_dim

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.norm(self.linear(x)))
        return x + y if self.residual else y


def init_linear_(linear: nn.Linear, init: str | float) -> None:
    """Initialise one Linear by scheme name or normal std; biases zero unless ``"default"``."""
    if init == "default":
        return
    w = linear.weight
    if isinstance(init, int | float) and not isinstance(init, bool):
        nn.init.normal_(w, mean=0.0, std=float(init))
    elif init == "kaiming":
        nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    elif init == "xavier":
        nn.init.xavier_normal_(w)
    elif init == "orthogonal":
        nn.init.orthogonal_(w)
    else:
        raise ValueError(f"unknown init {init!r}; use one of {', '.join(INITS)} or a float std")
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


@register("mlp", kind="model", paper="-")
class MLP(nn.Module):
    """Fully connected network: ``depth`` blocks of width ``width`` and a linear ``head``.

    ``init``: "default" (PyTorch's), "kaiming" (normal, fan_in, ReLU gain), "xavier" (normal),
    "orthogonal" (gain 1), or a float used as the std of a normal; non-default inits zero the
    biases. ``norm``: "batch", "layer" or None. ``residual`` adds each block's input to its
    output where the shapes match. ``act_kwargs`` go to the activation's constructor
    (``act="leaky_relu", act_kwargs={"negative_slope": 0.1}``; ``act="elu", act_kwargs={"alpha": 1.0}``).
    """

    def __init__(
        self,
        *,
        in_dim: int,
        out_dim: int,
        depth: int = 4,
        width: int = 256,
        act: str = "relu",
        norm: str | None = None,
        residual: bool = False,
        init: str | float = "default",
        bias: bool = True,
        act_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.in_dim = in_dim
        dims = [in_dim] + [width] * depth
        self.blocks = nn.ModuleList(
            MLPBlock(a, b, act=act, norm=norm, residual=residual, bias=bias, act_kwargs=act_kwargs)
            for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.head = nn.Linear(width, out_dim, bias=bias)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                init_linear_(m, init)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"MLP expects {self.in_dim} features per sample, got {x.shape[1]}")
        for block in self.blocks:
            x = block(x)
        return self.head(x)
