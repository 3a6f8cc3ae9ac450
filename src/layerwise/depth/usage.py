"""Depth usage: how much each attention and MLP sublayer adds to the residual stream.

Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025, arXiv
2505.13898), section "relative contribution": for block ``l`` with input ``x_l``, attention
output ``a_l`` and MLP output ``m_l``,

* ``attn_contrib = ||a_l|| / ||x_l||``, ``mlp_contrib = ||m_l|| / ||x_l + a_l||``,
  ``block_contrib = ||x_{l+1} - x_l|| / ||x_l||`` (per token, then averaged);
* ``attn_cos = cos(a_l, x_l)`` and ``mlp_cos = cos(m_l, x_l + a_l)``: negative means the branch
  erases what the residual holds;
* ``angular = arccos(cos(x_l, x_{l+1})) / pi`` on the last token, the block influence of The
  Curse of Depth in Large Language Models (Sun et al., 2025, arXiv 2502.05795).

The paper found the second half of Llama 3.1 and Qwen 3 contributing much less than the first:
``second_first_ratio`` (mean ``block_contrib`` over the second half / over the first) measures it.

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> model = GPT(n_layer=4, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> u = depth_usage(model, torch.randint(0, 20, (2, 8)))
    >>> u.attn_contrib.shape, bool(u.second_first_ratio() > 0)
    ((4,), True)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.depth._trace import trace
from layerwise.depth.adapters import Adapter, adapt

PAPER = "Do Language Models Use Their Depth Efficiently? (Csordás, Manning, Potts, 2025)"
__all__ = ["DepthUsage", "depth_usage", "relative_norm", "cosine"]

METRICS = ("attn_contrib", "mlp_contrib", "block_contrib", "attn_cos", "mlp_cos", "angular")


def relative_norm(delta: Tensor, base: Tensor, eps: float = 1e-12) -> float:
    """Mean over tokens of ``||delta|| / ||base||`` along the last dimension."""
    ratio = delta.double().norm(dim=-1) / base.double().norm(dim=-1).clamp_min(eps)
    return float(ratio.mean())


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Per-token cosine similarity along the last dimension, in float64."""
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1, eps=1e-12)


@dataclass(frozen=True)
class DepthUsage:
    """Per-block arrays (length ``n_layers``; NaN where a block has no such branch)."""

    names: tuple[str, ...]
    attn_contrib: np.ndarray
    mlp_contrib: np.ndarray
    block_contrib: np.ndarray
    attn_cos: np.ndarray
    mlp_cos: np.ndarray
    angular: np.ndarray

    def second_first_ratio(self, metric: str = "block_contrib") -> float:
        """Mean of ``metric`` over the second half of the blocks over its mean over the first."""
        values = getattr(self, metric)
        half = len(values) // 2
        return float(np.nanmean(values[len(values) - half:]) / np.nanmean(values[:half]))

    def rows(self) -> Iterator[tuple[str, str, float]]:
        """``(layer, metric, value)`` rows for a RunLog, every metric under the block's name."""
        for i, name in enumerate(self.names):
            for metric in METRICS:
                value = float(getattr(self, metric)[i])
                if math.isfinite(value):
                    yield name, metric, value


def _mid(ad: Adapter, x: Tensor, a: Tensor | None, mlp_in: Tensor | None) -> Tensor:
    """The residual the MLP branch is added to."""
    if mlp_in is not None:
        return mlp_in
    return x + a if a is not None and not ad.post_norm else x


@register("depth_usage", kind="diagnostic", paper=PAPER, arxiv="2505.13898")
def depth_usage(model: nn.Module | Adapter, inputs: Tensor | Mapping, *,
                adapter: Adapter | None = None) -> DepthUsage:
    """Relative contribution, cosine to the residual and angular distance for every block."""
    ad = adapter or adapt(model)
    tr = trace(ad, inputs, model=model if isinstance(model, nn.Module) else None)
    nan = float("nan")
    cols: dict[str, list[float]] = {m: [] for m in METRICS}
    for i in range(ad.n_layers):
        x, y, a, m = tr.inputs[i], tr.outputs[i], tr.attn[i], tr.mlp[i]
        mid = _mid(ad, x, a, tr.mlp_in[i])
        cols["attn_contrib"].append(relative_norm(a, x) if a is not None else nan)
        cols["attn_cos"].append(float(cosine(a, x).mean()) if a is not None else nan)
        cols["mlp_contrib"].append(relative_norm(m, mid) if m is not None else nan)
        cols["mlp_cos"].append(float(cosine(m, mid).mean()) if m is not None else nan)
        cols["block_contrib"].append(relative_norm(y - x, x))
        last = cosine(x[:, -1], y[:, -1]).clamp(-1.0, 1.0)
        cols["angular"].append(float((torch.arccos(last) / math.pi).mean()))
    return DepthUsage(tuple(ad.names), **{k: np.asarray(v) for k, v in cols.items()})
