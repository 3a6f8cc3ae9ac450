"""Regenerative unlearning (RLCP): a gradient-reversed probe erases facts from chosen layers while a
retain stream anchored to a frozen copy keeps everything else.

Paper: Digital Metabolism: Decoupling Logic from Facts via Regenerative Unlearning (Peng, Fang,
Sun, 2026, arXiv 2601.10810). The paper's exact losses were not read (shared/papers/SPECS-A.md,
paper 1, is a reconstruction); this module implements that reconstruction:

* forget stream: per chosen layer l, a linear probe g_l reads GRL_lambda(h_l) (the hidden state at
  one position) and is trained to predict the fact's answer a, L_forget = sum_l CE(g_l(.), a).
  The probe descends L_forget; the model receives -lambda times its gradient, so it moves h_l
  towards states from which no linear map recovers a (the reversal op is
  ``layerwise.transforms.reversal``, shared with DANN);
* retain stream: cross-entropy on retain batches (e.g. in-context lookup, where the fact is in the
  prompt) plus ``kl_weight`` * KL(p_theta || p_theta0) to a frozen copy of the starting model.

``DualStreamTrainer`` also accepts a plain function ``forget(model, x, y) -> loss`` instead of a
probe: ``gradient_ascent_loss`` and ``unlikelihood_loss`` are the usual output-level baselines.

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> from layerwise.train import DualStreamTrainer, GradientReversalProbe
    >>> model = GPT(n_layer=2, d_model=16, n_head=2, seq_len=4, vocab_size=12)
    >>> probe = GradientReversalProbe(model, ["blocks.1"], num_classes=3, dim=16, lam=1.0)
    >>> trainer = DualStreamTrainer(model, probe, kl_weight=1.0, lr=1e-3)
    >>> x = torch.randint(0, 12, (6, 3))
    >>> losses = trainer.step((x, torch.arange(6) % 3), [(x, torch.randint(0, 12, (6,)))])
    >>> sorted(losses), losses["kl"] == 0.0  # the model still equals its frozen copy
    (['ce', 'forget', 'kl'], True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.data import IGNORE_INDEX
from layerwise.layers import block_names, module_names
from layerwise.transforms.reversal import GradReverse

PAPER = ("Digital Metabolism: Decoupling Logic from Facts via Regenerative Unlearning "
         "(Peng, Fang, Sun, 2026)", "2601.10810")
ForgetLoss = Callable[[nn.Module, Tensor, Tensor], Tensor]


def _check_lambda(lam: float) -> float:
    if not (math.isfinite(lam) and lam >= 0.0):
        raise ValueError(f"lam (the reversal strength) must be a finite number >= 0, got {lam}")
    return float(lam)


class GradientReversalProbe(nn.Module):
    """Linear probes on the hidden states of ``layers`` of ``model``, behind a gradient reversal.

    ``layers``: dotted module names (their output, or its first element when a tuple, is
    ``(B, T, dim)``); ``position`` picks the token whose state is probed; ``lam`` is a number > 0
    or a schedule ``p -> lambda`` of ``self.grl.progress`` (e.g. ``dann_lambda``).
    ``loss(x, y)`` runs ``model`` on ``x`` and returns (sum of the probes' cross-entropies, logits).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], num_classes: int, *, dim: int,
                 lam: float | Callable[[float], float] = 1.0, position: int = -1) -> None:
        super().__init__()
        if isinstance(layers, str) or not layers:
            raise ValueError(f"layers must be a non-empty list of module names, got {layers!r}")
        names = set(module_names(model))
        for name in layers:
            if name not in names:
                valid = block_names(model) or sorted(names)
                raise ValueError(f"probe layer {name!r} does not exist in {type(model).__name__}; "
                                 f"valid layers: {', '.join(valid)}")
        if num_classes < 2 or dim < 1:
            raise ValueError(f"num_classes must be >= 2 and dim >= 1, got {num_classes} and {dim}")
        if not callable(lam) and _check_lambda(lam) == 0.0:
            raise ValueError("lam must be > 0 (lam 0 trains the probe without any unlearning)")
        self.model = [model]  # a list: the probe does not own the model's parameters
        self.layers = list(layers)
        self.heads = nn.ModuleList(nn.Linear(dim, num_classes) for _ in self.layers)
        self.grl = GradReverse(lam)
        self.position = position

    @contextmanager
    def capture(self):
        """Record the chosen layers' outputs (with their graphs) during the forward passes inside."""
        modules = dict(self.model[0].named_modules())
        states: dict[str, Tensor] = {}

        def hook(name: str):
            def keep(_module: nn.Module, _inputs: object, output: object) -> None:
                states[name] = output[0] if isinstance(output, tuple) else output
            return keep

        handles = [modules[n].register_forward_hook(hook(n)) for n in self.layers]
        try:
            yield states
        finally:
            for h in handles:
                h.remove()

    def probe_loss(self, states: dict[str, Tensor], y: Tensor) -> Tensor:
        """sum over layers of CE(head_l(GRL(h_l[:, position])), y)."""
        _check_lambda(self.grl.current_lambda)
        return sum(F.cross_entropy(head(self.grl(states[name][:, self.position])), y)
                   for name, head in zip(self.layers, self.heads, strict=True))

    def loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        with self.capture() as states:
            logits = self.model[0](x)
        return self.probe_loss(states, y), logits


def gradient_ascent_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Gradient ascent on the answer: -CE(model(x)[:, -1], y) (unbounded below)."""
    return -F.cross_entropy(model(x)[:, -1], y)


def unlikelihood_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Unlikelihood on the answer (Welleck et al., 2019, arXiv 1908.04319): -log(1 - p(y | x))."""
    logp = F.log_softmax(model(x)[:, -1], dim=-1).gather(1, y[:, None]).squeeze(1)
    return -torch.log1p(-logp.exp().clamp(max=1 - 1e-6)).mean()


def kl_to_reference(logits: Tensor, ref_logits: Tensor) -> Tensor:
    """Mean over rows of KL(p || p_ref), p = softmax(logits), rows = all but the last dim."""
    logp, logq = F.log_softmax(logits, -1), F.log_softmax(ref_logits, -1)
    return (logp.exp() * (logp - logq)).sum(-1).mean()


def _scored(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Rows of ``logits`` (B, T, V) that ``y`` scores: the last position when ``y`` is (B,),
    else every position whose target is not IGNORE_INDEX."""
    if y.dim() == 1:
        return logits[:, -1], y
    keep = y != IGNORE_INDEX
    return logits[keep], y[keep]


@register("rlcp", kind="scheme", paper=PAPER[0], arxiv=PAPER[1])
class DualStreamTrainer:
    """Forget stream + retain stream with KL to a frozen copy, one optimizer over model and probe.

    ``forget`` is a ``GradientReversalProbe`` (RLCP) or a function ``(model, x, y) -> loss``
    (``gradient_ascent_loss``, ``unlikelihood_loss``). ``ref_model`` defaults to a frozen deep
    copy of ``model`` taken now. Each step: ``forget_weight`` * forget loss + sum over retain
    batches of [CE + ``kl_weight`` * KL(p_theta || p_ref)] on the positions ``y`` scores.
    """

    def __init__(self, model: nn.Module, forget: GradientReversalProbe | ForgetLoss, *,
                 ref_model: nn.Module | None = None, kl_weight: float = 1.0,
                 forget_weight: float = 1.0, lr: float = 1e-3, probe_lr: float | None = None,
                 grad_clip: float | None = 1.0) -> None:
        for name, value in (("kl_weight", kl_weight), ("forget_weight", forget_weight)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        for name, value in (("lr", lr), ("probe_lr", lr if probe_lr is None else probe_lr)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        self.model, self.forget = model, forget
        self.ref_model = copy.deepcopy(model) if ref_model is None else ref_model
        self.ref_model.requires_grad_(False).eval()
        self.kl_weight, self.forget_weight, self.grad_clip = kl_weight, forget_weight, grad_clip
        groups = [{"params": list(model.parameters())}]
        if isinstance(forget, GradientReversalProbe):
            groups.append({"params": list(forget.heads.parameters()), "lr": probe_lr or lr})
        self.optimizer = torch.optim.Adam(groups, lr=lr)

    def forget_loss(self, x: Tensor, y: Tensor) -> Tensor:
        if isinstance(self.forget, GradientReversalProbe):
            return self.forget.loss(x, y)[0]
        return self.forget(self.model, x, y)

    def retain_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(cross-entropy, KL to the frozen copy) on the positions that ``y`` scores."""
        logits, target = _scored(self.model(x), y)
        with torch.no_grad():
            ref = _scored(self.ref_model(x), y)[0]
        return F.cross_entropy(logits, target), kl_to_reference(logits, ref)

    def step(self, forget: tuple[Tensor, Tensor], retain: Iterable[tuple[Tensor, Tensor]],
             progress: float = 0.0) -> dict[str, float]:
        """One update; ``progress`` in [0, 1] drives a scheduled lambda. Returns the losses."""
        if isinstance(self.forget, GradientReversalProbe):
            self.forget.grl.progress = progress
        if forget[0].shape[0] == 0:
            raise ValueError("the forget batch is empty: the forget set needs at least one fact")
        self.optimizer.zero_grad(set_to_none=True)
        f = self.forget_loss(*forget)
        ce = kl = torch.zeros(())
        for x, y in retain:
            c, k = self.retain_loss(x, y)
            ce, kl = ce + c, kl + k
        (self.forget_weight * f + ce + self.kl_weight * kl).backward()
        if self.grad_clip is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.optimizer.step()
        values = torch.stack([f.detach(), ce.detach(), kl.detach()]).tolist()
        return dict(zip(("forget", "ce", "kl"), values, strict=True))
