"""Gradient attacks on a trained classifier: FGSM, l-infinity PGD and a PGD training step.

FGSM (Explaining and Harnessing Adversarial Examples, Goodfellow, Shlens, Szegedy, ICLR 2015,
arXiv 1412.6572): ``x_adv = clip(x + eps * sign(grad_x loss(f(x), y)), 0, 1)``, one step.
PGD (Towards Deep Learning Models Resistant to Adversarial Attacks, Madry, Makelov, Schmidt,
Tsipras, Vladu, ICLR 2018, arXiv 1706.06083): from a uniform random start in the eps-ball,
``steps`` signed-gradient steps of size ``alpha``, each projected back onto the l-infinity ball of
radius ``eps`` around ``x`` and onto the input box [0, 1]. :func:`pgd_training_step` is Madry et
al.'s adversarial training: one optimizer step on the loss at PGD examples.

``model`` is any callable from inputs to logits; to attack one stream of a two-stream model, pass
that stream's own classifier (``LateFusion.foreground_classifier()``) and feed the result to the
whole model (a gray-box attack). A module is put in eval mode for the attack and restored after;
its parameters receive no gradient (the gradient is taken with respect to the input only).
Inputs must lie in [0, 1]; ``eps`` is in the same units.

Example::

    >>> import torch
    >>> from layerwise.analysis import fgsm, pgd
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> bool(((fgsm(model, x, y, eps=0.1) - x).abs() <= 0.1 + 1e-7).all())
    True
    >>> x_adv = pgd(model, x, y, eps=0.05, steps=5)
    >>> bool(((x_adv - x).abs() <= 0.05 + 1e-7).all() and x_adv.min() >= 0 and x_adv.max() <= 1)
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from layerwise._registry import register

Model = Callable[[Tensor], Tensor]
PGD_PAPER = "Towards Deep Learning Models Resistant to Adversarial Attacks (Madry et al., 2018)"


def check_unit_interval(value: float, name: str) -> None:
    """ValueError naming ``name`` unless ``0 <= value <= 1`` (inputs and budgets live in [0, 1])."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] for inputs in [0, 1], got {value!r}")


def check_batch(x: Tensor, y: Tensor, name: str = "x") -> None:
    """ValueError unless ``x`` is a non-empty float batch with one int64 label per row in ``y``."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (N >= 1 rows), got shape {tuple(x.shape)}")
    if y.dtype != torch.int64 or y.shape != (x.shape[0],):
        raise ValueError(f"y must be int64 of shape ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")


def input_gradient(model: Model, x: Tensor, y: Tensor) -> Tensor:
    """Gradient of the summed cross-entropy with respect to ``x`` (one row's gradient does not
    depend on the batch size), the model in eval mode; parameters are left without gradients."""
    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            loss = F.cross_entropy(model(x), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, [x])
    finally:
        if was_training is not None:
            model.train(was_training)
    return grad


@register("fgsm", kind="diagnostic", paper="Explaining and Harnessing Adversarial Examples "
          "(Goodfellow et al., 2015)", arxiv="1412.6572")
def fgsm(model: Model, x: Tensor, y: Tensor, *, eps: float) -> Tensor:
    """One signed-gradient step of size ``eps`` (in [0, 1]) that raises the cross-entropy of
    ``model`` at ``(x, y)``, clipped to [0, 1]; detached."""
    check_unit_interval(eps, "eps")
    check_batch(x, y)
    return (x.detach() + eps * input_gradient(model, x, y).sign()).clamp(0.0, 1.0)


@register("pgd", kind="diagnostic", paper=PGD_PAPER, arxiv="1706.06083")
def pgd(model: Model, x: Tensor, y: Tensor, *, eps: float, alpha: float | None = None, steps: int = 10,
        random_start: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """l-infinity PGD: ``steps`` signed steps of ``alpha`` (default ``2.5 eps / steps``, Madry et
    al.'s ratio) from a uniform start in the ``eps``-ball (``random_start``), each projected onto
    the ball and onto [0, 1]; returns the last iterate, detached."""
    check_unit_interval(eps, "eps")
    check_batch(x, y)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    alpha = 2.5 * eps / steps if alpha is None else alpha
    check_unit_interval(alpha, "alpha")
    x = x.detach()
    x_adv = x.clone()
    if random_start and eps > 0:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x_adv = (x + eps * (2 * noise - 1)).clamp(0.0, 1.0)
    for _ in range(steps):
        x_adv = x_adv + alpha * input_gradient(model, x_adv, y).sign()
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv


@register("pgd_training_step", kind="diagnostic", paper=PGD_PAPER, arxiv="1706.06083")
def pgd_training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, *,
                      eps: float, alpha: float | None = None, steps: int = 10,
                      generator: torch.Generator | None = None) -> float:
    """One step of PGD adversarial training: PGD examples at ``eps`` (the attack runs in eval
    mode), then one optimizer step on their mean cross-entropy in the model's own mode; returns
    that loss. ``eps=0`` is plain training."""
    check_unit_interval(eps, "eps")
    x_adv = pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, generator=generator) if eps > 0 else x
    loss = F.cross_entropy(model(x_adv), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
