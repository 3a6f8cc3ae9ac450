"""StepCollector: one step's on-device statistics, turned into rows with a single host sync."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from layerwise.metrics.activations import (
    Pieces,
    concat_pieces,
    finish_activation_stats,
    layer_pieces,
    merge_rows,
)
from layerwise.metrics.base import MetricSpec
from layerwise.metrics.gradients import squared_norms
from layerwise.metrics.noise import linear_batch_sq_norm, linear_sample_sq_norms, noise_stats
from layerwise.monitor.distributed import Ranks, StepParts, combine_ranks, local
from layerwise.monitor.gathered import Gathered
from layerwise.monitor.layout import Layout
from layerwise.monitor.snapshot import WeightSnapshot
from layerwise.monitor.stacks import OutputStacks


def first_tensor(output: Any) -> Tensor | None:
    """The tensor a layer hands on: the output itself, or the first tensor of a tuple/dict."""
    if isinstance(output, Tensor):
        return output
    items = output.values() if isinstance(output, dict) else output
    if isinstance(items, list | tuple) or isinstance(output, dict):
        return next((t for t in items if isinstance(t, Tensor)), None)
    return None


class StepCollector:
    """Buffers of the current step; every value stays a device tensor until ``rows()``."""

    def __init__(self, layout: Layout, specs: list[MetricSpec], loss_reduction: str) -> None:
        self.layout = layout
        names = {s.name for s in specs}
        self.want = names
        self.wants_backward = "act_grad_norm" in names
        self.wants_samples = bool(names & {"grad_noise", "grad_snr"})
        self.loss_reduction = loss_reduction
        self.unmonitored: dict[str, str] = {}
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: Any = None  # a torch.amp.GradScaler: backward statistics are unscaled
        self._zero = torch.zeros((), device=layout.member.device)
        self._stacks = OutputStacks()
        self._before: list[Tensor] | None = None  # per-tensor snapshot when the flat one can't be
        self._flat = (WeightSnapshot(layout) if "update_ratio" in names and WeightSnapshot.supports(layout)
                      else None)
        self.reset()

    def watch(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def reset(self, samples_due: bool = True) -> None:
        self.fwd: dict[int, Pieces | None] = {}  # None: the output waits in a stack
        self._stacks.reset()
        self.fwd_order: list[int] = []
        self.bwd: dict[int, Tensor] = {}
        self.extra: dict[int, list] = {}  # further calls of a layer in this step (micro-batches)
        self.grad_scale: Tensor | None = None
        self.grads_missing = False
        self.no_grad: set[int] = set()
        self.bwd_order: list[int] = []
        self.armed_backward = 0
        self.param_sq: dict[str, Tensor] = {}  # "grad", "weight", "delta": (params,) squared norms
        self.layer_sq: dict[str, Tensor] = {}  # "weight", "delta" from the flat snapshot: (layers,)
        self.sample_sq: dict[int, Tensor] = {}
        self.batch_sq: dict[int, Tensor] = {}
        self.linear_calls: dict[int, int] = {}
        self.noise_invalid: set[int] = set()
        self.values: dict[str, Tensor] = {}
        self.fired = 0
        self.samples_due = samples_due
        self.touched = False
        self._snapshot_done = False

    # -- forward and backward --------------------------------------------------------------
    def forward(self, idx: int, output: Any) -> None:
        self.touched = True
        self.fired += 1
        if idx in self.fwd:
            self._again(idx, output)
            return
        t = first_tensor(output)
        name = self.layout.names[idx]
        if t is None or not (t.is_floating_point()):
            kind = "no tensor" if t is None else ("complex" if t.is_complex() else str(t.dtype))
            self.unmonitored[f"{name}:activations"] = (
                f"output is {kind}: activation metrics need a real floating-point tensor; "
                "select another layer with layers=..."
            )
            return
        names, unit_dim = self.layout.forward_names[idx], self.layout.unit_dims[idx]
        if names:
            if self._stacks.fits(t):
                self._stacks.add(idx, t, names, unit_dim)
                self.fwd[idx] = None
            else:
                self.fwd[idx] = layer_pieces(t, names, unit_dim)
            self.fwd_order.append(idx)
        if self.wants_backward and t.requires_grad:
            self._hook_gradient(idx, t)

    def _again(self, idx: int, output: Any) -> None:
        """A second call of layer ``idx`` in one step: another micro-batch (or a shared layer)
        is combined with the first; a recompute inside backward (activation checkpointing)
        is the same forward again and is not counted twice."""
        if torch._C._current_graph_task_id() != -1:
            return
        t = first_tensor(output)
        names, unit_dim = self.layout.forward_names[idx], self.layout.unit_dims[idx]
        if t is None or not t.is_floating_point():
            return
        if names:
            self.extra.setdefault(idx, []).append(layer_pieces(t, names, unit_dim))
        if self.wants_backward and t.requires_grad:
            self._hook_gradient(idx, t)

    def _hook_gradient(self, idx: int, t: Tensor) -> None:
        """Norm of dL/dt when backward reaches ``t``: a prehook on its grad_fn (C++-side, cheaper
        than ``Tensor.register_hook``), or a tensor hook when ``t`` is a leaf."""
        self.armed_backward += 1
        node, slot = t.grad_fn, t.output_nr
        if node is None:
            t.register_hook(lambda g: self._on_grad(idx, g))
        else:
            node.register_prehook(lambda grads: self._on_grad(idx, grads[slot]))

    def _on_grad(self, idx: int, grad: Tensor | None) -> None:
        """Norm of dL/dh at the layer's output; over several calls (micro-batches) the norm of
        all of them together."""
        if grad is None:
            return
        if self.scaler is not None and self.grad_scale is None:  # the scale this backward used
            self.grad_scale = loss_scale(self.scaler)
        norm = torch.linalg.vector_norm(grad.detach().float())
        if idx in self.bwd:
            self.bwd[idx] = torch.sqrt(self.bwd[idx] ** 2 + norm**2)
        else:
            self.bwd[idx] = norm
            self.bwd_order.append(idx)

    def linear(self, idxs: tuple[int, ...], module: nn.Linear, inputs: Tensor, output: Tensor) -> None:
        """Per-sample gradient norms of one Linear, added to every selected layer that contains
        it (business tier): nested selections share one hook and one computation."""
        self.touched = True
        key = id(module)
        self.linear_calls[key] = self.linear_calls.get(key, 0) + 1
        why = _noise_refusal(self.linear_calls[key], output, inputs)
        if why:
            for idx in idxs:
                self.unmonitored[f"{self.layout.names[idx]}:grad_noise"] = why
                self.noise_invalid.add(idx)  # the layer's other Linears must not leave a partial sum
                self.sample_sq.pop(idx, None)
            return
        scale = float(inputs.shape[0]) if self.loss_reduction == "mean" else 1.0
        bias = module.bias is not None and module.bias.requires_grad

        def on_grad(g: Tensor, a: Tensor = inputs) -> None:
            sq = linear_sample_sq_norms(a, g, scale, bias)
            bsq = linear_batch_sq_norm(a, g, scale, bias)
            for idx in idxs:
                if idx not in self.noise_invalid:
                    self.sample_sq[idx] = self.sample_sq.get(idx, 0) + sq
                    self.batch_sq[idx] = self.batch_sq.get(idx, 0) + bsq

        output.register_hook(on_grad)

    # -- parameters and updates ------------------------------------------------------------
    def grads_ready(self) -> None:
        """Squared norms of every parameter's gradient and weight, in one fused norm; the
        per-layer values are formed in ``gather`` (after ranks have combined their shards)."""
        lay = self.layout
        want_grads = "grad_norm" in self.want and "grad" not in self.param_sq
        want_eff_lr = "eff_lr" in self.want and self.optimizer is not None
        want_norms = bool(self.want & {"weight_norm", "update_ratio"}) and "weight" not in self.layer_sq
        want_weights = "weight" not in self.param_sq and (want_eff_lr or want_norms)
        if not lay.params or not (want_grads or want_weights):
            return
        tensors = []
        if want_grads:
            tensors += [local(p.grad) if p.grad is not None else self._zero for p in lay.params]
        if want_weights:
            tensors += lay.weights
        sq = squared_norms(tensors).reshape(-1, len(lay.params))
        if want_grads:
            self.param_sq["grad"] = sq[0]
            # a layer none of whose parameters has a gradient gets no row (never a false 0.0)
            self.no_grad = {i for i in lay.param_rows
                            if all(lay.params[j].grad is None for j in lay.layer_params[i])}
            self.grads_missing = len(self.no_grad) == len(lay.param_rows)
        if want_weights:
            self.param_sq["weight"] = sq[-1]

    def _layer_lr(self) -> Tensor:
        lr_of = {id(p): g["lr"] for g in self.optimizer.param_groups for p in g["params"]}
        per_param = torch.tensor([float(lr_of.get(id(p), float("nan"))) for p in self.layout.params],
                                 device=self.layout.member.device)
        # the learning rate of each layer's first weight matrix (NaN when it has none)
        first = self.layout.matrix_member.argmax(dim=1)
        has = self.layout.matrix_member.sum(dim=1) > 0
        return torch.where(has, per_param[first], torch.full_like(per_param[first], float("nan")))

    def snapshot(self) -> None:
        """Copy the weights before ``optimizer.step()`` into a reused buffer (the flat snapshot
        also gives the weight norms)."""
        self.touched = True
        if "update_ratio" not in self.want or not self.layout.params:
            return
        if self._flat is not None:
            self.layer_sq["weight"] = self._flat.take()
        elif self._before is None:
            self._before = [w.clone() for w in self.layout.weights]
        else:
            torch._foreach_copy_(self._before, self.layout.weights)
        self._snapshot_done = True

    def update(self) -> None:
        """Squared norms of the update W_after - W_before (per layer from the flat snapshot,
        else per parameter), for ||W_before - W_after|| / ||W_before||."""
        if not self._snapshot_done:
            return
        if self._flat is not None:
            self.layer_sq["delta"] = self._flat.update_norms()
        else:
            torch._foreach_sub_(self._before, self.layout.weights)
            self.param_sq["delta"] = squared_norms(self._before)
        self._snapshot_done = False

    def scalars(self, values: dict[str, Any]) -> None:
        self.touched = True
        for k, v in values.items():
            t = v.detach() if isinstance(v, Tensor) else torch.tensor(float(v))
            self.values[k] = t.float().reshape(())

    # -- turning tensors into rows ---------------------------------------------------------
    def gather(self, step: int, ranks: Ranks | None = None) -> Gathered:
        """Every statistic of the step in one device tensor, with the keys that name its entries;
        with ``ranks``, first combined over the process group (one collective)."""
        parts = self._parts()
        if ranks is not None:
            parts = combine_ranks(parts, ranks, self.layout.sharded, self.loss_reduction == "mean")
        keys: list[tuple[str, str]] = []
        chunks: list[Tensor] = []
        names = self.layout.names
        for members, metrics, pieces in parts.batches:
            done = finish_activation_stats(pieces, metrics)
            for metric in metrics:
                keys += [(names[i], metric) for i in members]
                chunks.append(done[metric])
        if parts.bwd is not None:
            keys += [(names[i], "act_grad_norm") for i in self.bwd_order]
            chunks.append(parts.bwd if self.grad_scale is None else parts.bwd / self.grad_scale)
        for metric, per_layer in self._layer_params(parts).items():
            rows = self.layout.matrix_rows if metric == "eff_lr" else self.layout.param_rows
            if metric == "grad_norm" and self.no_grad:
                rows = [i for i in rows if i not in self.no_grad]
            keys += [(names[i], metric) for i in rows]
            chunks.append(per_layer if len(rows) == len(names) else per_layer[rows])
        for (idx, metric), value in parts.noise.items():
            keys.append((names[idx], metric))
            chunks.append(value)
        for name, value in parts.values.items():
            keys.append(("", name))
            chunks.append(value)
        values = torch.cat([c.reshape(-1).float() for c in chunks]) if chunks else torch.zeros(0)
        return Gathered(step, keys, values, [names[i] for i in self.fwd_order],
                        [names[i] for i in self.bwd_order], list(reversed(names)))

    def _parts(self) -> StepParts:
        noise = {}
        for idx, sq in self.sample_sq.items():
            if idx not in self.noise_invalid:
                trace, snr = noise_stats(sq, self.batch_sq[idx], sq.shape[0])
                noise.update({(idx, m): v for m, v in (("grad_noise", trace), ("grad_snr", snr))
                              if m in self.want})
        bwd = torch.stack([self.bwd[i] for i in self.bwd_order]) if self.bwd_order else None
        return StepParts(self._activation_batches(), bwd, noise, dict(self.param_sq),
                         dict(self.layer_sq), dict(self.values))

    def _activation_batches(self) -> list[tuple[list[int], tuple[str, ...], Pieces]]:
        """The forward statistics' pieces: each stack at once, the other layers batched by metrics,
        further calls of a layer (micro-batches) merged in."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for idx in self.fwd_order:
            if self.fwd[idx] is not None:
                groups.setdefault(self.layout.forward_names[idx], []).append(idx)
        batches = self._stacks.pieces()
        batches += [(members, names, concat_pieces([self.fwd[i] for i in members]))
                    for names, members in groups.items()]
        merged = []
        for members, names, pieces in batches:
            extra = {row: self.extra[i] for row, i in enumerate(members) if i in self.extra}
            merged.append((members, names, merge_rows(pieces, extra)))
        return merged

    def _layer_params(self, parts: StepParts) -> dict[str, Tensor]:
        """Per-layer gradient and weight norms, update ratios and effective learning rates."""
        member, psq, lsq = self.layout.member, parts.param_sq, parts.layer_sq
        out: dict[str, Tensor] = {}
        if "grad" in psq and "grad_norm" in self.want:
            out["grad_norm"] = (member @ psq["grad"]).sqrt()
        weight_sq = lsq["weight"] if "weight" in lsq else member @ psq["weight"] if "weight" in psq else None
        if weight_sq is not None and "weight_norm" in self.want:
            out["weight_norm"] = weight_sq.sqrt()
        if weight_sq is not None and "update_ratio" in self.want and ("delta" in lsq or "delta" in psq):
            delta_sq = lsq["delta"] if "delta" in lsq else member @ psq["delta"]
            out["update_ratio"] = (delta_sq / weight_sq).sqrt()
        if "weight" in psq and "eff_lr" in self.want and self.optimizer is not None:
            out["eff_lr"] = self._layer_lr() / (self.layout.matrix_member @ psq["weight"])
        return out

    def silence(self) -> str | None:
        """Why the hooks recorded nothing this step, if they did not."""
        if any(self.layout.forward_names) and not self.fired:
            return ("no forward hook fired: the model ran outside the step, or torch.compile "
                    "compiled it before the Monitor attached (attach first, or monitor the "
                    "uncompiled module)")
        if self.armed_backward and not self.bwd:
            return ("no backward pass reached the monitored layers: call loss.backward() inside "
                    "`with mon.step(i)` or before `mon.observe(i)`")
        return None


def _noise_refusal(calls: int, output: Tensor, inputs: Tensor) -> str | None:
    """Why per-sample noise cannot be measured through this Linear call (None when it can)."""
    if calls > 1:
        return ("a Linear in this layer ran more than once in the step (weight sharing, several "
                "forward passes): per-sample noise needs one call per step")
    if inputs.shape[0] < 2:
        return f"the batch has {inputs.shape[0]} sample(s): per-sample noise needs >= 2"
    if not output.requires_grad:
        return "a Linear's output needs no gradient (frozen or under no_grad): no per-sample gradient"
    return None


def loss_scale(scaler: Any) -> Tensor:
    """The GradScaler's current scale as a device tensor (no host sync where torch allows)."""
    get = getattr(scaler, "_get_scale_async", None)
    scale = get() if get is not None else None
    return (scale if scale is not None else torch.tensor(scaler.get_scale())).detach().float().reshape(())
