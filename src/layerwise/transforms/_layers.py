"""What a "layer" is for per-layer transforms, and batched per-layer gradient norms.

By default each parameter tensor is its own layer (as in the JAX code of arXiv 2310.00098, where
a layer is a leaf of the gradient pytree). A grouping function ``name -> layer`` merges tensors;
``by_module`` groups the tensors of one module (``blocks.0.linear.weight`` and ``.bias`` form the
layer ``blocks.0.linear``). Norms are computed on the device with one ``_foreach_norm`` call and
no host sync.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

Grouping = Callable[[str], str] | None


def by_module(name: str) -> str:
    """The module path of a parameter name: ``"blocks.0.linear.weight" -> "blocks.0.linear"``."""
    return name.rsplit(".", 1)[0] if "." in name else name


def layer_index(names: list[str], group: Grouping) -> tuple[list[str], list[int]]:
    """Layer names in first-seen order, and for each tensor the index of its layer."""
    layers: dict[str, int] = {}
    index = []
    for name in names:
        key = group(name) if group is not None else name
        index.append(layers.setdefault(key, len(layers)))
    return list(layers), index


def tensor_sq_norms(grads: Mapping[str, Tensor]) -> Tensor:
    """Squared L2 norms (float32, on the first gradient's device) of every gradient, in order."""
    tensors = list(grads.values())
    device = tensors[0].device
    norms = torch._foreach_norm(tensors)
    return torch.stack([n.to(device=device, dtype=torch.float32) for n in norms]).square()


Cache = dict[tuple, tuple[list[int], Tensor, Tensor]]


def _layout(grads: Mapping[str, Tensor], group: Grouping, device: torch.device, cache: Cache):
    """(layer index of each tensor, the index as a device tensor, layer sizes d_l), built once per
    set of names: creating them from Python lists every step would cost a host-to-device copy."""
    key = (tuple(grads), device)
    if key not in cache:
        layers, index = layer_index(list(grads), group)
        idx = torch.tensor(index, device=device)
        numels = torch.tensor([float(g.numel()) for g in grads.values()], device=device)
        sizes = torch.zeros(len(layers), device=device).index_add_(0, idx, numels)
        cache[key] = (index, idx, sizes)
    return cache[key]


def layer_norms(
    grads: Mapping[str, Tensor], group: Grouping, cache: Cache | None = None
) -> tuple[Tensor, list[int], Tensor]:
    """(per-layer L2 norms, layer index of each tensor, per-layer element counts d_l).

    Pass the same ``cache`` dict on every step to reuse the layout tensors.
    """
    sq = tensor_sq_norms(grads)
    index, idx, sizes = _layout(grads, group, sq.device, {} if cache is None else cache)
    layer_sq = torch.zeros(sizes.shape, device=sq.device, dtype=sq.dtype).index_add_(0, idx, sq)
    return layer_sq.sqrt(), index, sizes


def scale_each(grads: Mapping[str, Tensor], factors: Tensor, index: list[int]) -> dict[str, Tensor]:
    """``grads[name] * factors[layer of name]``, in the gradients' dtypes and devices."""
    return {
        name: g * factors[i].to(device=g.device, dtype=g.dtype)
        for (name, g), i in zip(grads.items(), index, strict=True)
    }
