"""Opposing signals: which training examples move most across each optimizer step, and how.

Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization (Rosenfeld &
Risteski, ICLR 2024, arXiv 2311.04163). Paired groups of outliers carry a large feature that pushes
the output in opposite directions; gradient descent balances them in a narrow valley, sharpens,
and their losses oscillate in antiphase until the total loss spikes. The groups show up among the
examples with the largest loss change across a step, ``loss_i(theta_{t+1}) - loss_i(theta_t)``.

:class:`OpposingSignals` does that on a fixed subset of the training data, around the optimizer
steps it is given, and per measured step records (rows of a Monitor's or RunLog's log, when one is
passed; layer ``""`` for scalars):

- ``delta_loss_abs``: mean ``|delta_i|``; ``top_delta_share``: the top-``k`` set's share of the
  summed ``|delta_i|``; ``subset_loss``: the mean loss after the step;
- ``top_jaccard``: overlap of the top set with the previous measured step's (its stability);
- ``top_group_balance`` and ``top_cross_cos``: the top set's input gradients, normalised, are
  split by the sign of their projection on their principal direction (the group holding the
  largest ``|delta|`` is +1): the share in the + group and the mean cosine across the two groups
  (near -1: the two groups are pushed in opposite directions);
- ``top_grad_share`` per layer (a module that owns parameters): that layer's share of the squared
  norm of the top set's summed parameter gradient;
- ``sharpness`` every ``sharpness_every`` measured steps: the top Hessian eigenvalue of the mean
  subset loss (:func:`layerwise.analysis.top_hessian_eigenvalue`, warm-started).

Losses are evaluated in eval mode (the model's mode is restored) and ``theta_t``'s losses are
reused from the previous step when the steps are consecutive: parameters are assumed to change only
inside :meth:`step`. The model must treat the samples of a batch independently (no BatchNorm in
training mode) for the per-example input gradients to be exact.

Example::

    >>> import torch
    >>> from layerwise.analysis import OpposingSignals
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> probe = OpposingSignals(model, x, y, k=5)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.5)
    >>> for i in range(3):
    ...     torch.nn.functional.cross_entropy(model(x), y).backward()
    ...     with probe.step(i):
    ...         opt.step()
    ...     opt.zero_grad()
    >>> len(probe.history), probe.history[-1].top.shape
    (3, torch.Size([5]))
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from layerwise._registry import register
from layerwise.analysis.sharpness import top_hessian_eigenvalue, trainable

PAPER = ("Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization "
         "(Rosenfeld & Risteski, 2024)", "2311.04163")


@dataclass(frozen=True)
class SignalStep:
    """One measured step: per-example loss after it and change across it, the top-``k`` indices
    (largest ``|delta|`` first), their +-1 groups, and the scalar and per-layer readings."""

    step: int
    loss: Tensor
    delta: Tensor
    top: Tensor
    groups: Tensor
    scalars: dict[str, float]
    grad_share: dict[str, float]


def _per_example_ce(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, reduction="none")


@register("opposing_signals", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
class OpposingSignals:
    """Per-example loss changes on a fixed subset ``(x, y)`` across the steps run in :meth:`step`.

    Args:
        model: the trained module (at least one parameter that requires grad).
        x, y: the fixed subset (non-empty, same length).
        k: size of the top-``|delta|`` set, 1 <= k <= len(x).
        every: measure every ``every``-th step (>= 1).
        loss_fn: ``loss_fn(model(x), y)`` -> per-example losses of shape (n,); default cross-entropy.
        log: a :class:`layerwise.Monitor` or :class:`layerwise.RunLog` to write rows into.
        sharpness_every: also the top Hessian eigenvalue every this many measured steps (0: never).
        sharpness_iters: most Hessian-vector products per sharpness reading.
        batch_size: evaluate the subset's losses in chunks of this size (None: at once).
    """

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, *, k: int = 20, every: int = 1,
                 loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None, log: Any = None,
                 sharpness_every: int = 0, sharpness_iters: int = 20,
                 batch_size: int | None = None) -> None:
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        trainable(self.params.values(), "model")
        if len(x) == 0:
            raise ValueError("x: the subset is empty; give at least k examples")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if not isinstance(k, int) or not 1 <= k <= len(x):
            raise ValueError(f"k must be an int in [1, {len(x)}] (the subset size), got {k!r}")
        for name, value, low in (("every", every, 1), ("sharpness_iters", sharpness_iters, 1),
                                 ("sharpness_every", sharpness_every, 0), ("batch_size", batch_size, 1)):
            if (value is not None or name != "batch_size") and (not isinstance(value, int) or value < low):
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if log is not None and not hasattr(getattr(log, "log_target", log), "log_many"):
            raise TypeError(f"log must be a Monitor or a RunLog, got {type(log).__name__}")
        self.model, self.x, self.y, self.k, self.every = model, x, y, k, every
        self.loss_fn = loss_fn or _per_example_ce
        self.log, self.batch_size = log, batch_size
        self.sharpness_every, self.sharpness_iters = sharpness_every, sharpness_iters
        self.history: list[SignalStep] = []
        self.subset: Tensor | None = None  # indices into the data, when drawn by ``sample``
        self._cached: tuple[int, Tensor] | None = None  # (step, losses after it)
        self._vector: tuple[Tensor, ...] | None = None

    @classmethod
    def sample(cls, model: nn.Module, x: Tensor, y: Tensor, *, size: int, seed: int = 0,
               **kwargs: Any) -> OpposingSignals:
        """A probe on ``size`` examples of ``(x, y)`` drawn once without replacement from ``seed``
        (``subset`` holds their indices)."""
        if not isinstance(size, int) or not 1 <= size <= len(x):
            raise ValueError(f"size must be an int in [1, {len(x)}] (the data's length), got {size!r}")
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:size].sort().values
        probe = cls(model, x[idx.to(x.device)], y[idx.to(y.device)], **kwargs)
        probe.subset = idx
        return probe

    @contextlib.contextmanager
    def step(self, i: int) -> Iterator[OpposingSignals]:
        """Measure around the optimizer step ``i`` run inside the block."""
        due = i % self.every == 0
        before = self.losses(reuse=i - 1) if due else None
        yield self
        if before is not None:
            self._record(int(i), before, self.losses())

    def losses(self, reuse: int | None = None) -> Tensor:
        """Per-example losses on the subset now (float32 on the CPU); ``reuse``: return the
        losses recorded after step ``reuse`` if those are the last ones measured."""
        if reuse is not None and self._cached is not None and self._cached[0] == reuse:
            return self._cached[1]
        chunks = [slice(0, len(self.x))] if self.batch_size is None else [
            slice(s, s + self.batch_size) for s in range(0, len(self.x), self.batch_size)]
        with _eval(self.model), torch.no_grad():
            out = torch.cat([self._example_losses(self.x[c], self.y[c]) for c in chunks])
        return out.float().cpu()

    def _example_losses(self, x: Tensor, y: Tensor) -> Tensor:
        out = self.loss_fn(self.model(x), y)
        if out.shape != (len(x),):
            raise ValueError(f"loss_fn must return one loss per example, shape ({len(x)},), "
                             f"got {tuple(out.shape)}")
        return out

    def _record(self, i: int, before: Tensor, after: Tensor) -> None:
        self._cached = (i, after)
        delta = after - before
        top = delta.abs().topk(self.k).indices
        scalars = {"delta_loss_abs": float(delta.abs().mean()), "subset_loss": float(after.mean()),
                   "top_delta_share": float(delta[top].abs().sum() / delta.abs().sum().clamp_min(1e-30))}
        if self.history:
            prev = set(self.history[-1].top.tolist())
            scalars["top_jaccard"] = len(prev & set(top.tolist())) / len(prev | set(top.tolist()))
        finite = bool(torch.isfinite(delta).all())  # a diverged step: no gradients, no sharpness
        groups, share, cross = self._top_gradients(top) if finite else (torch.ones(self.k), {}, math.nan)
        scalars["top_group_balance"] = float((groups > 0).float().mean())
        if math.isfinite(cross):
            scalars["top_cross_cos"] = cross
        n = len(self.history)
        if finite and self.sharpness_every and n % self.sharpness_every == 0:
            scalars["sharpness"] = self.sharpness()
        self.history.append(SignalStep(i, after, delta, top, groups, scalars, share))
        self._write(i, scalars, share)

    def _top_gradients(self, top: Tensor) -> tuple[Tensor, dict[str, float], float]:
        """(+-1 groups of the top set by input gradient, per-layer gradient share, cross-group
        mean cosine; NaN when a group is empty or the input is not floating point)."""
        idx = top.to(self.x.device)
        x = self.x[idx].detach().clone()
        differentiable = x.is_floating_point()
        x.requires_grad_(differentiable)
        names, params = list(self.params), list(self.params.values())
        with _eval(self.model), torch.enable_grad():
            total = self._example_losses(x, self.y[idx]).sum()
            grads = torch.autograd.grad(total, ([x] if differentiable else []) + params, allow_unused=True)
        layer_sq: dict[str, Tensor] = {}
        for name, g in zip(names, grads[1:] if differentiable else grads, strict=True):
            layer = name.rpartition(".")[0]
            sq = g.detach().double().pow(2).sum() if g is not None else torch.zeros((), dtype=torch.float64)
            layer_sq[layer] = layer_sq.get(layer, 0) + sq.cpu()
        norm = float(sum(layer_sq.values())) or 1.0
        share = {layer: float(v) / norm for layer, v in layer_sq.items()}
        if not differentiable:
            return torch.ones(len(top)), share, math.nan
        groups, cross = sign_groups(grads[0].detach().flatten(1).double().cpu())
        return groups, share, cross

    def sharpness(self) -> float:
        """Top Hessian eigenvalue of the mean subset loss at the current parameters."""
        with _eval(self.model):
            result = top_hessian_eigenvalue(lambda: self._example_losses(self.x, self.y).mean(),
                                            list(self.params.values()), iters=self.sharpness_iters,
                                            tol=1e-3, init=self._vector)
        self._vector = result.vector
        return result.value

    def _write(self, i: int, scalars: dict[str, float], share: dict[str, float]) -> None:
        if self.log is None:
            return
        target = getattr(self.log, "log_target", self.log)  # a Monitor writes into its RunLog
        target.log_many(i, [""] * len(scalars) + list(share),
                        list(scalars) + ["top_grad_share"] * len(share),
                        list(scalars.values()) + list(share.values()))

    def share_in_top(self, mask: Tensor, *, start: int = 0) -> float:
        """Mean share of the top-``k`` set held by examples where ``mask`` (bool, one per subset
        example) is true, over the measured steps ``>= start`` (NaN if there are none)."""
        mask = torch.as_tensor(mask, dtype=torch.bool).cpu()
        if mask.shape != (len(self.x),):
            raise ValueError(f"mask must have one entry per subset example ({len(self.x)}), "
                             f"got shape {tuple(mask.shape)}")
        shares = [float(mask[r.top].float().mean()) for r in self.history if r.step >= start]
        return sum(shares) / len(shares) if shares else math.nan


def sign_groups(grads: Tensor) -> tuple[Tensor, float]:
    """Split rows (one input gradient per example, largest ``|delta|`` first) into +-1 groups by
    the sign of their normalised projection on the principal direction; the first row's group is
    +1. Returns (groups, mean cosine between the two groups; NaN if one is empty)."""
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-30)
    direction = torch.linalg.svd(unit, full_matrices=False).Vh[0]
    proj = unit @ direction
    if proj[0] < 0:
        proj = -proj
    groups = torch.where(proj >= 0, 1.0, -1.0).float()
    plus, minus = unit[groups > 0], unit[groups < 0]
    cross = float((plus @ minus.T).mean()) if len(plus) and len(minus) else math.nan
    return groups, cross


@contextlib.contextmanager
def _eval(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
