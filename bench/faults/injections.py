"""Faults injected into a :class:`~layerwise.doctor._setup.Setup` at an onset step: learning-rate
changes, weight edits and batch corruption. Each ``inject(setup)`` edits the setup in place and
chains onto any ``before_step`` or ``batch`` already there, so faults compose."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from faults.models import _digits
from layerwise.doctor._setup import Setup


def _chain(setup: Setup, hook: Callable[[int, Setup], None]) -> None:
    before = setup.before_step

    def both(step: int, s: Setup) -> None:
        if before is not None:
            before(step, s)
        hook(step, s)

    setup.before_step = both


@dataclass(frozen=True)
class LR:
    """Learning rate times ``factor`` from step ``at`` (until ``until``, then restored)."""

    at: int
    factor: float
    until: int | None = None

    def __call__(self, setup: Setup) -> None:
        def hook(step: int, s: Setup) -> None:
            if step == self.at:
                for g in s.optimizer.param_groups:
                    g["lr"] *= self.factor
            if self.until is not None and step == self.until:
                for g in s.optimizer.param_groups:
                    g["lr"] /= self.factor

        _chain(setup, hook)


@dataclass(frozen=True)
class OptimizerSetting:
    """The optimizer's hyperparameter ``key`` set to ``value`` in every group from step 0 (a
    configuration fault: Adam's ``betas``, SGD's ``momentum``)."""

    key: str
    value: object

    def __call__(self, setup: Setup) -> None:
        for g in setup.optimizer.param_groups:
            g[self.key] = self.value


@dataclass(frozen=True)
class Edit:
    """At step ``at``, ``fn(module)`` on the submodule ``path`` (no grad); ``freeze`` also stops
    its parameters from training. An edit at step 0 is part of the initial model: it is applied
    when the recipe builds the setup, so a remedy applied afterwards (a re-init) can undo it."""

    at: int
    path: str
    fn: Callable[[nn.Module], None]
    freeze: bool = False

    def __call__(self, setup: Setup) -> None:
        if self.at == 0:
            self._apply(setup)
            return

        def hook(step: int, s: Setup) -> None:
            if step == self.at:
                self._apply(s)

        _chain(setup, hook)

    def _apply(self, s: Setup) -> None:
        module = s.model.get_submodule(self.path)
        with torch.no_grad():
            self.fn(module)
        if self.freeze:
            for p in module.parameters():
                p.requires_grad_(False)
                p.grad = None


@dataclass(frozen=True)
class Batch:
    """``fn(x, y, step) -> (x, y)`` on the batches of steps ``at`` .. ``until - 1`` (to the end)."""

    at: int
    fn: Callable
    until: int | None = None

    def __call__(self, setup: Setup) -> None:
        inner = setup.batch

        def batch(step: int):
            x, y = inner(step)
            if step >= self.at and (self.until is None or step < self.until):
                return self.fn(x.clone(), y.clone(), step)
            return x, y

        setup.batch = batch


# -- weight edits (module -> None) ------------------------------------------------------------

def scale(name: str, factor: float) -> Callable[[nn.Module], None]:
    """Multiply parameter ``name`` of the module by ``factor``."""
    def fn(m: nn.Module) -> None:
        getattr(m, name).mul_(factor)
    return fn


def fill(name: str, value: float) -> Callable[[nn.Module], None]:
    """Set every entry of parameter ``name`` to ``value`` (NaN, inf or a large negative bias)."""
    def fn(m: nn.Module) -> None:
        getattr(m, name).fill_(value)
    return fn


def poke(name: str, value: float, index: int = 0) -> Callable[[nn.Module], None]:
    """Set one entry (flat ``index``) of parameter ``name`` to ``value``."""
    def fn(m: nn.Module) -> None:
        getattr(m, name).view(-1)[index] = value
    return fn


def zero_all(m: nn.Module) -> None:
    for p in m.parameters():
        p.zero_()


def qk_scale(factor: float) -> Callable[[nn.Module], None]:
    """Scale the query and key rows of a fused ``qkv`` projection (attention logits x factor^2)."""
    def fn(m: nn.Module) -> None:
        d = m.proj.in_features
        m.qkv.weight[: 2 * d].mul_(factor)
        m.qkv.bias[: 2 * d].mul_(factor)
    return fn


def normal(name: str, std: float, seed: int = 0) -> Callable[[nn.Module], None]:
    """Redraw parameter ``name`` from N(0, std^2) with its own seed (the same draw for every run)."""
    def fn(m: nn.Module) -> None:
        p = getattr(m, name)
        p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) * std)
    return fn


def scale_output(factor: float) -> Callable[[nn.Module], None]:
    """Multiply the module's output by a fixed ``factor`` (a forward hook the module keeps): a
    mis-set constant branch multiplier that no parameter can undo."""
    def hook(_m: nn.Module, _inputs, out):
        return out * factor

    def fn(m: nn.Module) -> None:
        m.register_forward_hook(hook)
    return fn


def sharpen_attention(factor: float) -> Callable[[nn.Module], None]:
    """An attention whose softmax runs at temperature 1 / ``factor``: its logits times ``factor``
    by a kept hook on the explicit path, switched on for good (the fused path has no logits to
    hook, so a hook alone would act only when the probe captures attention)."""
    def fn(m: nn.Module) -> None:
        m.explicit = True
        m.logits.register_forward_hook(lambda _m, _inputs, out: out * factor)
    return fn


def uniform_attention(value_gain: float) -> Callable[[nn.Module], None]:
    """Zero queries and keys (every query attends to all keys alike) and scale the values."""
    def fn(m: nn.Module) -> None:
        d = m.proj.in_features
        m.qkv.weight[: 2 * d].zero_()
        m.qkv.bias[: 2 * d].zero_()
        m.qkv.weight[2 * d:].mul_(value_gain)
    return fn


# -- batch edits (x, y, step -> x, y) -----------------------------------------------------------

def nan_inputs(x, y, step):
    x = x.float() if not x.is_floating_point() else x
    x.view(-1)[: x[0].numel()] = float("nan")  # the first sample
    return x, y


def inf_inputs(x, y, step):
    x.view(-1)[0] = float("inf")
    return x, y


def shuffled_labels(classes: int) -> Callable:
    """Labels replaced by random ones (a seeded draw per step): nothing left to learn."""
    def fn(x, y, step):
        g = torch.Generator().manual_seed(7919 * step + 1)
        return x, torch.randint(0, classes, y.shape, generator=g)
    return fn


def one_label(label: int) -> Callable:
    """Every label set to ``label`` (a corrupted shard)."""
    def fn(x, y, step):
        return x, torch.full_like(y, label)
    return fn


@dataclass(frozen=True)
class Activation:
    """Every block's activation (``blocks.i.act``, MLP or CNN) replaced from the start by the
    :func:`layerwise.nn.make_activation` of ``name`` (the weights keep the builder's init)."""

    name: str

    def __call__(self, setup: Setup) -> None:
        from layerwise.nn import make_activation

        for block in setup.model.blocks:
            block.act = make_activation(self.name)


@dataclass(frozen=True)
class NoBatchNorm:
    """The CNN's batch norms removed from the start (``blocks.i.bn`` becomes the identity), and
    their parameters from the optimizer (as a model built without them would have it)."""

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            block.bn = nn.Identity()
        opt = setup.optimizer
        setup.optimizer = type(opt)(setup.model.parameters(), **opt.defaults)


@dataclass(frozen=True)
class ScaleWeights:
    """The weight of every module of type ``kind`` times ``factor`` in the initial model."""

    kind: type
    factor: float

    def __call__(self, setup: Setup) -> None:
        with torch.no_grad():
            for m in setup.model.modules():
                if isinstance(m, self.kind):
                    m.weight.mul_(self.factor)


def beside_task(setup: Setup, name: str, term: Callable) -> None:
    """The setup's loss made two named losses: the task's own and ``name``, ``term(out, y)``
    (trained on their sum; ``doctor.train`` logs their per-layer conflict)."""
    task = setup.loss_fn

    def both(out, y):
        return {"task": task(out, y), name: term(out, y)}

    setup.loss_fn = both


@dataclass(frozen=True)
class CopyTargets:
    """A GPT's second named loss on targets one position behind (the current token instead of
    the next one): an auxiliary loss with misaligned targets, whose gradients oppose the task's
    from step 0; ``doctor.train`` logs their per-layer conflict."""

    def __call__(self, setup: Setup) -> None:
        task = setup.loss_fn
        beside_task(setup, "copy", lambda out, y: task(out[:, 1:], y[:, :-1]))


@dataclass(frozen=True)
class TwoLosses:
    """Two named losses (trained on their sum): the task loss and the same loss on labels shifted
    by one class (``classes``), objectives whose gradients pull the shared layers apart from
    step 0; ``doctor.train`` logs their per-layer conflict."""

    classes: int

    def __call__(self, setup: Setup) -> None:
        task, k = setup.loss_fn, self.classes
        beside_task(setup, "shifted", lambda out, y: task(out, (y + 1) % k))


# -- held_out3 helpers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ScaleLoss:
    """The training loss times ``factor`` from step 0 (a mixed-precision loss scale never undone
    before the update): SGD's gradients and steps grow by ``factor``; Adam would not notice."""

    factor: float

    def __call__(self, setup: Setup) -> None:
        task, k = setup.loss_fn, self.factor

        def scaled(out, y):
            return task(out, y) * k

        setup.loss_fn = scaled


@dataclass(frozen=True)
class ConfidencePenalty:
    """A second named loss pulling the predictions towards the uniform distribution (a confidence
    penalty, Pereyra et al. 2017, arXiv:1701.06548, at weight 1): it opposes the task loss as soon as
    the task sharpens the predictions; ``doctor.train`` logs their per-layer conflict."""

    def __call__(self, setup: Setup) -> None:
        beside_task(setup, "uniform", lambda out, y: -out.log_softmax(-1).mean())


def bypass(m: nn.Module) -> None:
    """A forward hook the module keeps that returns its input unchanged (a block left skipped, as a
    layer-drop switched on for good): the block computes but contributes nothing."""
    m.register_forward_hook(lambda _m, inputs, _out: inputs[0])


def scale_inputs(factor: float) -> Callable:
    """Inputs times ``factor`` (a shard that skipped its normalisation)."""
    def fn(x, y, step):
        return x * factor, y
    return fn


def blank_inputs(x, y, step):
    """Every input set to 0 (a data pipeline that delivers blank images): the labels keep nothing
    the model can read."""
    return torch.zeros_like(x), y


# -- held_out4 helpers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class NoZeroGrad:
    """The optimizer's ``zero_grad`` made a no-op (the call left out of the loop): every step's
    gradient adds to all earlier ones, so the step grows with the run (SGD with momentum 1)."""

    def __call__(self, setup: Setup) -> None:
        setup.optimizer.zero_grad = lambda set_to_none=True: None


@dataclass(frozen=True)
class Constraint:
    """``fn(module)`` on the submodule ``path`` before every step (no grad): a projection such as a
    weight clamp, applied throughout the run as a constrained optimizer does."""

    path: str
    fn: Callable[[nn.Module], None]

    def __call__(self, setup: Setup) -> None:
        def hook(step: int, s: Setup) -> None:
            with torch.no_grad():
                self.fn(s.model.get_submodule(self.path))

        _chain(setup, hook)


def clamp(name: str, lo: float | None = None, hi: float | None = None) -> Callable[[nn.Module], None]:
    """Clamp parameter ``name`` of the module into ``[lo, hi]`` in place."""
    def fn(m: nn.Module) -> None:
        getattr(m, name).clamp_(min=lo, max=hi)
    return fn


def standardised_without_eps(x, y, step):
    """Each input feature standardised over the batch as ``(x - mean) / std`` with no epsilon: a
    feature constant over the batch (a pixel that is always blank) gives 0 / 0 = NaN."""
    return (x - x.mean(0, keepdim=True)) / x.std(0, keepdim=True), y


@dataclass(frozen=True)
class Warmup:
    """A linear learning-rate warmup over ``steps`` steps (lr x (step + 1) / steps until then): with
    ``steps`` far beyond the run (a length given in samples instead of steps) it never ends."""

    steps: int

    def __call__(self, setup: Setup) -> None:
        base = [g["lr"] for g in setup.optimizer.param_groups]

        def hook(step: int, s: Setup) -> None:
            for g, lr in zip(s.optimizer.param_groups, base, strict=True):
                g["lr"] = lr * min(1.0, (step + 1) / self.steps)

        _chain(setup, hook)


@dataclass(frozen=True)
class StaleOptimizer:
    """The optimizer rebuilt on a copy of the model's parameters (the model re-created after its
    optimizer was made): the gradients land on the trained model, the steps on the copy."""

    def __call__(self, setup: Setup) -> None:
        opt = setup.optimizer
        copies = [p.detach().clone().requires_grad_(True) for p in setup.model.parameters()]
        setup.optimizer = type(opt)(copies, **opt.defaults)


@dataclass(frozen=True)
class NoNorm:
    """The norm ``name`` (``ln1``, ``ln2``) of every transformer block replaced by the identity from
    the start (the pre-norm left out of the block)."""

    name: str

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            setattr(block, self.name, nn.Identity())


@dataclass(frozen=True)
class GroupLR:
    """The parameters whose name contains ``part`` in a group of their own with the learning rate
    times ``factor`` (a per-module learning-rate multiplier set on the wrong module)."""

    part: str
    factor: float

    def __call__(self, setup: Setup) -> None:
        GroupSetting(self.part, "lr", setup.optimizer.defaults["lr"] * self.factor)(setup)


def no_skip(m: nn.Module) -> None:
    """A pre-norm transformer block computing ``mlp(ln2(attn(ln1(x))))``: both residual connections
    left out, so nothing carries a token's own representation past the attention's mixing."""
    def forward(x):
        return m.mlp(m.ln2(m.attn(m.ln1(x))))

    m.forward = forward


@dataclass(frozen=True)
class LogitPenalty:
    """A second named loss ``weight * mean(logits^2)`` beside the task (a logit-norm regulariser at
    a weight far above its usual ~1e-4): it pulls every logit to 0 while the task sharpens them."""

    weight: float

    def __call__(self, setup: Setup) -> None:
        w = self.weight
        beside_task(setup, "logit_l2", lambda out, y: w * out.pow(2).mean())


def class_sorted(flat: bool) -> Callable:
    """Batches of real training samples of one class each (class ``step % 10``): an unshuffled
    stretch of data sorted by label, inputs and labels still matching."""
    def fn(x, y, step):
        split = _digits(flat)
        rows = (split.y_train == step % 10).nonzero().flatten()
        pick = rows[torch.randint(0, len(rows), (len(y),), generator=torch.Generator().manual_seed(step))]
        return split.x_train[pick].reshape(x.shape), split.y_train[pick]
    return fn


@dataclass(frozen=True)
class LeftOut:
    """The parameters of the submodule ``path`` left out of the optimizer (the module added after
    the optimizer was built): they get gradients, but no step ever changes them."""

    path: str

    def __call__(self, setup: Setup) -> None:
        opt, prefix = setup.optimizer, self.path + "."
        kept = [p for n, p in setup.model.named_parameters() if not n.startswith(prefix)]
        setup.optimizer = type(opt)(kept, **opt.defaults)


# -- healthy multi-loss configurations --------------------------------------------------------------

@dataclass(frozen=True)
class LabelSmoothingAuxiliary:
    """A second named loss beside the task: ``weight`` times the cross-entropy with label smoothing
    ``smoothing`` (Szegedy et al. 2016, arXiv:1512.00567) on the same labels, an objective that agrees
    with the task's; ``doctor.train`` logs their per-layer conflict. A negative ``weight`` subtracts it (an
    auxiliary loss added with its sign flipped), an objective that opposes the task's."""

    weight: float = 0.3
    smoothing: float = 0.1

    def __call__(self, setup: Setup) -> None:
        w, eps = self.weight, self.smoothing
        beside_task(setup, "smoothed",
                    lambda out, y: w * F.cross_entropy(out.flatten(0, -2), y.flatten(), label_smoothing=eps))


@dataclass(frozen=True)
class MarginAuxiliary:
    """A second named loss beside the task: ``weight`` times the multi-class hinge loss on the same
    labels (Crammer and Singer's margin, as ``torch.nn.functional.multi_margin_loss``), an objective
    that agrees with the task's; ``doctor.train`` logs their per-layer conflict."""

    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        w = self.weight
        beside_task(setup, "margin", lambda out, y: w * F.multi_margin_loss(out.flatten(0, -2), y.flatten()))


# -- held_out5 helpers ----------------------------------------------------------------------------

def max_norm(name: str, c: float) -> Callable[[nn.Module], None]:
    """Renormalise each output row of parameter ``name`` to an L2 norm of at most ``c`` in place (the
    max-norm constraint of Srivastava et al. 2014, JMLR 15, used with dropout)."""
    def fn(m: nn.Module) -> None:
        w = getattr(m, name)
        w.copy_(torch.renorm(w, 2, 0, c))
    return fn


@dataclass(frozen=True)
class ExponentialLR:
    """The learning rate times ``gamma ** step`` (an exponential schedule stepped every batch; with
    ``gamma`` meant per epoch, or above 1 by a typo, it runs away from the base rate)."""

    gamma: float

    def __call__(self, setup: Setup) -> None:
        base = [g["lr"] for g in setup.optimizer.param_groups]

        def hook(step: int, s: Setup) -> None:
            for g, lr in zip(s.optimizer.param_groups, base, strict=True):
                g["lr"] = lr * self.gamma ** step

        _chain(setup, hook)


@dataclass(frozen=True)
class HandWrittenKL:
    """The loss written by hand as ``sum(p * (log p - log q))`` with one-hot targets ``p``: the zero
    entries give ``0 * log 0 = 0 * -inf = NaN`` on every batch (``F.kl_div`` or the cross-entropy
    treat them as 0)."""

    def __call__(self, setup: Setup) -> None:
        def kl(out, y):
            logits = out.flatten(0, -2)
            p = F.one_hot(y.flatten(), logits.shape[-1]).float()
            return (p * (p.log() - logits.log_softmax(-1))).sum(-1).mean()

        setup.loss_fn = kl


def transposed_images(x, y, step):
    """Each 8x8 image (flat or not) transposed, rows and columns swapped: a shard stored in another
    layout."""
    return x.reshape(len(x), -1, 8, 8).transpose(-1, -2).reshape(x.shape), y


def hot_pixel(value: float, index: int = 0) -> Callable:
    """One pixel (flat ``index`` of every image) stuck at ``value`` (a broken sensor or a marker left in
    the data)."""
    def fn(x, y, step):
        x.view(len(x), -1)[:, index] = value
        return x, y
    return fn


@dataclass(frozen=True)
class NormalisedGradients:
    """Every parameter's gradient rescaled to the norm ``norm`` as it is computed (a clipping written
    as ``g * norm / |g|`` without the ``min(1, .)``): small gradients are blown up to full size."""

    norm: float

    def __call__(self, setup: Setup) -> None:
        for p in setup.model.parameters():
            p.register_hook(lambda g: g * (self.norm / g.norm().clamp_min(1e-12)))


@dataclass(frozen=True)
class ZeroGradBeforeStep:
    """The gradients zeroed between ``backward`` and ``optimizer.step`` (``zero_grad`` called in the
    wrong place): every step sees zero gradients."""

    def __call__(self, setup: Setup) -> None:
        opt = setup.optimizer
        step = opt.step

        def zeroed_step(*args, **kwargs):
            opt.zero_grad()
            return step(*args, **kwargs)

        opt.step = zeroed_step


@dataclass(frozen=True)
class UntrainedTeacher:
    """A second named loss distilling (KL at temperature 1, weight ``weight``) from a teacher that is a
    frozen copy of the student at initialisation (a teacher built but its checkpoint never loaded): it
    pulls the student back to its random initial predictions while the task pulls away."""

    weight: float = 1.0

    def __call__(self, setup: Setup) -> None:
        import copy

        teacher = copy.deepcopy(setup.model).requires_grad_(False).eval()
        w, seen = self.weight, []

        def remember(_m, args):
            seen[:] = [args[0]]

        setup.model.register_forward_pre_hook(remember)

        def distill(out, y):
            with torch.no_grad():
                target = teacher(seen[0]).flatten(0, -2).softmax(-1)
            return w * F.kl_div(out.flatten(0, -2).log_softmax(-1), target, reduction="batchmean")

        beside_task(setup, "distill", distill)


@dataclass(frozen=True)
class UnsignedL1Decay:
    """An L1 weight decay written as ``p -= lr * strength`` before every step from step ``at`` on, the
    ``sign(p)`` left out: instead of shrinking the weights towards 0 it drags every weight and bias
    down by the same amount."""

    strength: float
    at: int = 0

    def __call__(self, setup: Setup) -> None:
        def hook(step: int, s: Setup) -> None:
            if step < self.at:
                return
            with torch.no_grad():
                for g in s.optimizer.param_groups:
                    for p in g["params"]:
                        p.sub_(g["lr"] * self.strength)

        _chain(setup, hook)


@dataclass(frozen=True)
class GroupSetting:
    """The parameters whose name contains ``part`` in a parameter group of their own with the
    optimizer's ``key`` set to ``value`` (a per-module setting put on the wrong module)."""

    part: str
    key: str
    value: object

    def __call__(self, setup: Setup) -> None:
        opt, named = setup.optimizer, list(setup.model.named_parameters())
        groups = [{"params": [p for n, p in named if self.part not in n]},
                  {"params": [p for n, p in named if self.part in n], self.key: self.value}]
        setup.optimizer = type(opt)(groups, **opt.defaults)


@dataclass(frozen=True)
class MissingAttentionScale:
    """Every attention's logits computed as ``q . k`` without the ``1 / sqrt(d_head)`` of scaled
    dot-product attention (Vaswani et al. 2017, arXiv:1706.03762): the explicit path with a kept hook
    multiplying its scaled logits by ``sqrt(d_head)``, in training as in the probe."""

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                d_head = m.proj.in_features // m.n_head
                m.logits.register_forward_hook(lambda _m, _inputs, out, k=d_head: out * k**0.5)


@dataclass(frozen=True)
class LocalWindow:
    """Sliding-window attention of ``window`` tokens (each query sees the keys less than ``window``
    positions away, as in Longformer, Beltagy et al. 2020, arXiv:2004.05150): the explicit path with
    a kept hook masking the logits outside the window. A window of 1, a size given in blocks of
    tokens read as tokens, leaves each token attending to itself alone."""

    window: int

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        def hook(_m, _inputs, out):
            t = out.shape[-1]
            pos = torch.arange(t)
            far = (pos[:, None] - pos[None, :]).abs() >= self.window
            return out.masked_fill(far, float("-inf"))

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


def pooled_tokens(m: nn.Module) -> None:
    """The module's (N, T, D) output averaged over the tokens and broadcast back over the T positions
    (a forward hook the module keeps): a mean-pooling meant for the head placed before the blocks."""
    m.register_forward_hook(lambda _m, _inputs, out: out.mean(1, keepdim=True).expand_as(out))


@dataclass(frozen=True)
class FocalAuxiliary:
    """A second named loss beside the task: ``weight`` times the focal loss on the same labels
    (``-(1 - p_t)^gamma log p_t``, Lin et al. 2017, arXiv:1708.02002), an objective that agrees with the
    task's while it down-weights the examples already right; ``doctor.train`` logs their conflict."""

    weight: float = 0.3
    gamma: float = 2.0

    def __call__(self, setup: Setup) -> None:
        w, gamma = self.weight, self.gamma

        def focal(out, y):
            logp = out.flatten(0, -2).log_softmax(-1).gather(-1, y.flatten()[:, None]).squeeze(-1)
            return w * -((1 - logp.exp()) ** gamma * logp).mean()

        beside_task(setup, "focal", focal)


@dataclass(frozen=True)
class BrierAuxiliary:
    """A second named loss beside the task: ``weight`` times the Brier score on the same labels (the
    squared distance of the predicted probabilities to the one-hot target, Brier 1950), an objective
    that agrees with the task's; ``doctor.train`` logs their per-layer conflict."""

    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        w = self.weight

        def brier(out, y):
            logits = out.flatten(0, -2)
            target = F.one_hot(y.flatten(), logits.shape[-1]).float()
            return w * (logits.softmax(-1) - target).pow(2).sum(-1).mean()

        beside_task(setup, "brier", brier)


# -- held_out6 helpers ----------------------------------------------------------------------------

def gradient_scale(factor: float) -> Callable[[nn.Module], None]:
    """The module's output unchanged forward and its gradient times ``factor`` backward (a kept forward
    hook: a gradient-scaling layer, as a gradient-reversal layer's ``lambda`` (Ganin and Lempitsky 2015,
    arXiv:1409.7495) left on the main path at a small value): everything below it learns ``factor`` times
    slower."""
    def hook(_m, _inputs, out):
        return out * factor + out.detach() * (1 - factor)

    def fn(m: nn.Module) -> None:
        m.register_forward_hook(hook)
    return fn


def shift_inputs(offset: float) -> Callable:
    """Inputs plus ``offset`` (a mean subtracted in another unit: the raw 0-16 pixel mean, 8, taken from
    images already scaled to [0, 1])."""
    def fn(x, y, step):
        return x + offset, y
    return fn


def padding_only(x, y, step):
    """Every target set to the ignore index -100 (a batch of padding alone): the cross-entropy's mean
    over zero counted targets is 0 / 0 = NaN."""
    return x, torch.full_like(y, -100)


@dataclass(frozen=True)
class SignGradients:
    """Every parameter's gradient replaced by its sign as it is computed (a sign-based update, as
    Lion's, Chen et al. 2023, arXiv:2302.06675, run at a learning rate meant for SGD)."""

    def __call__(self, setup: Setup) -> None:
        for p in setup.model.parameters():
            p.register_hook(torch.sign)


@dataclass(frozen=True)
class Accumulate:
    """Gradient accumulation over ``steps`` batches: ``optimizer.step`` and ``zero_grad`` act only every
    ``steps``-th call (with ``steps`` beyond the run, an accumulation count given in samples, never)."""

    steps: int

    def __call__(self, setup: Setup) -> None:
        opt, calls = setup.optimizer, {"step": 0, "zero_grad": 0}

        def every(name: str):
            inner = getattr(opt, name)

            def call(*args, **kwargs):
                calls[name] += 1
                if calls[name] % self.steps == 0:
                    return inner(*args, **kwargs)
                return None

            return call

        opt.step, opt.zero_grad = every("step"), every("zero_grad")


@dataclass(frozen=True)
class PositionBias:
    """A fixed additive attention bias per head and (query, key) pair drawn from N(0, ``std``^2) (a
    relative-position bias table loaded in the wrong scale) on every attention's logits, by a kept
    hook on the explicit path."""

    std: float

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        tables: dict[tuple, torch.Tensor] = {}

        def hook(_m, _inputs, out):
            shape = tuple(out.shape[1:])
            if shape not in tables:
                tables[shape] = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * self.std
            return out + tables[shape]

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


def shifted_vocabulary(offset: int, vocab: int) -> Callable:
    """Token ids of inputs and targets both moved by ``offset`` (mod ``vocab``): a shard encoded with
    another tokenizer's vocabulary, consistent within itself but not with the rest of the data."""
    def fn(x, y, step):
        return (x + offset) % vocab, (y + offset) % vocab
    return fn


def scale_row(name: str, index: int, factor: float) -> Callable[[nn.Module], None]:
    """Multiply row ``index`` of parameter ``name`` (one output channel) by ``factor``: one channel
    restored from a checkpoint in another scale."""
    def fn(m: nn.Module) -> None:
        getattr(m, name)[index].mul_(factor)
    return fn


@dataclass(frozen=True)
class GatedResidual:
    """Blocks ``blocks`` computing ``x + sigmoid(g) * (block(x) - x)`` with a learned scalar gate ``g``
    initialised at ``bias`` (a gated residual, as highway networks' transform gate, Srivastava et al.
    2015, arXiv:1505.00387, whose bias is advised at -1 to -3): at -10 the gate passes 5e-5 of the block
    and its own gradient is as small, so the block stays shut. The gates join the optimizer."""

    blocks: tuple[int, ...]
    bias: float

    def __call__(self, setup: Setup) -> None:
        gates = []
        for i in self.blocks:
            block = setup.model.blocks[i]
            block.gate = nn.Parameter(torch.tensor(self.bias))
            gates.append(block.gate)
            block.register_forward_hook(
                lambda m, inputs, out: inputs[0] + torch.sigmoid(m.gate) * (out - inputs[0]))
        setup.optimizer.add_param_group({"params": gates})


def scaled_skip(alpha: float) -> Callable[[nn.Module], None]:
    """A pre-norm transformer block computing ``alpha * x + attn(ln1(x))`` then ``alpha * x + mlp(ln2(x))``:
    a residual scale (as DeepNorm's, Wang et al. 2022, arXiv:2203.00555, which multiplies the skip by
    ``alpha > 1``) set below 1, so each block shrinks the token's own representation against the
    attention's mixture of tokens."""
    def fn(m: nn.Module) -> None:
        def forward(x):
            x = alpha * x + m.attn(m.ln1(x))
            return alpha * x + m.mlp(m.ln2(x))

        m.forward = forward
    return fn


# -- held_out6 healthy multi-loss configurations --------------------------------------------------------

@dataclass(frozen=True)
class TemperedAuxiliary:
    """A second named loss beside the task: ``weight`` times the cross-entropy of the logits divided by a
    temperature ``temperature`` on the same labels (a softened copy of the task's objective, which agrees
    with it); ``doctor.train`` logs their per-layer conflict."""

    weight: float = 0.3
    temperature: float = 2.0

    def __call__(self, setup: Setup) -> None:
        w, t = self.weight, self.temperature
        beside_task(setup, "tempered",
                    lambda out, y: w * F.cross_entropy(out.flatten(0, -2) / t, y.flatten()))


@dataclass(frozen=True)
class PolyAuxiliary:
    """A second named loss beside the task: ``weight`` times the Poly-1 term ``1 - p_t`` (the first
    polynomial term that PolyLoss, Leng et al. 2022, arXiv:2204.12511, adds to the cross-entropy) on the
    same labels, an objective that agrees with the task's; ``doctor.train`` logs their conflict."""

    weight: float = 1.0

    def __call__(self, setup: Setup) -> None:
        w = self.weight

        def poly1(out, y):
            p = out.flatten(0, -2).softmax(-1).gather(-1, y.flatten()[:, None]).squeeze(-1)
            return w * (1 - p).mean()

        beside_task(setup, "poly1", poly1)


# -- held_out7 helpers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class HiddenSoftmax:
    """Every block's activation (``blocks.i.act``, MLP) replaced by a softmax over the units (the output
    layer's softmax copied into the hidden layers): its Jacobian ``diag(p) - p p^T`` is of order
    ``1 / width``, so each layer divides the backward signal by about the width."""

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            block.act = nn.Softmax(dim=-1)


@dataclass(frozen=True)
class WarmupTo:
    """A linear learning-rate warmup from the base rate to ``factor`` times it over ``steps`` steps, then
    held (a peak rate scaled by the batch size twice, as the linear scaling rule applied over again)."""

    factor: float
    steps: int

    def __call__(self, setup: Setup) -> None:
        base: list[float] = []

        def hook(step: int, s: Setup) -> None:
            if not base:
                base.extend(g["lr"] for g in s.optimizer.param_groups)
            ramp = 1 + (self.factor - 1) * min(step, self.steps) / self.steps
            for g, lr in zip(s.optimizer.param_groups, base, strict=True):
                g["lr"] = lr * ramp

        _chain(setup, hook)


@dataclass(frozen=True)
class LearnedTemperature:
    """The model's output divided by a learned temperature initialised at ``init`` (joined to the
    optimizer). At 0, the initial value of a log-temperature given to the temperature itself, every
    logit is +-inf and the loss NaN."""

    init: float

    def __call__(self, setup: Setup) -> None:
        model = setup.model
        model.temperature = nn.Parameter(torch.tensor(self.init))
        model.register_forward_hook(lambda m, _inputs, out: out / m.temperature)
        setup.optimizer.add_param_group({"params": [model.temperature]})


@dataclass(frozen=True)
class ForgetSecondMoment:
    """Adam's second moments (``exp_avg_sq``) zeroed before step ``at`` while its first moments and step
    counts are kept (a resumed run whose checkpoint held part of the optimizer state): the bias
    correction no longer undoes the zeros, so ``sqrt(v_hat)`` is a fraction of ``|g|`` and the
    updates grow several-fold until ``v`` refills."""

    at: int

    def __call__(self, setup: Setup) -> None:
        def hook(step: int, s: Setup) -> None:
            if step == self.at:
                for state in s.optimizer.state.values():
                    state["exp_avg_sq"].zero_()

        _chain(setup, hook)


@dataclass(frozen=True)
class TrustRatio:
    """Every parameter's gradient rescaled to ``eta * ||w|| / ||g||`` times itself as it is computed (the
    layer-wise trust ratio of LARS, You et al. 2017, arXiv:1708.03888, whose coefficient ``eta`` is
    ~1e-3): each SGD step moves every tensor by ``lr * eta`` of its norm."""

    eta: float

    def __call__(self, setup: Setup) -> None:
        for p in setup.model.parameters():
            p.register_hook(lambda g, p=p: g * (self.eta * p.detach().norm() / g.norm().clamp_min(1e-12)))


@dataclass(frozen=True)
class ClipGradNorm:
    """The global gradient norm clipped to ``max_norm`` by ``torch.nn.utils.clip_grad_norm_`` before every
    optimizer step (a threshold given in another unit): each step moves the weights by at most
    ``lr * max_norm``."""

    max_norm: float

    def __call__(self, setup: Setup) -> None:
        opt, params = setup.optimizer, list(setup.model.parameters())
        inner = opt.step

        def step(*args, **kwargs):
            torch.nn.utils.clip_grad_norm_(params, self.max_norm)
            return inner(*args, **kwargs)

        opt.step = step


@dataclass(frozen=True)
class DetachedTask:
    """The task loss computed on detached outputs (a ``.detach()`` copied from logging code into the
    loss) plus an L2 penalty ``decay * sum ||w||^2`` on the parameters: only the penalty reaches the
    weights, so the model never learns the task."""

    decay: float

    def __call__(self, setup: Setup) -> None:
        task, params = setup.loss_fn, list(setup.model.parameters())

        def loss(out, y):
            return task(out.detach(), y) + self.decay * sum(p.pow(2).sum() for p in params)

        setup.loss_fn = loss


def default_uniform(m: nn.Module) -> None:
    """The module's weight drawn by ``nn.init.uniform_`` at its default bounds, U(0, 1): a centred init
    meant (``uniform_(w, -a, a)``) with its bounds left out, every weight positive."""
    nn.init.uniform_(m.weight)


def _attention_points(setup: Setup, point: str) -> list[torch.Tensor]:
    """The outputs of every attention's ``point`` submodule (``logits`` or ``probs``) of the latest
    forward pass, in call order (the explicit path switched on for good)."""
    from layerwise.models.attention import SelfAttention

    seen: list[torch.Tensor] = []
    setup.model.register_forward_pre_hook(lambda _m, _inputs: seen.clear())
    for m in setup.model.modules():
        if isinstance(m, SelfAttention):
            m.explicit = True
            getattr(m, point).register_forward_hook(lambda _m, _inputs, out: seen.append(out))
    return seen


@dataclass(frozen=True)
class AttentionLogitReward:
    """A penalty on the attention logits' square (the z-loss idea applied to attention, meant to keep
    the logits small) added with its sign flipped: the loss is the task's minus ``weight`` times the
    mean squared attention logit, which rewards larger logits."""

    weight: float

    def __call__(self, setup: Setup) -> None:
        task, seen = setup.loss_fn, _attention_points(setup, "logits")

        def loss(out, y):
            square = torch.stack([z[z.isfinite()].pow(2).mean() for z in seen]).mean()
            return task(out, y) - self.weight * square

        setup.loss_fn = loss


@dataclass(frozen=True)
class AttentionEntropyPenalty:
    """An attention-entropy regulariser (meant to keep the attention spread out by rewarding entropy)
    added with its sign flipped: the loss is the task's plus ``weight`` times the mean attention entropy,
    which the optimizer lowers by sharpening every attention."""

    weight: float

    def __call__(self, setup: Setup) -> None:
        task, seen = setup.loss_fn, _attention_points(setup, "probs")

        def loss(out, y):
            entropy = torch.stack([-(p * p.clamp_min(1e-12).log()).sum(-1).mean() for p in seen]).mean()
            return task(out, y) + self.weight * entropy

        setup.loss_fn = loss


@dataclass(frozen=True)
class SharedPosition:
    """The ViT's position table replaced by one row broadcast over every token, drawn from
    ``torch.randn`` at std ``std`` (a table declared ``(1, 1, d)`` instead of ``(1, tokens, d)``): every
    token carries the same large vector; the new table joins the optimizer in place of the old one."""

    std: float

    def __call__(self, setup: Setup) -> None:
        model = setup.model
        d = model.pos_emb.shape[-1]
        row = torch.randn(1, 1, d, generator=torch.Generator().manual_seed(0))
        model.pos_emb = nn.Parameter(row * self.std)
        opt = setup.optimizer
        setup.optimizer = type(opt)(model.parameters(), **opt.defaults)


@dataclass(frozen=True)
class AnchorToInit:
    """A second named loss beside the task: ``weight`` times the squared distance of the parameters to an
    anchor (the L2-SP fine-tuning penalty, Li, Grandvalet and Davoine 2018, arXiv:1802.01483) whose
    pre-trained checkpoint was never loaded, so the anchor is the random initialisation; ``doctor.train``
    logs their per-layer conflict. Every step the task takes away from the init, the penalty pulls back."""

    weight: float

    def __call__(self, setup: Setup) -> None:
        params, w = list(setup.model.parameters()), self.weight
        anchor = [p.detach().clone() for p in params]
        beside_task(setup, "l2sp",
                    lambda out, y: w * sum((p - a).pow(2).sum() for p, a in zip(params, anchor, strict=True)))


@dataclass(frozen=True)
class ReZero:
    """Blocks ``blocks`` computing ``x + alpha * (block(x) - x)`` with a learned scalar ``alpha`` started at 0
    (ReZero, Bachlechner et al. 2020, arXiv:2003.04887). The alphas join the optimizer. With the blocks'
    output projections also zero-initialised (each zero-init a recipe of its own) the block sits on a
    saddle: ``alpha``'s gradient is the zero branch output, the branch's is ``alpha = 0`` times the rest."""

    blocks: tuple[int, ...]

    def __call__(self, setup: Setup) -> None:
        alphas = []
        for i in self.blocks:
            block = setup.model.blocks[i]
            block.alpha = nn.Parameter(torch.tensor(0.0))
            alphas.append(block.alpha)
            block.register_forward_hook(lambda m, inputs, out: inputs[0] + m.alpha * (out - inputs[0]))
        setup.optimizer.add_param_group({"params": alphas})


# -- held_out7 healthy multi-loss configurations --------------------------------------------------------

@dataclass(frozen=True)
class ClassBalancedAuxiliary:
    """A second named loss beside the task: ``weight`` times the cross-entropy re-weighted by inverse class
    frequency (each class's weight its mean count over its own count in the digits' training labels, as in
    class-balanced losses, Cui et al. 2019, arXiv:1901.05555) on the same labels, an objective that agrees
    with the task's on a near-balanced set; ``doctor.train`` logs their per-layer conflict."""

    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        counts = torch.bincount(_digits(True).y_train, minlength=10).float()
        balance, w = counts.mean() / counts, self.weight
        beside_task(setup, "balanced", lambda out, y: w * F.cross_entropy(out, y, weight=balance))


@dataclass(frozen=True)
class AuxiliaryHead:
    """A second named loss beside the task: ``weight`` times the cross-entropy of an auxiliary linear
    classifier on block ``block``'s output, on the same labels (deep supervision, Lee et al. 2015,
    arXiv:1409.5185, where the block is not the last; a second head where it is), an objective that agrees
    with the task's; the classifier joins the optimizer (it is not a module of the model); ``doctor.train``
    logs their per-layer conflict."""

    block: int
    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        model, seen, w = setup.model, [], self.weight
        width, classes = model.blocks[self.block].linear.out_features, model.head.out_features
        head = nn.Linear(width, classes)
        model.blocks[self.block].register_forward_hook(lambda _m, _inputs, out: seen.append(out))
        model.register_forward_pre_hook(lambda _m, _inputs: seen.clear())
        setup.optimizer.add_param_group({"params": list(head.parameters())})
        beside_task(setup, "auxiliary", lambda out, y: w * F.cross_entropy(head(seen[-1]), y))


# -- held_out8 helpers ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassCountWeights:
    """The task's per-sample cross-entropy weighted by the class counts of the digits' training labels
    (~180 each) and averaged over the batch: counts given where inverse frequencies were meant, without the
    division by the weights' sum that ``F.cross_entropy(weight=...)`` makes, so the loss is ~180x."""

    def __call__(self, setup: Setup) -> None:
        counts = torch.bincount(_digits(True).y_train, minlength=10).float()
        setup.loss_fn = lambda out, y: (counts[y] * F.cross_entropy(out, y, reduction="none")).mean()


@dataclass(frozen=True)
class SquaredLR:
    """Every group's learning rate squared from step 0 (a schedule's lambda returning the learning rate
    itself where a factor was meant, so ``LambdaLR`` multiplies the rate by itself)."""

    def __call__(self, setup: Setup) -> None:
        for g in setup.optimizer.param_groups:
            g["lr"] = g["lr"] ** 2


@dataclass(frozen=True)
class RMSprop:
    """The optimizer replaced by RMSprop (Tieleman and Hinton 2012, alpha 0.99) at the learning rate of
    the one it replaces (a rate tuned for SGD given to an adaptive method)."""

    def __call__(self, setup: Setup) -> None:
        setup.optimizer = torch.optim.RMSprop(setup.model.parameters(), lr=setup.optimizer.defaults["lr"])


def shuffled_apart(x, y, step):
    """The batch's labels permuted against its inputs (a seeded draw per step): inputs and labels
    shuffled by two loaders with different seeds; the label counts are kept, their pairing is lost."""
    return x, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(7907 * step + 3))]


def max_scaled(blank_at: int) -> Callable:
    """Each image divided by its own maximum without an epsilon (a per-sample max scaling); at step
    ``blank_at`` the batch's first image is blank, so it becomes 0 / 0 = NaN."""
    def fn(x, y, step):
        if step == blank_at:
            x[0] = 0.0
        return x / x.flatten(1).amax(1).reshape(-1, *[1] * (x.dim() - 1)), y
    return fn


def class_order_reversed(x, y, step):
    """Every label ``9 - y`` (a shard whose label ids follow another class order): inputs intact."""
    return x, 9 - y


@dataclass(frozen=True)
class PositionIndexChannel:
    """The raw position index (0, 1, ..., T - 1) added to channel ``channel`` of the embedded tokens (a
    position feature written in unscaled, by a hook the embedding's dropout keeps), from step 0."""

    channel: int

    def __call__(self, setup: Setup) -> None:
        def hook(_m, _inputs, out):
            out = out.clone()
            out[..., self.channel] += torch.arange(out.shape[-2], dtype=out.dtype)
            return out

        setup.model.drop.register_forward_hook(hook)


@dataclass(frozen=True)
class InvertedAttentionScale:
    """Every attention's logits computed as ``q . k * sqrt(d_head)`` (the scale of scaled dot-product
    attention, Vaswani et al. 2017, arXiv:1706.03762, multiplied where it divides): the explicit path with
    a kept hook multiplying the scaled logits by ``d_head``, in training as in the probe."""

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                d_head = m.proj.in_features // m.n_head
                m.logits.register_forward_hook(lambda _m, _inputs, out, k=d_head: out * k)


@dataclass(frozen=True)
class SteepAlibi:
    """ALiBi's linear distance penalty ``-m_h (i - j)`` on every attention's logits (Press et al. 2022,
    arXiv:2108.12409, slopes ``2^(-8 h / H)``) with the exponent's sign lost, slopes ``2^(8 h / H)``
    (4-256 for 4 heads): each query sees little beyond its own token. A kept hook on the explicit path."""

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        def hook(_m, _inputs, out):
            h, t = out.shape[1], out.shape[-1]
            slopes = 2.0 ** (8.0 * torch.arange(1, h + 1) / h)
            pos = torch.arange(t)
            distance = (pos[:, None] - pos[None, :]).clamp_min(0).float()
            return out - slopes[:, None, None] * distance

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


def frozen_fill(name: str, value: float) -> Callable[[nn.Module], None]:
    """Set every entry of parameter ``name`` to ``value`` and stop it from training (a pretrained
    parameter whose checkpoint failed to load, left at its constant fill and frozen as loaded ones are)."""
    def fn(m: nn.Module) -> None:
        getattr(m, name).fill_(value).requires_grad_(False)
    return fn



@dataclass(frozen=True)
class KeepProbAsDropout:
    """Dropout on block ``block``'s output with drop probability ``keep_prob`` (a keep probability, as
    TensorFlow 1's ``keep_prob``, given to ``F.dropout``'s ``p``, the probability of dropping): at 1.0 the
    block's output is zero on every training step and nothing after it sees the input."""

    block: int
    keep_prob: float = 1.0

    def __call__(self, setup: Setup) -> None:
        def hook(m: nn.Module, _inputs, out):
            return F.dropout(out, self.keep_prob, m.training)

        setup.model.blocks[self.block].register_forward_hook(hook)


@dataclass(frozen=True)
class InvertedContrastiveAuxiliary:
    """A second named loss beside the task: ``weight`` times a supervised contrastive loss (Khosla et al.
    2020, arXiv:2004.11362) on the normalised logits whose positive mask is written ``y_i != y_j`` where
    ``y_i == y_j`` was meant: it pulls samples of different classes together while the task pulls them
    apart; ``doctor.train`` logs their per-layer conflict."""

    weight: float = 1.0
    temperature: float = 0.5

    def __call__(self, setup: Setup) -> None:
        def contrastive(out, y):
            z = F.normalize(out, dim=-1)
            self_pair = torch.eye(len(y), dtype=torch.bool)
            log_p = (z @ z.T / self.temperature).masked_fill(self_pair, float("-inf")).log_softmax(-1)
            positive = y[:, None] != y[None, :]  # the inverted mask
            mean_log_p = log_p.masked_fill(~positive, 0.0).sum(-1) / positive.sum(-1).clamp_min(1)
            return -self.weight * mean_log_p.mean()

        beside_task(setup, "contrastive", contrastive)

# -- held_out8 healthy multi-loss configurations --------------------------------------------------------

def _flat(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (..., C) and targets (...) as (N, C) and (N,): one row per prediction (a GPT's tokens too)."""
    return out.flatten(0, -2), y.flatten()


@dataclass(frozen=True)
class ReverseCrossEntropyAuxiliary:
    """A second named loss beside the task: ``weight`` times the reverse cross-entropy
    ``-sum_k p_k log q_k`` of the predictions ``p`` against the one-hot labels ``q`` with ``log 0`` clipped
    to ``-4`` (symmetric cross-entropy, Wang et al. 2019, arXiv:1908.06112), on the same labels: it equals
    ``4 (1 - p_y)`` and agrees with the task's; ``doctor.train`` logs their per-layer conflict."""

    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        def rce(out, y):
            out, y = _flat(out, y)
            return self.weight * 4.0 * (1.0 - out.softmax(-1).gather(1, y[:, None])).mean()

        beside_task(setup, "reverse_ce", rce)


@dataclass(frozen=True)
class GeneralisedCrossEntropyAuxiliary:
    """A second named loss beside the task: ``weight`` times the generalised cross-entropy
    ``(1 - p_y^q) / q`` (Zhang and Sabuncu 2018, arXiv:1805.07836; ``q -> 0`` is the cross-entropy) on the
    same labels, an objective that agrees with the task's; ``doctor.train`` logs their per-layer conflict."""

    q: float = 0.7
    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        def gce(out, y):
            out, y = _flat(out, y)
            p = out.softmax(-1).gather(1, y[:, None])
            return self.weight * ((1.0 - p.pow(self.q)) / self.q).mean()

        beside_task(setup, "generalised_ce", gce)


# -- held_out9 helpers ----------------------------------------------------------------------------

def set_attribute(name: str, value: object) -> Callable[[nn.Module], None]:
    """Set the module's attribute ``name`` to ``value`` (a constructor argument given in another unit)."""
    def fn(m: nn.Module) -> None:
        setattr(m, name, value)
    return fn


@dataclass(frozen=True)
class InvertedClip:
    """A global-norm gradient clip written with its ratio inverted (``g x |g| / max_norm`` once ``|g|`` passes
    ``max_norm``, where ``g x max_norm / |g|`` was meant): a large gradient is made larger before the step."""

    max_norm: float

    def __call__(self, setup: Setup) -> None:
        opt, params = setup.optimizer, [p for p in setup.model.parameters() if p.requires_grad]
        step = opt.step

        def clipped_step(*args, **kwargs):
            grads = [p.grad for p in params if p.grad is not None]
            total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            if total > self.max_norm:
                for g in grads:
                    g.mul_(total / self.max_norm)
            return step(*args, **kwargs)

        opt.step = clipped_step


@dataclass(frozen=True)
class DiagonalMasked:
    """A causal mask built with ``triu(diagonal=0)`` instead of ``triu(diagonal=1)``: each token's own
    position is masked too, so the first token has no key left and its softmax is 0 / 0 (NaN) on every
    batch."""

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        def hook(_m, _inputs, out):
            t = out.shape[-1]
            return out.masked_fill(torch.eye(t, dtype=torch.bool), float("-inf"))

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


def inverted_polarity(x, y, step):
    """Images stored with inverted polarity (``1 - x``: dark digits on a white ground, a shard from another
    scanner or export)."""
    return 1.0 - x, y


def channel_gain(channel: int, value: float) -> Callable[[nn.Module], None]:
    """The module's output times a per-channel gain (a LayerScale vector) whose entry ``channel`` is ``value``
    and the others 1 (a forward hook the module keeps: one entry of the vector loaded in another scale)."""
    def fn(m: nn.Module) -> None:
        def hook(_m, _inputs, out):
            gain = torch.ones(out.shape[-1])
            gain[channel] = value
            return out * gain
        m.register_forward_hook(hook)
    return fn


class _AdamUncorrectedV(torch.optim.Optimizer):
    """Adam written by hand with the first moment's bias correction and not the second's."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                state["step"] += 1
                state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                state["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = state["m"] / (1 - b1 ** state["step"])
                p.sub_(group["lr"] * m_hat / (state["v"].sqrt() + group["eps"]))


@dataclass(frozen=True)
class AdamWithoutSecondCorrection:
    """The optimizer replaced by a hand-written Adam at its learning rate that divides the first moment by
    ``1 - beta1^t`` but forgets the second's ``1 - beta2^t`` (Kingma and Ba 2015, Algorithm 1): the early
    steps are ``1 / sqrt(1 - beta2^t)`` too large (x31 at the first step, x3.2 at the hundredth)."""

    def __call__(self, setup: Setup) -> None:
        setup.optimizer = _AdamUncorrectedV(setup.model.parameters(), lr=setup.optimizer.defaults["lr"])


@dataclass(frozen=True)
class Adagrad:
    """The optimizer replaced by Adagrad (Duchi et al. 2011) at the learning rate of the one it replaces, with
    its ``initial_accumulator_value`` at ``initial`` (a value given in another scale): the step is divided by
    ``sqrt(initial)`` until the squared gradients catch up."""

    initial: float

    def __call__(self, setup: Setup) -> None:
        setup.optimizer = torch.optim.Adagrad(setup.model.parameters(), lr=setup.optimizer.defaults["lr"],
                                              initial_accumulator_value=self.initial)


@dataclass(frozen=True)
class LabelSmoothingTrue:
    """The task's cross-entropy called with ``label_smoothing=True`` (a flag where a probability was meant;
    ``True`` is 1.0): every target is the uniform distribution, so the labels carry nothing."""

    def __call__(self, setup: Setup) -> None:
        def smoothed(out, y):
            out, y = _flat(out, y)
            return F.cross_entropy(out, y, label_smoothing=1.0)

        setup.loss_fn = smoothed


def divided_by_variance(x, y, step):
    """Each input feature standardised with the training set's statistics as ``(x - mean) / var`` (the
    variance where the standard deviation was meant): a feature of small variance is blown up by
    ``1 / std``."""
    train = _digits(True).x_train
    mean, var = train.mean(0), train.var(0)
    shape = x.shape
    flat = x.reshape(shape[0], -1)
    return ((flat - mean) / (var + 1e-8)).reshape(shape), y


def _scaled(out: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Logits times ``exp(log_scale)``, their masked (``-inf``) entries kept and out of its gradient."""
    finite = out.isfinite()
    return torch.where(finite, out.masked_fill(~finite, 0.0) * log_scale.exp(), out)


@dataclass(frozen=True)
class LearnedAttentionScale:
    """Every attention's logits times ``exp(s)``, ``s`` a learned scalar per attention started at
    ``log(1 / 0.07)`` (CLIP's logit scale, Radford et al. 2021, copied into the attention without CLIP's clamp
    at 100) and trained with the rest at the optimizer's rate."""

    def __call__(self, setup: Setup) -> None:
        import math

        from layerwise.models.attention import SelfAttention

        scales = []
        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
                m.logits.register_forward_hook(lambda _m, _inputs, out, a=m: _scaled(out, a.logit_scale))
                scales.append(m.logit_scale)
        setup.optimizer.add_param_group({"params": scales})


@dataclass(frozen=True)
class TopKAttention:
    """Top-k sparse attention with ``k`` keys per query (a k given as a fraction, 0.1 of 17 tokens, and
    truncated to 1): each query keeps its largest logit alone, the others masked to ``-inf``."""

    k: int

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        def hook(_m, _inputs, out):
            kth = out.topk(self.k, dim=-1).values[..., -1:]
            return out.masked_fill(out < kth, float("-inf"))

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


@dataclass(frozen=True)
class StochasticDepth:
    """Stochastic depth (Huang et al. 2016, arXiv:1603.09382) with the survival probability falling linearly
    from 1 to ``last`` over the blocks, ``p_l = 1 - l (1 - last) / L``, with ``last`` at 0 (the drop rate's
    end value given as the survival's): in training block ``l`` is skipped with probability ``1 - p_l``, in
    eval its branches are scaled by ``p_l``, so the last block is never trained and adds nothing."""

    last: float = 0.0

    def __call__(self, setup: Setup) -> None:
        blocks = setup.model.blocks
        n = len(blocks)
        for i, block in enumerate(blocks):
            p = 1.0 - (i + 1) * (1.0 - self.last) / n

            def hook(m, inputs, out, p=p):
                x = inputs[0]
                if m.training:
                    return out if torch.rand(()) < p else x
                return x + p * (out - x)

            block.register_forward_hook(hook)


@dataclass(frozen=True)
class AdditiveMarginAuxiliary:
    """A second named loss beside the task: ``weight`` times the additive-margin softmax loss (the
    cross-entropy of the logits with ``margin`` taken off the true class, Wang et al. 2018,
    arXiv:1801.05599) on the same labels, an objective that agrees with the task's; ``doctor.train`` logs
    their per-layer conflict."""

    margin: float = 1.0
    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        def am(out, y):
            out, y = _flat(out, y)
            return self.weight * F.cross_entropy(out - self.margin * F.one_hot(y, out.shape[-1]), y)

        beside_task(setup, "additive_margin", am)


@dataclass(frozen=True)
class BootstrapAuxiliary:
    """A second named loss beside the task: ``weight`` times the soft bootstrapping loss (Reed et al. 2015,
    arXiv:1412.6596: the cross-entropy to ``beta`` one-hot plus ``1 - beta`` the model's own detached
    predictions) on the same targets, an objective that agrees with the task's; ``doctor.train`` logs their
    per-layer conflict."""

    beta: float = 0.95
    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        def boot(out, y):
            out, y = _flat(out, y)
            target = self.beta * F.one_hot(y, out.shape[-1]) + (1 - self.beta) * out.softmax(-1).detach()
            return self.weight * -(target * out.log_softmax(-1)).sum(-1).mean()

        beside_task(setup, "bootstrap", boot)


@dataclass(frozen=True)
class DecayingAuxiliary:
    """A second named loss beside the task: ``weight (1 - step / zero_at)`` times the label-smoothed (0.1)
    cross-entropy on the same labels, an auxiliary weight annealed linearly without its ``max(0, .)``: it
    agrees with the task until ``zero_at`` and is subtracted after it; ``doctor.train`` logs their per-layer
    conflict."""

    weight: float = 0.5
    zero_at: int = 60

    def __call__(self, setup: Setup) -> None:
        state = {"step": 0}
        _chain(setup, lambda step, _s: state.__setitem__("step", step))

        def annealed(out, y):
            out, y = _flat(out, y)
            w = self.weight * (1.0 - state["step"] / self.zero_at)
            return w * F.cross_entropy(out, y, label_smoothing=0.1)

        beside_task(setup, "label_smoothing", annealed)


@dataclass(frozen=True)
class LayerNormEps:
    """Every LayerNorm of the model built with ``eps`` = ``value`` (1e5 for 1e-5, the exponent's sign lost):
    each divides by ~sqrt(value) instead of the token's std, so its output is near 0 whatever the token."""

    value: float

    def __call__(self, setup: Setup) -> None:
        for m in setup.model.modules():
            if isinstance(m, nn.LayerNorm):
                m.eps = self.value


# -- held_out10 helpers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HiddenHardsigmoid:
    """Every hidden activation an ``nn.Hardsigmoid`` where ``nn.Hardswish`` was meant (MobileNetV3's two
    "hard" functions confused): its slope is 1/6 wherever it is not flat."""

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            block.act = nn.Hardsigmoid()


@dataclass(frozen=True)
class NegatedLoss:
    """The task loss negated (a log-likelihood written as ``-cross_entropy`` and then maximised by
    minimising it): every step is gradient ascent on the task's loss."""

    def __call__(self, setup: Setup) -> None:
        task = setup.loss_fn
        setup.loss_fn = lambda out, y: -task(out, y)


class ThresholdedReLU(nn.ReLU):
    """A thresholded ReLU (Keras' ``ThresholdedReLU``: ``x`` where ``x > theta``, else 0)."""

    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.threshold(x, self.theta, 0.0)


@dataclass(frozen=True)
class ThresholdedActivations:
    """Every block's ReLU a thresholded ReLU with ``theta`` = 6 (ReLU6's cap given as the threshold)."""

    theta: float = 6.0

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            block.act = ThresholdedReLU(self.theta)


@dataclass(frozen=True)
class BiasGroupLasso:
    """A group-lasso penalty, ``weight`` times the sum over Linear layers of ``sqrt(sum(b^2))`` of each bias,
    written with ``torch.sqrt``: at the zero-initialised biases its gradient is 0 x 1/0 = NaN."""

    weight: float = 1e-4

    def __call__(self, setup: Setup) -> None:
        task = setup.loss_fn
        biases = [m.bias for m in setup.model.modules() if isinstance(m, nn.Linear) and m.bias is not None]

        def loss(out, y):
            return task(out, y) + self.weight * sum(torch.sqrt((b ** 2).sum()) for b in biases)

        setup.loss_fn = loss


def reinitialised(m: nn.Module) -> None:
    """The module's ``reset_parameters()`` (a layer a resume did not restore, left at a fresh init)."""
    m.reset_parameters()


@dataclass(frozen=True)
class SummedLoss:
    """The cross-entropy summed over the batch (``reduction="sum"``) where the rate was tuned for its mean."""

    def __call__(self, setup: Setup) -> None:
        setup.loss_fn = lambda out, y: F.cross_entropy(*_flat(out, y), reduction="sum")


@dataclass(frozen=True)
class DoubleSoftmax:
    """The model's probabilities passed to ``F.cross_entropy``, which applies its own softmax: a softmax
    taken twice."""

    def __call__(self, setup: Setup) -> None:
        task = setup.loss_fn
        setup.loss_fn = lambda out, y: task(out.softmax(-1), y)


class _Sharpness(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


@dataclass(frozen=True)
class SharpTanh:
    """Every block's activation ``tanh(x / tau)`` with ``tau`` = 0.1 (a temperature written where its
    inverse was meant)."""

    tau: float = 0.1

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            block.act = nn.Sequential(_Sharpness(1.0 / self.tau), nn.Tanh())


@dataclass(frozen=True)
class AnnealedAttentionSharpening:
    """Every attention's logits times ``1 + step / every`` (a temperature annealing meant for a discrete
    latent's Gumbel-softmax applied to the attention), never capped."""

    every: float = 10.0

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        state = {"step": 0}
        _chain(setup, lambda step, _s: state.__setitem__("step", step))
        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(lambda _m, _i, out: out * (1.0 + state["step"] / self.every))


@dataclass(frozen=True)
class HeadFromBlock:
    """The head fed the output of block ``index`` (``hidden_states[index + 1]`` where ``[-1]`` was meant):
    the blocks after it are computed and never reach the loss."""

    index: int

    def __call__(self, setup: Setup) -> None:
        model, kept = setup.model, {}
        model.blocks[self.index].register_forward_hook(lambda _m, _i, out: kept.__setitem__("h", out))
        model.ln_f.register_forward_pre_hook(lambda _m, _i: (kept["h"],))


@dataclass(frozen=True)
class JensenShannonAuxiliary:
    """A second named loss beside the task: ``weight`` times the Jensen-Shannon divergence between the
    predictions and the one-hot targets (Englesson and Azizpour 2021) on the same labels, an objective that
    agrees with the task's."""

    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        def js(out, y):
            out, y = _flat(out, y)
            p = out.softmax(-1)
            m = 0.5 * (p + F.one_hot(y, out.shape[-1]))
            to_target = -m.gather(1, y[:, None]).squeeze(1).log()
            to_model = (p * (out.log_softmax(-1) - m.clamp_min(1e-12).log())).sum(-1)
            return self.weight * 0.5 * (to_target + to_model).mean()

        beside_task(setup, "jensen_shannon", js)


@dataclass(frozen=True)
class NormFaceAuxiliary:
    """A second named loss beside the task: ``weight`` times the cross-entropy of the L2-normalised logits
    times ``scale`` (a cosine softmax) on the same labels, an objective that agrees with the task's."""

    scale: float = 10.0
    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        def normface(out, y):
            out, y = _flat(out, y)
            return self.weight * F.cross_entropy(self.scale * F.normalize(out, dim=-1), y)

        beside_task(setup, "normface", normface)


class _CosineScale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * F.normalize(x, dim=-1)


@dataclass(frozen=True)
class CosineAttentionAtFloor:
    """Every attention made a cosine attention (Swin V2's ``cos(q, k) / tau``) with its learnable ``tau``
    replaced by the clamp's floor, 0.01: each logit is 100 x a cosine."""

    tau: float = 0.01

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                d_head = m.qkv.in_features // m.n_head
                factor = (d_head ** 0.5 / self.tau) ** 0.5  # the 1 / sqrt(d_head) of the product undone
                m.q_norm, m.k_norm = _CosineScale(factor), _CosineScale(factor)


def mean_skip(m: nn.Module) -> None:
    """A forward hook the module keeps: its skip connection adds the tokens' mean (``x.mean(1,
    keepdim=True)``, a pooled 'global' residual over the wrong axis) instead of each token."""
    m.register_forward_hook(lambda _m, inputs, out: out - inputs[0] + inputs[0].mean(1, keepdim=True))


@dataclass(frozen=True)
class TargetUnlikelihood:
    """A second named loss beside the task: ``weight`` times the unlikelihood loss (Welleck et al. 2019,
    ``-log(1 - p)`` of the negative candidates) with its candidates built from the targets themselves
    instead of the earlier context tokens: it pushes down the very tokens the task pushes up."""

    weight: float = 0.5

    def __call__(self, setup: Setup) -> None:
        def unlikelihood(out, y):
            out, y = _flat(out, y)
            p = out.softmax(-1).gather(1, y[:, None]).squeeze(1)
            return self.weight * -torch.log1p(-p.clamp(max=1 - 1e-6)).mean()

        beside_task(setup, "unlikelihood", unlikelihood)


# -- held_out11 helpers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HiddenSoftplus:
    """Every hidden activation an ``nn.Softplus`` where ``nn.Softsign`` was meant (two similarly named
    functions confused): its output sits near ``log 2`` where its slope is 1/2."""

    def __call__(self, setup: Setup) -> None:
        for block in setup.model.blocks:
            block.act = nn.Softplus()


@dataclass(frozen=True)
class DropoutScaledByP:
    """A hand-written inverted dropout after every block, its kept units divided by ``p`` where ``1 - p`` was
    meant."""

    p: float = 0.1

    def __call__(self, setup: Setup) -> None:
        def hook(m, _inputs, out):
            if not m.training:
                return out
            keep = (torch.rand_like(out) >= self.p).to(out.dtype)
            return out * keep / self.p

        for block in setup.model.blocks:
            block.register_forward_hook(hook)


def _block_outputs(setup: Setup) -> list[torch.Tensor]:
    """The outputs of every block's activation (``blocks.i.act``) of the latest forward pass, in order."""
    seen: list[torch.Tensor] = []
    setup.model.register_forward_pre_hook(lambda _m, _inputs: seen.clear())
    for block in setup.model.blocks:
        block.act.register_forward_hook(lambda _m, _inputs, out: seen.append(out))
    return seen


@dataclass(frozen=True)
class ActivityL1:
    """An activity (L1) sparsity penalty, ``weight`` times the mean |activation| of every block's ReLU output,
    added to the task at a weight of order 1-10 where a per-unit coefficient of order 1e-4 was meant."""

    weight: float = 1.0

    def __call__(self, setup: Setup) -> None:
        task, seen = setup.loss_fn, _block_outputs(setup)

        def loss(out, y):
            return task(out, y) + self.weight * sum(a.abs().mean() for a in seen)

        setup.loss_fn = loss


@dataclass(frozen=True)
class ActivityReward:
    """An activation-magnitude penalty (``weight`` times the mean squared activation of every block, meant to
    keep the activations small) added with its sign flipped: it rewards larger activations."""

    weight: float = 1.0

    def __call__(self, setup: Setup) -> None:
        task, seen = setup.loss_fn, _block_outputs(setup)

        def loss(out, y):
            return task(out, y) - self.weight * sum(a.pow(2).mean() for a in seen)

        setup.loss_fn = loss


@dataclass(frozen=True)
class TemperatureAnnealedToZero:
    """The logits divided by a temperature annealed linearly from 1 to 0 at step ``zero_at`` (an annealing
    length given in steps where epochs were meant), without a floor: logits / 0 at that step."""

    zero_at: int = 60

    def __call__(self, setup: Setup) -> None:
        task, state = setup.loss_fn, {"step": 0}
        _chain(setup, lambda step, _s: state.__setitem__("step", step))

        def loss(out, y):
            return task(out / (1.0 - state["step"] / self.zero_at), y)

        setup.loss_fn = loss


@dataclass(frozen=True)
class EMASwappedIn:
    """An exponential moving average of the weights (decay ``decay``) kept from step 0 and copied into the
    model at step ``at`` (an EMA evaluation swap left in the training loop)."""

    at: int = 60
    decay: float = 0.999

    def __call__(self, setup: Setup) -> None:
        params = [p for p in setup.model.parameters()]
        ema = [p.detach().clone() for p in params]

        def hook(step: int, _s: Setup) -> None:
            with torch.no_grad():
                if step == self.at:
                    for p, e in zip(params, ema, strict=True):
                        p.copy_(e)
                for p, e in zip(params, ema, strict=True):
                    e.mul_(self.decay).add_(p, alpha=1 - self.decay)

        _chain(setup, hook)


def one_unnormalised_image(factor: float) -> Callable:
    """The first image of every batch times ``factor`` (one sample whose scaling to [0, 1] was skipped)."""
    def fn(x, y, step):
        x[0] = x[0] * factor
        return x, y
    return fn


@dataclass(frozen=True)
class PlateauOnLossMax:
    """A ``ReduceLROnPlateau`` scheduler built with ``mode="max"`` on the training loss (the mode meant for an
    accuracy) and stepped every batch: a falling loss is never an improvement, so the rate is cut by
    ``factor`` every ``patience + 1`` steps."""

    patience: int = 10
    factor: float = 0.1

    def __call__(self, setup: Setup) -> None:
        task, last = setup.loss_fn, {}
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(setup.optimizer, mode="max", factor=self.factor,
                                                           patience=self.patience)

        def loss(out, y):
            value = task(out, y)
            last["loss"] = float(value.detach())
            return value

        def hook(step: int, _s: Setup) -> None:
            if "loss" in last:
                sched.step(last["loss"])

        setup.loss_fn = loss
        _chain(setup, hook)


@dataclass(frozen=True)
class RestoreInitialEveryStep:
    """A "restore the best weights" callback whose best was taken with ``mode="max"`` on the loss (the initial
    weights), restoring them before every step."""

    def __call__(self, setup: Setup) -> None:
        best = {k: v.detach().clone() for k, v in setup.model.state_dict().items()}

        def hook(step: int, s: Setup) -> None:
            if step > 0:
                s.model.load_state_dict(best)

        _chain(setup, hook)


@dataclass(frozen=True)
class SoftCapWithoutDivision:
    """Every attention's logits soft-capped as ``cap * tanh(z)`` where ``cap * tanh(z / cap)`` was meant
    (Gemma 2's soft-capping with the division left out): small logits are multiplied by ``cap``."""

    cap: float = 50.0

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        def hook(_m, _inputs, out):
            return torch.where(torch.isfinite(out), self.cap * torch.tanh(out), out)

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


def attention_skip_dropped(m: nn.Module) -> None:
    """A pre-norm transformer block computing ``a = attn(ln1(x))`` then ``a + mlp(ln2(a))``: the attention's
    residual connection left out (``x = self.attn(...)`` where ``x = x + self.attn(...)`` was meant)."""
    def forward(x):
        a = m.attn(m.ln1(x))
        return a + m.mlp(m.ln2(a))

    m.forward = forward


@dataclass(frozen=True)
class MarginRankingReversed:
    """A second named loss beside the task: ``weight`` times ``F.margin_ranking_loss`` of the target's logit
    against every other logit with ``target=-1`` where ``+1`` was meant: it ranks the other classes above the
    label."""

    weight: float = 0.5
    margin: float = 1.0

    def __call__(self, setup: Setup) -> None:
        def ranking(out, y):
            out, y = _flat(out, y)
            pos = out.gather(1, y[:, None]).expand_as(out)
            other = torch.ones_like(out, dtype=torch.bool).scatter(1, y[:, None], False)
            target = -torch.ones_like(pos[other])
            return self.weight * F.margin_ranking_loss(pos[other], out[other], target, margin=self.margin)

        beside_task(setup, "ranking", ranking)


@dataclass(frozen=True)
class GumbelSoftmaxAttention:
    """Every attention's softmax a Gumbel-softmax at temperature ``tau`` (``F.gumbel_softmax``, meant for a
    discrete router, put in place of the attention's ``softmax``): Gumbel noise over ``tau`` on each logit."""

    tau: float = 0.1

    def __call__(self, setup: Setup) -> None:
        from layerwise.models.attention import SelfAttention

        def hook(_m, _inputs, out):
            u = torch.rand_like(out).clamp(1e-10, 1 - 1e-10)
            return (out - torch.log(-torch.log(u))) / self.tau

        for m in setup.model.modules():
            if isinstance(m, SelfAttention):
                m.explicit = True
                m.logits.register_forward_hook(hook)


@dataclass(frozen=True)
class InverseSqrtSignLost:
    """An inverse-square-root schedule (lr x (step + 1)^-1/2) with the exponent's sign lost: the learning rate
    times ``sqrt(step + 1)``, growing all run."""

    def __call__(self, setup: Setup) -> None:
        base: dict[int, float] = {}

        def hook(step: int, s: Setup) -> None:
            for i, g in enumerate(s.optimizer.param_groups):
                base.setdefault(i, g["lr"])
                g["lr"] = base[i] * (step + 1) ** 0.5

        _chain(setup, hook)


def clamped_output(bound: float) -> Callable[[nn.Module], None]:
    """A forward hook the module keeps clamping its output into ``[-bound, bound]`` (an activation clip whose
    threshold was given in another unit)."""
    def fn(m: nn.Module) -> None:
        m.register_forward_hook(lambda _m, _inputs, out: out.clamp(-bound, bound))
    return fn


# -- held_out11 healthy multi-loss configurations --------------------------------------------------------

@dataclass(frozen=True)
class LogitAdjustedAuxiliary:
    """A second named loss beside the task: ``weight`` times the logit-adjusted cross-entropy (Menon et al.
    2021, arXiv:2007.07314: the logits plus ``tau`` times the log class priors) on the same labels, an
    objective that agrees with the task's on a near-balanced set."""

    tau: float = 1.0
    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        counts = torch.bincount(_digits(True).y_train, minlength=10).float()
        adjust = self.tau * (counts / counts.sum()).log()
        beside_task(setup, "logit_adjusted", lambda out, y: self.weight * F.cross_entropy(out + adjust, y))


@dataclass(frozen=True)
class SquaredHingeAuxiliary:
    """A second named loss beside the task: ``weight`` times the multi-class squared hinge loss
    (``F.multi_margin_loss`` with ``p=2``) on the same targets, an objective that agrees with the task's."""

    weight: float = 0.3

    def __call__(self, setup: Setup) -> None:
        beside_task(setup, "squared_hinge",
                    lambda out, y: self.weight * F.multi_margin_loss(*_flat(out, y), p=2))
