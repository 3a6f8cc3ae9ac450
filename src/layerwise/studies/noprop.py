"""Study ``noprop``: NoProp-DT against the same blocks trained end to end, and a plain MLP, on digits.

NoProp: Training Neural Networks without Back-propagation or Forward-propagation (Li, Teh,
Pascanu, 2025, arXiv 2503.24322). Each of T blocks learns, on its own, to denoise a noisy label
embedding given the input (``layerwise.train.NoPropTrainer``): no gradient crosses blocks, and a
training step runs one block only. The paper claims accuracy comparable to back-propagation on the
same architecture (MNIST, CIFAR-10/100) with less memory, since a step holds one block's graph.

Reproduction (shared/papers/SPECS-A.md, paper 4): scikit-learn digits (1,438 train / 359 held-out
images, one fixed split: seeds vary the initialisation, the noise and the batch order); T = 10
blocks, each MLP(x -> 128) + MLP(z -> 128) -> MLP -> 10 logits (``NoPropBlock``), one-hot
embedding, eta 0.1, AdamW lr 1e-3 / weight decay 1e-3 (the community configs' values), batch 128,
30 epochs. Arms (paired: the same seed gives the same initial blocks and batch order):
``backprop`` (the reference: the same 10 blocks chained as at NoProp inference, z_0 = 0,
z_t = a_t u_hat_t + b_t z_{t-1}, trained end to end with one AdamW on the cross-entropy of the last
block's logits, which are its prediction; cross-entropy through the linear head on z_T instead
stalled at 38% held-out accuracy in a calibration seed, the blocks' softmax outputs saturating),
``noprop`` (NoProp-DT: every block takes one step per minibatch) and ``mlp`` (a plain 64-128-128-10
ReLU MLP, same optimizer and budget, a reference only). Deviations from the spec: the blocks have no
BatchNorm/dropout (tiny MLP blocks); the schedule's endpoints (abar_0 = 0, abar_T = 0.999) and the
inference coefficients a, b, c (the Gaussian posterior, derived) are ours [D]; inference is
deterministic (z_0 = 0, no chain noise).

Rule (primary): test accuracy of NoProp-DT is non-inferior to the end-to-end chain with a margin of
2 points (paired t over 5 seeds, 95% interval). The spec expects NoProp "within 1-3 points of
backprop"; 2 points (7 of the 359 held-out images) is the middle of that band: at the 97-98%
accuracy seen in calibration it lets the error grow from about 2.5% to 4.5%, which we still call
comparable, and no more. A diverged seed scores chance (0.1). Secondary: (a) NoProp vs the plain
MLP, same margin; (b) memory, deterministic: peak saved-tensor bytes of one training step
(``layerwise.nn.saved_tensor_bytes``, weights excluded, batch 128; NoProp: the largest over its T
block steps) at T in {1, 2, 5, 10, 20}: NoProp's is flat in T (T=20 over T=1 below 1.05: a step
touches one block whatever T is), the chain's grows (above 2: it keeps every block's graph), and at
T = 10 NoProp's step holds under a quarter of the chain's bytes (one block of ten plus shared
inputs); (c) the spec's "read-out accuracy rises along t": argmax of block T's logits minus block 1's
on the held-out images, above 0 (descriptive, one-sample t). Gate: both judged arms learn (held-out
accuracy above chance + 0.4). Calibration (seed 0; the margin was fixed before the end-to-end arm
was calibrated): NoProp 98.3% after 30 epochs with read-outs flat along t (block 1 sees pure noise
z_0, so it is already a classifier of x); the end-to-end chain 99.2%.

Cost of the full size: 264 s of wall time at one thread on the loaded 2-core box (3 arms x 5 seeds;
a NoProp trial, 3,600 block steps, and an end-to-end trial take about 18 s each, the MLP a few).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.data import digits
from layerwise.models import MLP
from layerwise.nn import saved_tensor_bytes
from layerwise.studies._loops import accuracy, shuffled_epoch
from layerwise.studies._rules import Check, Descriptive, Deterministic, Gate, NonInferiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial
from layerwise.train import NoPropBlock, NoPropTrainer
from layerwise.train.noprop import NOPROP

SCHEMES = ("noprop", "backprop", "mlp")


@dataclass(frozen=True)
class NoPropConfig:
    """Full size: digits, T = 10 blocks of width 128, one-hot embedding, 30 epochs of batch 128.

    ``scheme``: "noprop", "backprop" (the same chain end to end) or "mlp" (``mlp_depth`` hidden
    layers of ``width``); ``memory_Ts``: the block counts whose per-step saved bytes are measured.
    """

    scheme: str = "noprop"
    T: int = field(default=10, metadata={"min": 1})
    width: int = 128
    embed: str = "onehot"
    eta: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 128
    epochs: int = 30
    mlp_depth: int = 2
    memory_Ts: tuple[int, ...] = (1, 2, 5, 10, 20)


def build(cfg: NoPropConfig, in_dim: int, classes: int, T: int | None = None) -> nn.Module:
    """The arm's model: a NoPropTrainer of ``T`` (default ``cfg.T``) blocks, or the plain MLP."""
    if cfg.scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {cfg.scheme!r}")
    if cfg.scheme == "mlp":
        return MLP(in_dim=in_dim, out_dim=classes, depth=cfg.mlp_depth, width=cfg.width)
    return NoPropTrainer(lambda: NoPropBlock(in_dim, classes, width=cfg.width), classes,
                         T=cfg.T if T is None else T, embed=cfg.embed, eta=cfg.eta, lr=cfg.lr,
                         weight_decay=cfg.weight_decay)


def score(model: nn.Module, cfg: NoPropConfig, x: Tensor, y: Tensor) -> float:
    """Accuracy: NoProp reads ``head(z_T)`` (the paper's inference), the others their logits."""
    if cfg.scheme == "noprop":
        return (model.predict(x) == y).float().mean().item()
    return accuracy(model, x, y)


def step_bytes(cfg: NoPropConfig, T: int, x: Tensor, y: Tensor) -> int:
    """Peak saved-tensor bytes of one training step of the arm's scheme with ``T`` blocks."""
    model = build(cfg, x.shape[1], int(y.max()) + 1, T)
    weights = [*model.parameters(), *model.buffers()]
    if cfg.scheme == "noprop":
        return max(saved_tensor_bytes(model.loss, x, y, t, exclude=weights) for t in range(1, T + 1))
    return saved_tensor_bytes(lambda: F.cross_entropy(model(x), y), exclude=weights)


class NoProp(Study):
    """NoProp-DT vs the same blocks trained end to end vs a plain MLP: accuracy and step memory."""

    name = "noprop"
    paper = NOPROP[0]
    arxiv = NOPROP[1]
    claim = ("NoProp-DT (10 blocks, each trained alone to denoise the label) reaches test accuracy on "
             "digits no more than 2 points below the same blocks trained end to end with backprop; "
             "secondary: its per-step activation memory is flat in T and under a quarter of "
             "backprop's at T = 10; read-out accuracy rises along t")
    Config = NoPropConfig
    arms = {"backprop": {"scheme": "backprop"}, "noprop": {"scheme": "noprop"}, "mlp": {"scheme": "mlp"}}
    rule = NonInferiority("test_acc", "higher", treatment="noprop", baseline="backprop", margin=0.02,
                          worst=0.1)
    also = (NonInferiority("test_acc", "higher", treatment="noprop", baseline="mlp", margin=0.02,
                           worst=0.1),
            Deterministic(checks=(Check("memory_growth", "<", 1.05, "noprop"),
                                  Check("memory_growth", ">", 2.0, "backprop"),
                                  Check("memory_ratio", "<", 0.25, "noprop"))),
            Descriptive("readout_rise", "higher", null=0.0, arm="noprop"))
    gates = (Gate("test_acc", above="chance", margin=0.4),)
    sizes = {
        "tiny": dict(T=2, width=16, epochs=1, memory_Ts=(1, 2)),
        "smoke": dict(epochs=8, memory_Ts=(1, 5, 10)),
    }

    def trial(self, cfg: NoPropConfig, t: Trial) -> dict[str, float | list[float]]:
        data = digits(flat=True)
        (x, y), (xv, yv) = data.tensors("train"), data.tensors("val")
        classes = int(data.num_classes)
        model = build(cfg, x.shape[1], classes)
        order = t.generator()
        result: dict[str, float | list[float]] = {"chance": 1.0 / classes, "readout_rise": math.nan,
                                                  "memory_ratio": math.nan}  # set where they apply
        with t.runlog() as log:
            opt = None if cfg.scheme == "noprop" else torch.optim.AdamW(
                model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            for epoch in range(1, cfg.epochs + 1):
                if opt is None:
                    log.log_scalars(epoch, train_loss=model.fit(x, y, batch_size=cfg.batch_size,
                                                                generator=order)[0])
                else:
                    shuffled_epoch(model, opt, x, y, batch_size=cfg.batch_size, order=order)
                log.log_scalars(epoch, test_acc=score(model, cfg, xv, yv))
                t.progress(epoch, cfg.epochs)
            result["test_acc"], result["train_acc"] = score(model, cfg, xv, yv), score(model, cfg, x, y)
            if cfg.scheme != "mlp":
                readout = (model.readouts(xv).argmax(-1) == yv).float().mean(1).tolist()
                for i, acc in enumerate(readout):
                    log.log(cfg.epochs, f"blocks.{i}", "readout_acc", acc)
                result.update(readout_acc=readout, readout_rise=readout[-1] - readout[0])
            xb, yb = x[: cfg.batch_size].clone(), y[: cfg.batch_size].clone()
            kib = [step_bytes(cfg, T, xb, yb) / 1024 for T in cfg.memory_Ts]
            result.update({f"step_kib_T{T}": k for T, k in zip(cfg.memory_Ts, kib, strict=True)})
            result["memory_growth"] = kib[-1] / kib[0]
            if cfg.scheme == "noprop":
                chain = step_bytes(dataclasses.replace(cfg, scheme="backprop"), cfg.T, xb, yb)
                result["memory_ratio"] = step_bytes(cfg, cfg.T, xb, yb) / chain
            log.log_scalars(cfg.epochs, **{k: v for k, v in result.items()
                                           if isinstance(v, float) and math.isfinite(v)})
        return result
