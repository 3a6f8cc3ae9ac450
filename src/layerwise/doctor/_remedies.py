"""Prescriptions applied to a fresh setup before a verifying re-run.

``apply(prescription, setup)`` edits the setup's model in place and sets the optimizer to train
with (the same one, or a ``ScaledLR``, ``TransformedOptimizer`` or ``SkipNonfinite`` around it:
a learning-rate change acts at every step, so a schedule that rewrites the rate does not undo it), or,
for a multi-loss remedy (PCGrad, SAM-GS), the aggregator of its per-loss gradients, or, for
``skip_batches``, the window of steps whose batches are skipped. A
prescription that cannot be applied raises :class:`NotApplicable` saying why.
"""

from __future__ import annotations

import torch
from torch import nn

from layerwise.doctor._finding import Prescription
from layerwise.doctor._setup import Setup, batch_of


class NotApplicable(ValueError):
    """This prescription cannot be applied automatically to this model."""


def apply(p: Prescription, setup: Setup) -> None:
    """``setup`` with prescription ``p`` applied (model edited, optimizer or aggregator set)."""
    if p.component in ("pcgrad", "samgs"):
        setup.aggregator = _aggregator(p)
        return
    if p.component == "skip_batches":
        setup.skip_batches = _window(p, setup.steps)
        return
    setup.optimizer = _to_model(p, setup.model, setup.optimizer)


def _aggregator(p: Prescription):
    from layerwise.multiloss import SAMGS, PCGrad

    return {"pcgrad": PCGrad, "samgs": SAMGS}[p.component](**p.settings)


def _window(p: Prescription, steps: int) -> tuple[int, int]:
    """The (start, stop) steps of a ``skip_batches`` prescription, inside a run of ``steps``."""
    start, stop = p.settings.get("start"), p.settings.get("stop")
    if start is None or stop is None:
        raise NotApplicable("skip_batches needs the window of steps to skip (settings start and stop); "
                            "the loss-spike rule sets it from the spike")
    if not 0 <= start < stop or start >= steps:
        raise NotApplicable(f"skip_batches window {start}..{stop - 1} is not inside the run's steps "
                            f"0..{steps - 1}")
    start, stop = int(start), int(min(stop, steps))
    if any(batch_of(step, (start, stop)) >= steps for step in range(start, stop)):
        raise NotApplicable(f"skip_batches window {start}..{stop - 1} is too long for a run of {steps} steps "
                            "to train on other batches in its place (see layerwise.doctor._setup.batch_of)")
    return start, stop


def _to_model(p: Prescription, model: nn.Module, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``model`` edited and the optimizer to train it with, for prescription ``p``."""
    s = p.settings
    if p.component == "learning_rate":
        from layerwise.transforms import ScaledLR

        if any(group["lr"] == 0 for group in optimizer.param_groups):
            raise NotApplicable("the learning rate is 0, and scaling it leaves it 0: set a learning rate")
        return ScaledLR(optimizer, s["factor"])  # at each step: a schedule's later writes are scaled too
    if p.component == "init":
        return _reinit(model, optimizer, s.get("scheme", "kaiming"))
    if p.component == "replace_activations":
        from layerwise.nn import replace_activations

        try:
            replace_activations(model, s["old"], s["new_factory"])
        except LookupError as err:
            raise NotApplicable(f"the model has no {s['old']} activation to replace ({err})") from None
        return optimizer
    if p.component in ("insert_norm_before_activations", "qk_norm", "norm_placement", "layernorm_scaling"):
        return _edit(p, model, optimizer)
    if p.component in ("clip_per_layer", "add_noise", "project_to_init_norm"):
        return _transformed(p, model, optimizer)
    if p.component == "skip_nonfinite":
        from layerwise.transforms import SkipNonfinite

        return SkipNonfinite(optimizer, model)
    raise NotApplicable(f"{p.component} is not applied automatically yet; apply it by hand "
                        "(see its docstring) and re-run")


def _edit(p: Prescription, model: nn.Module, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """A model edit of layerwise.nn; the parameters it adds join the optimizer as a new group."""
    from layerwise.nn import add_qk_norm, apply_layernorm_scaling, apply_norm_placement
    from layerwise.transforms import insert_norm_before_activations

    edit = {"insert_norm_before_activations": lambda: insert_norm_before_activations(
                model, p.settings.get("norm", "layer")),
            "qk_norm": lambda: add_qk_norm(model),
            "norm_placement": lambda: apply_norm_placement(model, p.settings.get("placement", "peri")),
            "layernorm_scaling": lambda: apply_layernorm_scaling(model)}[p.component]
    known = {id(q) for g in optimizer.param_groups for q in g["params"]}
    try:
        edit()
    except (LookupError, ValueError, TypeError) as err:
        raise NotApplicable(f"{p.component} does not fit this model: {err}") from None
    new = [q for q in model.parameters() if id(q) not in known]
    if new:
        optimizer.add_param_group({"params": new})
    elif p.component == "insert_norm_before_activations":
        raise NotApplicable("the model has no activation to put a norm before")
    return optimizer


NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)


def _reinit(model: nn.Module, optimizer: torch.optim.Optimizer, scheme: str) -> torch.optim.Optimizer:
    """He (Kaiming, ReLU gain) or Glorot (Xavier) normal init of every Linear and conv weight,
    zero biases, and every batch, layer or group norm reset (gain 1, shift 0, running statistics
    cleared), in place."""
    if scheme not in ("kaiming", "xavier"):
        raise NotApplicable(f"init scheme {scheme!r} is not one of 'kaiming', 'xavier'")
    touched = False
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, NORMS):
                m.reset_parameters()
            if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
                if scheme == "kaiming":
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    m.bias.zero_()
                touched = True
    if not touched:
        raise NotApplicable("the model has no Linear or conv layer to re-initialise")
    return optimizer


def _transformed(p: Prescription, model: nn.Module, optimizer: torch.optim.Optimizer):
    from layerwise.transforms import (
        TransformedOptimizer,
        add_noise,
        clip_per_layer,
        identity,
        project_to_init_norm,
    )

    transform = {"clip_per_layer": lambda: clip_per_layer(**p.settings),
                 "add_noise": lambda: add_noise(**p.settings)}.get(p.component, identity)()
    in_model = {id(q) for q in model.parameters()}
    stale = sum(id(q) not in in_model for g in optimizer.param_groups for q in g["params"])
    if stale:
        raise NotApplicable(f"the optimizer holds {stale} parameter(s) the model no longer has (a module "
                            f"replaced after the optimizer was built): {p.component} needs every optimized "
                            "parameter named by the model; build the optimizer after editing the model")
    wrapped = TransformedOptimizer(optimizer, transform, model.named_parameters())
    if p.component == "project_to_init_norm":
        project = project_to_init_norm(model.named_parameters(), **p.settings)
        wrapped.add_post_step_hook(lambda _: project())
    return wrapped
