"""A minimal LoRA for ``nn.Linear``, injected only at chosen layers.

LoRA: Low-Rank Adaptation of Large Language Models (Hu et al., 2021, arXiv 2106.09685): freeze the
pretrained weight ``W`` and learn ``W + (alpha / r) * B @ A`` with ``A`` (r x in) Kaiming-uniform
and ``B`` (out x r) zero, so training starts from the pretrained function. Placement at chosen
layers follows Attention saturation and gradient suppression at inflection layers (Wang, 2025,
arXiv 2511.00797): adapt the band of layers where the depth diagnostics say the model bends,
not every layer. ``lora_band`` accepts that band as an explicit list of layer names.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.nn.lora import inject_lora, lora_parameters
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> inject_lora(net, layers="2", r=2, alpha=4)
    ['2']
    >>> [n for n, p in net.named_parameters() if p.requires_grad]
    ['2.lora_A', '2.lora_B']
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.layers import Selector, select_layers

PAPER = ("LoRA: Low-Rank Adaptation of Large Language Models (Hu et al., 2021)", "2106.09685")


@register("lora_linear", kind="module", paper=PAPER[0], arxiv=PAPER[1])
class LoRALinear(nn.Module):
    """``base(x) + (alpha / r) * x @ A.T @ B.T`` with ``base`` frozen; ``merge()`` folds it in."""

    def __init__(self, base: nn.Linear, *, r: int = 8, alpha: float = 16.0) -> None:
        super().__init__()
        if r < 1:
            raise ValueError(f"rank r must be >= 1, got {r}")
        self.base = base
        self.r, self.alpha, self.scaling = int(r), float(alpha), float(alpha) / r
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.merged = False

    def delta_weight(self) -> Tensor:
        """``(alpha / r) * B @ A``, the update LoRA adds to the base weight."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: Tensor) -> Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update into ``base.weight`` (faster inference); ``unmerge`` undoes it."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, merged={self.merged}"


def _linears(model: nn.Module, names: list[str]) -> list[str]:
    """Each selected name if it is a Linear, else the Linears inside it (not yet adapted)."""
    modules = dict(model.named_modules())
    bases = {id(m.base) for m in model.modules() if isinstance(m, LoRALinear)}
    out: list[str] = []
    for name in names:
        inside = [(name, modules[name])] + [(f"{name}.{n}", m) for n, m in modules[name].named_modules() if n]
        out += [n for n, m in inside if isinstance(m, nn.Linear) and id(m) not in bases]
    return list(dict.fromkeys(out))


@register("inject_lora", kind="edit", paper=PAPER[0], arxiv=PAPER[1])
def inject_lora(model: nn.Module, *, layers: Selector = nn.Linear, r: int = 8, alpha: float = 16.0,
                freeze_rest: bool = True) -> list[str]:
    """Replace the Linears picked by ``layers`` (or inside the picked blocks) by :class:`LoRALinear`.

    ``layers`` is any :func:`layerwise.select_layers` selector (names, globs, types, block indices,
    a list); ``freeze_rest`` freezes every other parameter so only the LoRA factors train.
    Returns the dotted names of the adapted Linears (the LoRA module takes the Linear's name).
    """
    targets = _linears(model, select_layers(model, layers))
    if not targets:
        raise LookupError(f"selector {layers!r} picked no nn.Linear to adapt")
    if freeze_rest:
        for p in model.parameters():
            p.requires_grad_(False)
    modules = dict(model.named_modules())
    for name in targets:
        parent, _, leaf = name.rpartition(".")
        setattr(modules[parent] if parent else model, leaf, LoRALinear(modules[name], r=r, alpha=alpha))
    return targets


def lora_band(band: Iterable[str] | slice) -> list | slice:
    """A selector for :func:`inject_lora` from an explicit band: layer names, or a block slice.

    The inflection band comes from the depth diagnostics (another component); until it is
    detected automatically, pass it explicitly, e.g. ``lora_band(["blocks.3", "blocks.4"])``.
    """
    if isinstance(band, slice):
        return band
    names = [str(b) for b in band]
    if not names:
        raise ValueError("the LoRA band is empty: give at least one layer name")
    return names


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The LoRA factors (A and B) of every :class:`LoRALinear` in ``model``."""
    return [p for m in model.modules() if isinstance(m, LoRALinear) for p in (m.lora_A, m.lora_B)]


def merge_lora(model: nn.Module, merged: bool = True) -> None:
    """Merge (or unmerge) every LoRA module of ``model``."""
    for m in model.modules():
        if isinstance(m, LoRALinear):
            m.merge() if merged else m.unmerge()
