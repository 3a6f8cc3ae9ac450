"""The transformer block shared by GPT and ViT, with a choice of norm placement.

* ``"pre"``:  ``x + F(LN(x))`` (GPT-2).
* ``"post"``: ``LN(x + F(x))`` (the original transformer; GPT/ViT drop the final norm).
* ``"peri"``: ``x + LN_out(F(LN_in(x)))``: Peri-LN: Revisiting Layer Normalization in the
  Transformer Architecture (Kim et al., 2025, arXiv 2502.02732). The output norms are
  ``ln1_out`` and ``ln2_out``.

``layernorm_scaling=True`` wraps every norm of the block in :class:`DepthScaledNorm`, scaling its
output by ``1/sqrt(layer_index)``: The Curse of Depth in Large Language Models (Sun et al., 2025,
arXiv 2502.05795). The paper defines it for Pre-LN; other placements get the same wrapping.

Example::

    >>> import torch
    >>> block = TransformerBlock(16, 2, placement="peri")
    >>> block(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 16])
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from layerwise.models.attention import SelfAttention
from layerwise.nn.depth_scaled_norm import DepthScaledNorm
from layerwise.nn.norms import make_norm
from layerwise.nn.rmsnorm import RMSNorm

PLACEMENTS = ("pre", "post", "peri")


def check_placement(placement: str) -> None:
    """Raise ValueError for an unknown norm placement."""
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; use one of {', '.join(PLACEMENTS)}")


class FeedForward(nn.Module):
    """Position-wise MLP: ``fc`` (d -> ratio*d), GELU, ``proj`` (ratio*d -> d)."""

    def __init__(self, d_model: int, *, mlp_ratio: int = 4, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, mlp_ratio * d_model, bias=bias)
        self.act = nn.GELU()
        self.proj = nn.Linear(mlp_ratio * d_model, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.act(self.fc(x)))


class TransformerBlock(nn.Module):
    """Attention then MLP, each a residual branch normalised according to ``placement``."""

    def __init__(
        self,
        d_model: int,
        n_head: int,
        *,
        mlp_ratio: int = 4,
        norm: str = "layer",
        placement: str = "pre",
        causal: bool = True,
        dropout: float = 0.0,
        layer_index: int = 1,
        layernorm_scaling: bool = False,
    ) -> None:
        super().__init__()
        check_placement(placement)
        self.placement = placement

        def new_norm() -> nn.Module:
            n = make_norm(norm, d_model)
            return DepthScaledNorm(n, layer_index) if layernorm_scaling else n

        peri = placement == "peri"
        self.ln1 = new_norm()
        self.attn = SelfAttention(d_model, n_head, causal=causal, dropout=dropout)
        if peri:
            self.ln1_out = new_norm()
        self.ln2 = new_norm()
        self.mlp = FeedForward(d_model, mlp_ratio=mlp_ratio)
        if peri:
            self.ln2_out = new_norm()
        self.drop = nn.Dropout(dropout)

    def _branch(
        self, x: Tensor, f: Callable[[Tensor], Tensor], norm: nn.Module, out: nn.Module | None
    ) -> Tensor:
        if self.placement == "post":
            return norm(x + self.drop(f(x)))
        h = f(norm(x))
        return x + self.drop(out(h) if out is not None else h)

    def forward(self, x: Tensor) -> Tensor:
        x = self._branch(x, self.attn, self.ln1, getattr(self, "ln1_out", None))
        return self._branch(x, self.mlp, self.ln2, getattr(self, "ln2_out", None))


def block_stack(n_layer: int, d_model: int, n_head: int, *, causal: bool, mlp_ratio: int, norm: str,
                placement: str, dropout: float, layernorm_scaling: bool) -> nn.ModuleList:
    """``n_layer`` TransformerBlocks numbered 1..L (the index LayerNorm Scaling divides by)."""
    return nn.ModuleList(
        TransformerBlock(d_model, n_head, mlp_ratio=mlp_ratio, norm=norm, placement=placement,
                         causal=causal, dropout=dropout, layer_index=i + 1,
                         layernorm_scaling=layernorm_scaling)
        for i in range(n_layer)
    )


def final_norm(norm: str, placement: str, d_model: int) -> nn.Module:
    """The norm after the last block: Identity for Post-LN (its blocks already end in a norm)."""
    return nn.Identity() if placement == "post" else make_norm(norm, d_model)


def init_transformer_(module: nn.Module, *, std: float = 0.02) -> None:
    """Plain init: normal(0, std) weights for Linear/Embedding/Conv, zero biases, unit norm gains.

    No depth-scaled init of output projections: it cancels LayerNorm Scaling's benefit.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Embedding | nn.Conv1d | nn.Conv2d):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm | RMSNorm):
            m.reset_parameters()
