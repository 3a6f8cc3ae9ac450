"""A single-layer transformer for sequence-to-sequence regression (non-causal, no norms).

Universal Approximation Theorem for a Single-Layer Transformer (Gumaan, 2025, arXiv 2507.10581):
one multi-head self-attention layer followed by a position-wise ReLU feed-forward network
approximates any continuous sequence-to-sequence map on a compact domain. The model is that
layer and nothing else: a token embedding ``embed`` (Linear ``in_dim -> width``), optional learned
positions ``pos_emb`` (initialised N(0, pos_std^2), so positions differ from the first step), one
block ``blocks.0`` = ``x + attn(x)`` then ``x + ffn(x)`` (Linear - ReLU - Linear, hidden
``ffn_width``), and a read-out ``head`` (Linear ``width -> out_dim``) applied to every token.

Without positions (``positional=False``) every part acts on tokens alike and attention is
non-causal, so the model is permutation-equivariant: permuting the input positions permutes the
outputs. Such a model cannot fit a map that treats positions differently (the paper's caveat:
"any" map needs positional information in the input). It then also accepts any sequence length.

Example::

    >>> import torch
    >>> from layerwise.models import SingleLayerTransformer
    >>> model = SingleLayerTransformer(in_dim=2, out_dim=3, seq_len=4, width=16, heads=2)
    >>> model(torch.rand(5, 4, 2)).shape
    torch.Size([5, 4, 3])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.models.attention import SelfAttention
from layerwise.nn.heads import ProjectionHead

PAPER = ("Universal Approximation Theorem for a Single-Layer Transformer (Gumaan, 2025)", "2507.10581")


def check_sizes(**sizes: int) -> None:
    """Raise TypeError/ValueError unless every size is an int >= 1 (the error names it)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int >= 1, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


class SingleLayerBlock(nn.Module):
    """``x + attn(x)`` (non-causal multi-head self-attention), then ``x + ffn(x)``."""

    def __init__(self, width: int, heads: int, ffn_width: int) -> None:
        super().__init__()
        self.attn = SelfAttention(width, heads, causal=False)
        self.ffn = ProjectionHead(width, width, hidden=ffn_width)  # Linear - ReLU - Linear

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.ffn(x)


@register("single_layer_transformer", kind="model", paper=PAPER[0], arxiv=PAPER[1])
class SingleLayerTransformer(nn.Module):
    """One attention + ReLU-FFN layer mapping (N, seq_len, in_dim) to (N, seq_len, out_dim)."""

    def __init__(self, *, in_dim: int, out_dim: int, seq_len: int, width: int = 64, heads: int = 4,
                 ffn_width: int | None = None, positional: bool = True, pos_std: float = 0.5) -> None:
        super().__init__()
        ffn_width = 4 * width if ffn_width is None else ffn_width
        check_sizes(in_dim=in_dim, out_dim=out_dim, seq_len=seq_len, width=width, heads=heads,
                    ffn_width=ffn_width)
        if width % heads:
            raise ValueError(f"heads must divide width: width={width} is not a multiple of heads={heads}")
        if not pos_std >= 0:
            raise ValueError(f"pos_std must be >= 0, got {pos_std}")
        self.in_dim, self.seq_len, self.positional = in_dim, seq_len, positional
        self.embed = nn.Linear(in_dim, width)
        self.pos_emb = nn.Parameter(pos_std * torch.randn(1, seq_len, width)) if positional else None
        self.blocks = nn.ModuleList([SingleLayerBlock(width, heads, ffn_width)])
        self.head = nn.Linear(width, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Outputs (N, T, out_dim) for inputs (N, T, in_dim); T must be ``seq_len`` with positions."""
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"x must have shape (N, T, {self.in_dim}), got {tuple(x.shape)}")
        h = self.embed(x)
        if self.pos_emb is not None:
            if x.shape[1] != self.seq_len:
                raise ValueError(f"x has {x.shape[1]} positions; this model has seq_len={self.seq_len}")
            h = h + self.pos_emb
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def extra_repr(self) -> str:
        return f"seq_len={self.seq_len}, positional={self.positional}"
