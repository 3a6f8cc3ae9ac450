"""Level Set Traversal: walk an input toward a target image while its source-class confidence stays put.

Understanding the Geometry of Blind Spots of Neural Networks (Balasubramanian, Sriramanan,
Sadasivan, Feizi, NeurIPS 2023; arXiv 2310.19889). From a source image ``x0`` of class ``y_s``,
each iteration takes ``J``, the input gradient of the batch-mean cross-entropy at ``y_s``, removes
from the direction to the target ``v = x_t - x`` its component along ``J``
(``n = v - J <J, v> / <J, J>``, a step inside the level set to first order), accumulates an
adversarial term ``delta <- clip(delta + (a / 2) J, -a, a)`` and proposes
``x' = clip(x + eta n - delta, 0, 1)`` (subtracting ``delta`` raises the source confidence). A
row accepts its proposal only while ``p_ys(x0) - p_ys(x') < pthresh``; the walk stops after
``iters`` iterations or when no row moved. As in the official code (SriramB-98/blindspots-geometry,
``level_set_traversal.py``), ``J`` is the gradient of the *batch mean*, so the adversarial term
shrinks as 1 / batch size while the null-space step (scale-free) does not. The start is ``x0``
plus U(-2/255, 2/255) noise, kept only where it already satisfies the tolerance (so every
iterate does). The paper reports that the final images look like the targets (SSIM, l2) while
keeping the source's confidence, and that the source is joined to them by high-confidence linear
paths and triangles (:func:`path_confidence`, :func:`triangle_confidence`).

Example::

    >>> import torch
    >>> from layerwise.analysis import level_set_traversal
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    >>> x0, xt = torch.rand(2, 4), torch.rand(2, 4)
    >>> y0 = model(x0).argmax(1)
    >>> out = level_set_traversal(model, x0, y0, xt, y_target=(y0 + 1) % 3, iters=50)
    >>> bool((out.initial - out.trace.min(0).values < 0.2).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.analysis.attacks import Model, check_batch, check_unit_interval, input_gradient

PAPER = "Understanding the Geometry of Blind Spots of Neural Networks (Balasubramanian et al., 2023)"
ARXIV = "2310.19889"


@dataclass(frozen=True)
class LevelSetResult:
    """``final``: the last iterates (shape of ``x_source``); ``initial`` and ``final_confidence``:
    p_ys at the source and at the final point (N,); ``trace``: p_ys at every iterate, start
    included (iterations + 1, N); ``accepted``: accepted steps per row (N,)."""

    final: Tensor
    initial: Tensor
    final_confidence: Tensor
    trace: Tensor
    accepted: Tensor
    iterations: int


@torch.no_grad()
def eval_logits(model: Model, x: Tensor) -> Tensor:
    """``model(x)`` without gradients, a module in eval mode (its mode restored)."""
    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    try:
        return model(x)
    finally:
        if was_training is not None:
            model.train(was_training)


def confidence(model: Model, x: Tensor, y: Tensor) -> Tensor:
    """Softmax probability of class ``y`` per row (N,), the model in eval mode."""
    return eval_logits(model, x).softmax(-1).gather(1, y[:, None])[:, 0]


def _check(x_source: Tensor, y_source: Tensor, x_target: Tensor, step: float, iters: int,
           pthresh: float, adv_step: float, noise: float) -> None:
    check_batch(x_source, y_source, "x_source")
    if x_target.shape != x_source.shape:
        raise ValueError(f"x_target must have the shape of x_source {tuple(x_source.shape)}, "
                         f"got {tuple(x_target.shape)}")
    for name, x in (("x_source", x_source), ("x_target", x_target)):
        if x.min() < 0 or x.max() > 1:
            raise ValueError(f"{name} must lie in [0, 1], got values in [{float(x.min()):.3g}, "
                             f"{float(x.max()):.3g}]")
    if not 0 < step <= 1:
        raise ValueError(f"step must be in (0, 1], got {step!r}")
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    if not 0 < pthresh <= 1:
        raise ValueError(f"pthresh must be in (0, 1], got {pthresh!r}")
    check_unit_interval(adv_step, "adv_step")
    check_unit_interval(noise, "noise")


def _rows(v: Tensor, like: Tensor) -> Tensor:
    """A per-row vector (N,) shaped to broadcast against ``like``'s rows: (N, 1, ..., 1)."""
    return v.reshape(-1, *[1] * (like.dim() - 1))


def _rowdot(a: Tensor, b: Tensor) -> Tensor:
    """Per-row inner product, broadcastable against the rows."""
    return _rows((a * b).flatten(1).sum(1), a)


@register("level_set_traversal", kind="diagnostic", paper=PAPER, arxiv=ARXIV)
def level_set_traversal(model: Model, x_source: Tensor, y_source: Tensor, x_target: Tensor, *,
                        y_target: Tensor | None = None, step: float = 1e-2, iters: int = 400,
                        pthresh: float = 0.2, adv_step: float = 3e-4, noise: float = 2 / 255,
                        generator: torch.Generator | None = None) -> LevelSetResult:
    """Move each ``x_source`` row toward its ``x_target`` row inside the level set of p_ys.

    ``y_target`` (default: the model's prediction on ``x_target``) must differ from ``y_source`` in
    every row. Defaults are the official README's for a standard ResNet-50 (``eta`` = ``step``,
    ``a`` = ``adv_step``; 2e-3 for an adversarially trained model). Inputs lie in [0, 1].
    """
    _check(x_source, y_source, x_target, step, iters, pthresh, adv_step, noise)
    if y_target is None:
        y_target = eval_logits(model, x_target).argmax(-1)
    same = (y_target == y_source).nonzero().flatten()
    if len(same):
        i = int(same[0])
        raise ValueError(f"y_target must differ from y_source in every row: row {i} has target class "
                         f"{int(y_target[i])}, the source's class ({len(same)} such rows)")
    x0, xt = x_source.detach(), x_target.detach()
    p0 = confidence(model, x0, y_source)
    start = (x0 + noise * (2 * torch.rand(x0.shape, generator=generator, dtype=x0.dtype) - 1)).clamp(0, 1)
    p_start = confidence(model, start, y_source)
    keep = p0 - p_start < pthresh
    x, p = torch.where(_rows(keep, x0), start, x0), torch.where(keep, p_start, p0)
    delta = torch.zeros_like(x0)
    trace, accepted, done = [p], torch.zeros(len(x0), dtype=torch.long), 0
    for done in range(1, iters + 1):  # noqa: B007 (the count is returned)
        grad = input_gradient(model, x, y_source) / len(x0)  # batch-mean cross-entropy, as the paper's code
        v = xt - x
        gg = _rowdot(grad, grad)
        n = v - grad * torch.where(gg > 0, _rowdot(grad, v) / gg.clamp_min(1e-30), torch.zeros_like(gg))
        delta = (delta + adv_step / 2 * grad).clamp(-adv_step, adv_step)
        cand = (x + step * n - delta).clamp(0, 1)
        p_cand = confidence(model, cand, y_source)
        ok = p0 - p_cand < pthresh
        x = torch.where(_rows(ok, x0), cand, x)
        p = torch.where(ok, p_cand, p)
        trace.append(p)
        accepted += ok.long()
        if not ok.any():
            break
    return LevelSetResult(final=x, initial=p0, final_confidence=p, trace=torch.stack(trace),
                          accepted=accepted, iterations=done)


def path_confidence(model: Model, x_from: Tensor, x_to: Tensor, y: Tensor, *, points: int = 21) -> Tensor:
    """p_y at ``points`` evenly spaced points of each segment from ``x_from`` to ``x_to``:
    shape (points, N), the first row at ``x_from``, the last at ``x_to``."""
    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    ts = torch.linspace(0, 1, points, dtype=x_from.dtype)
    return torch.stack([confidence(model, x_from + t * (x_to - x_from), y) for t in ts])


def triangle_confidence(model: Model, x0: Tensor, x1: Tensor, x2: Tensor, y: Tensor, *,
                        grid: int = 10) -> Tensor:
    """p_y over the triangle (x0, x1, x2) of each row: the (grid + 1)(grid + 2) / 2 points
    ``x0 + (i / grid)(x1 - x0) + (j / grid)(x2 - x0)``, ``i + j <= grid``; shape (points, N)."""
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    rows = [confidence(model, x0 + i / grid * (x1 - x0) + j / grid * (x2 - x0), y)
            for i in range(grid + 1) for j in range(grid + 1 - i)]
    return torch.stack(rows)
