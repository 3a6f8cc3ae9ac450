"""Static facts about the monitored layers, computed once when a Monitor attaches."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from layerwise.layers import get_module
from layerwise.metrics.activations import FORWARD
from layerwise.metrics.base import MetricSpec
from layerwise.metrics.gradients import membership
from layerwise.monitor.distributed import is_sharded, local

# activations whose units can die: zero output and zero gradient for every negative input (a
# leaky, parametric or randomised ReLU keeps a slope there, so a unit it never fires still learns)
DIES_AT_ZERO = (nn.ReLU, nn.ReLU6)
# after an activation, these keep its output's range (pooling averages or picks within it)
KEEP_RANGE = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
              nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool1d,
              nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.Flatten, nn.Identity)
# after a ReLU, these output zero wherever a whole unit (channel) is zero (dropout rescales the
# rest, so it keeps zeros but not the range)
KEEP_ZERO = (*KEEP_RANGE, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
# bounded activations and the range of their outputs (a saturated layer sits at the ends of it)
BOUNDED = {nn.Sigmoid: (0.0, 1.0), nn.Tanh: (-1.0, 1.0), nn.Softsign: (-1.0, 1.0), nn.Hardsigmoid: (0.0, 1.0)}


@dataclass
class Layout:
    """Names, modules, parameters and per-layer options of the monitored layers."""

    names: list[str]
    modules: list[nn.Module]
    params: list[nn.Parameter]  # unique trainable parameters under any monitored layer
    weights: list[torch.Tensor]  # detached views of ``params`` (local shards of DTensors)
    member: torch.Tensor  # (layers x params) 0/1
    matrix_member: torch.Tensor  # same, restricted to >= 2-D parameters
    layer_params: list[list[int]]  # indices into ``params`` of each layer's parameters
    forward_names: list[tuple[str, ...]]  # forward metrics computed for each layer
    unit_dims: list[int]
    linears: list[list[nn.Linear]]  # Linear modules of each layer (per-sample noise)
    param_rows: list[int] = field(default_factory=list)  # layers that own trainable parameters
    matrix_rows: list[int] = field(default_factory=list)  # layers that own weight matrices
    unmonitored: dict[str, str] = field(default_factory=dict)
    output_range: dict[str, tuple[float, float]] = field(default_factory=dict)  # bounded layers' outputs
    sharded: torch.Tensor | None = None  # (params,) 1.0 where a parameter is split over ranks (FSDP2)


def build_layout(model: nn.Module, names: list[str], specs: list[MetricSpec]) -> Layout:
    modules = [get_module(model, n) for n in names]
    params, index = [], {}
    per_layer: list[list[int]] = []
    for module in modules:
        rows = []
        for p in module.parameters():
            if p.requires_grad:
                if id(p) not in index:
                    index[id(p)] = len(params)
                    params.append(p)
                rows.append(index[id(p)])
        per_layer.append(rows)
    device = params[0].device if params else torch.device("cpu")
    matrices = [[i for i in rows if params[i].dim() >= 2] for rows in per_layer]
    layout = Layout(
        names=names, modules=modules, params=params, weights=[local(p.detach()) for p in params],
        member=membership(per_layer, len(params), device),
        matrix_member=membership(matrices, len(params), device), layer_params=per_layer,
        forward_names=[], unit_dims=[], linears=[],
        param_rows=[i for i, rows in enumerate(per_layer) if rows],
        matrix_rows=[i for i, rows in enumerate(matrices) if rows],
    )
    if any(is_sharded(p) for p in params):
        layout.sharded = torch.tensor([float(is_sharded(p)) for p in params], device=device)
    wanted = tuple(n for n in FORWARD if n in {s.name for s in specs})
    for name, module in zip(names, modules, strict=True):
        if (bounds := output_range(module)) is not None:
            layout.output_range[name] = bounds
        layout.forward_names.append(_forward_names(layout, name, module, wanted))
        layout.unit_dims.append(1 if any(isinstance(m, _ConvNd) for m in module.modules()) else -1)
        layout.linears.append([m for m in module.modules() if isinstance(m, nn.Linear)])
        if not per_layer[len(layout.linears) - 1] and any(s.stage in ("params", "update") for s in specs):
            layout.unmonitored[f"{name}:params"] = "layer has no trainable parameters"
    if any(s.stage == "samples" for s in specs):
        for name, lins in zip(names, layout.linears, strict=True):
            if not lins:
                layout.unmonitored[f"{name}:grad_noise"] = (
                    "no nn.Linear inside (per-sample noise covers Linear weights)"
                )
    return layout


def _forward_names(layout: Layout, name: str, module: nn.Module, wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Forward metrics for one layer; dead_fraction only where the output is a ReLU's (possibly
    pooled)."""
    names = list(wanted)
    if "dead_fraction" in names and not _ends_in_relu(module):
        names.remove("dead_fraction")
        layout.unmonitored[f"{name}:dead_fraction"] = ("output is not a ReLU (or one followed only by "
                                                       "pooling or dropout); a leaky ReLU's units cannot die")
    if names and "act_max" not in names and "act_max_median" not in names:
        names.append("act_max")  # the exact non-finite detector
    return tuple(n for n in FORWARD if n in names)


def _ends_in_relu(module: nn.Module) -> bool:
    """The module's last leaf (registration order) is a ReLU (DIES_AT_ZERO, or a LeakyReLU of slope
    0), or one followed only by pooling, dropout, flattening or the identity: those keep a unit
    that never fires at zero, so its dead fraction reads the same through them (a
    conv-BN-ReLU-pool block)."""
    last = _last_leaf(module, KEEP_ZERO)
    return isinstance(last, DIES_AT_ZERO) or (isinstance(last, nn.LeakyReLU) and last.negative_slope == 0)


def output_range(module: nn.Module) -> tuple[float, float] | None:
    """(low, high) of the module's output when its last leaf is a bounded activation (BOUNDED,
    or ``nn.Hardtanh`` with its own limits), possibly followed by pooling, flattening or the
    identity, which keep the range (dropout rescales, so not through it); None otherwise."""
    last = _last_leaf(module, KEEP_RANGE)
    if isinstance(last, nn.Hardtanh):  # nn.ReLU6 is a Hardtanh from 0 to 6
        return float(last.min_val), float(last.max_val)
    return BOUNDED.get(type(last))


def _last_leaf(module: nn.Module, passthrough: tuple[type, ...]) -> nn.Module | None:
    """The module's last leaf (registration order) that is not one of ``passthrough``; None when
    there is none."""
    leaves = [m for m in module.modules() if not any(m.children())]
    while leaves and isinstance(leaves[-1], passthrough):
        leaves.pop()
    return leaves[-1] if leaves else None
