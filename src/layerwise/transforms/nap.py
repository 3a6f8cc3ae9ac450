"""Normalize-and-Project (NaP; Lyle et al., 2024, arXiv 2407.01800).

1. **Normalize**: a LayerNorm before every nonlinearity makes each layer's output invariant to
   the scale of its incoming weights: f(cW) = f(W) for c > 0 (exactly when the layer has no bias or
   the bias is scaled too; up to the norm's epsilon).
2. **Project**: after every optimizer step each weight matrix is rescaled to its initial
   Frobenius norm, W <- ||W_0|| W / ||W||.

Why: for a scale-invariant layer grad f(cW) = grad f(W) / c, so a step of size lr at norm ||W|| acts
like a step of lr / ||W||^2 at unit norm; the *effective learning rate* lr / ||W||^2 silently decays
as the weights grow, which costs plasticity. Projection pins ||W|| and so the effective rate.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.transforms import (TransformedOptimizer, effective_lr, identity,
    ...     insert_norm_before_activations, project_to_init_norm)
    >>> model = insert_norm_before_activations(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)))
    >>> opt = TransformedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), identity(),
    ...                            model.named_parameters())
    >>> _ = opt.add_post_step_hook(project_to_init_norm(model.named_parameters()))
    >>> model(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
    >>> sorted(effective_lr(opt, model.named_parameters()))
    ['0.weight', '3.weight']

[derived] LayerNorm gains and all biases are left free (the spec leaves their treatment open), and
by default every tensor with >= 2 dimensions is projected, the output layer included; pass a
subset of named parameters to project fewer. The hook also works with a plain optimizer:
``torch_opt.register_step_post_hook(project_to_init_norm(...))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.nn.norms import make_norm
from layerwise.transforms._papers import NAP

ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Tanh, nn.SiLU, nn.Sigmoid, nn.Softplus, nn.Mish,
    nn.ReLU6, nn.PReLU, nn.SELU, nn.CELU, nn.Hardtanh, nn.Hardswish,
)
NamedParams = Mapping[str, Tensor] | Iterable[tuple[str, Tensor]]


def _is_norm(module: nn.Module) -> bool:
    return "norm" in type(module).__name__.lower()  # LayerNorm, BatchNorm1d, RMSNorm, GroupNorm, ...


CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def norm_after(layer: nn.Module, norm: str) -> nn.Module:
    """A fresh ``norm`` for the output of ``layer``: over the features of a Linear; after a conv,
    "layer" is GroupNorm with one group (each sample normalised over channels and positions, the
    conv form of LayerNorm; Wu & He 2018, arXiv 1803.08494)."""
    if isinstance(layer, nn.Linear):
        return make_norm(norm, layer.out_features)
    if norm != "layer":
        raise ValueError(f"norm {norm!r} has no conv form here; use norm='layer' (GroupNorm, one group)")
    return nn.GroupNorm(1, layer.out_channels)


def _edit_sequential(seq: nn.Sequential, norm: str) -> int:
    """Insert a norm before each activation that follows a Linear or conv in ``seq``; returns how many."""
    out: list[nn.Module] = []
    layer, inserted = None, 0
    for child in seq:
        if isinstance(child, (nn.Linear, *CONVS)):
            layer = child
        if isinstance(child, ACTIVATION_TYPES) and layer is not None and not (out and _is_norm(out[-1])):
            out.append(norm_after(layer, norm))
            inserted += 1
        out.append(child)
    if inserted:
        for key in list(seq._modules):
            del seq._modules[key]
        for i, child in enumerate(out):
            seq.add_module(str(i), child)
    return inserted


@register("insert_norm_before_activations", kind="edit", paper=NAP[0], arxiv=NAP[1])
def insert_norm_before_activations(model: nn.Module, norm: str = "layer") -> nn.Module:
    """Edit ``model`` in place so a ``norm`` ("layer" or "rms") precedes each nonlinearity.

    Paper: Normalization and Effective Learning Rates in Reinforcement Learning (Lyle, Zheng,
    Khetarpal, Martens, van Hasselt, Pascanu, Dabney, 2024, arXiv 2407.01800).

    Handles ``layerwise.models.MLP`` and ``CNN`` (each block's empty ``norm`` or ``bn`` slot is
    filled) and ``nn.Sequential`` stacks at any depth (a norm of the preceding Linear's or conv's
    width is inserted before every activation; the Sequential is renumbered). After a conv the
    norm is GroupNorm with one group (``norm="layer"`` only). Existing norms are kept. Raises
    ``LookupError`` when nothing could be inserted. Returns ``model``.

    Example::

        >>> from torch import nn
        >>> from layerwise.transforms import insert_norm_before_activations
        >>> model = insert_norm_before_activations(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
        >>> [type(m).__name__ for m in model]
        ['Linear', 'LayerNorm', 'ReLU']
    """
    from layerwise.models.cnn import ConvBlock
    from layerwise.models.mlp import MLPBlock

    inserted = 0
    for module in list(model.modules()):
        if isinstance(module, MLPBlock) and isinstance(module.norm, nn.Identity):
            module.norm = norm_after(module.linear, norm)
            inserted += 1
        elif isinstance(module, ConvBlock) and isinstance(module.bn, nn.Identity):
            module.bn = norm_after(module.conv, norm)
            inserted += 1
        elif isinstance(module, nn.Sequential):
            inserted += _edit_sequential(module, norm)
    if not inserted:
        raise LookupError(
            "found no activation after a Linear or conv without a norm: insert_norm_before_activations "
            "handles layerwise.models.MLP and CNN and nn.Sequential stacks"
        )
    return model


def _matrices(named_params: NamedParams, min_dim: int) -> dict[str, Tensor]:
    items = named_params.items() if isinstance(named_params, Mapping) else named_params
    return {n: p for n, p in items if p.dim() >= min_dim}


@register("project_to_init_norm", kind="transform", paper=NAP[0], arxiv=NAP[1])
class ProjectToInitNorm:
    """Post-step hook: rescale every weight (>= ``min_dim`` dims) to its Frobenius norm at creation.

    Paper: Normalization and Effective Learning Rates in Reinforcement Learning (Lyle et al.,
    2024, arXiv 2407.01800). Use as ``opt.add_post_step_hook(project_to_init_norm(named_params))``
    with a ``TransformedOptimizer``; callable with any arguments, so it also serves as a torch
    ``register_step_post_hook`` hook.

    Example::

        >>> import torch
        >>> from layerwise.transforms import project_to_init_norm
        >>> layer = torch.nn.Linear(3, 3)
        >>> project = project_to_init_norm(layer.named_parameters())  # weight only: bias is 1-D
        >>> before = layer.weight.norm().item()
        >>> with torch.no_grad():
        ...     _ = layer.weight.mul_(5.0)
        >>> project()
        >>> abs(layer.weight.norm().item() - before) < 1e-6
        True
    """

    def __init__(self, named_params: NamedParams, *, min_dim: int = 2) -> None:
        self.params = _matrices(named_params, min_dim)
        if not self.params:
            raise ValueError(f"no parameter with >= {min_dim} dimensions to project")
        with torch.no_grad():
            self.init_norms = {n: p.detach().norm() for n, p in self.params.items()}

    @torch.no_grad()
    def __call__(self, *args: Any, **kwargs: Any) -> None:
        tensors = list(self.params.values())
        for (name, p), norm in zip(self.params.items(), torch._foreach_norm(tensors), strict=True):
            p.mul_(self.init_norms[name] / norm.clamp_min(1e-30))


project_to_init_norm = ProjectToInitNorm


def effective_lr(optimizer: Any, named_params: NamedParams, *, min_dim: int = 2) -> dict[str, float]:
    """Per-weight effective learning rate lr / ||W||_F^2 (one host sync for all layers).

    ``optimizer`` is any object with torch ``param_groups`` (a torch optimizer or a
    ``TransformedOptimizer``); each weight uses the ``lr`` of its group.
    """
    params = _matrices(named_params, min_dim)
    lrs = {id(p): float(g["lr"]) for g in optimizer.param_groups for p in g["params"]}
    missing = [n for n, p in params.items() if id(p) not in lrs]
    if missing:
        raise ValueError(f"parameters not held by the optimizer: {', '.join(missing[:5])}")
    norms = torch._foreach_norm([p.detach() for p in params.values()])
    sq = torch.stack([n.to(device=norms[0].device, dtype=torch.float32) for n in norms]).square()
    return {name: lrs[id(p)] / s for (name, p), s in zip(params.items(), sq.tolist(), strict=True)}
