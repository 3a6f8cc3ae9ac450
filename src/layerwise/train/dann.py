"""Domain-adversarial training (DANN; Ganin et al., 2015, arXiv 1505.07818) as a small trainer.

A feature extractor G_f feeds a label head G_y and, through a gradient reversal layer, a domain
head G_d. The loss on a source batch (x_s, y_s) and an unlabelled target batch x_t is

    L = CE(G_y(G_f(x_s)), y_s) + w * [CE(G_d(R(G_f(x_s))), 0) + CE(G_d(R(G_f(x_t))), 1)]

where R is the identity forward and multiplies gradients by -lambda_p backward, with the paper's
schedule lambda_p = 2 / (1 + exp(-10 p)) - 1 over the progress p in [0, 1]. The domain head thus
learns to tell the domains apart while the features learn to confuse it. The optimizer is the
paper's: SGD, momentum 0.9, learning rate mu_p = lr / (1 + 10 p)^0.75.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.transforms._papers import DANN
from layerwise.transforms.reversal import GradReverse, dann_lambda


def _cycle(loader: Iterable) -> Iterator:
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("a DANN data loader yielded no batch")


def _inputs(batch: Any) -> Tensor:
    return batch[0] if isinstance(batch, list | tuple) else batch


@register("dann", kind="scheme", paper=DANN[0], arxiv=DANN[1])
class DANNTrainer:
    """Domain-adversarial training of ``features``, ``label_head`` and ``domain_head``.

    Paper: Domain-Adversarial Training of Neural Networks (Ganin et al., 2015, arXiv 1505.07818).

    ``domain_head`` outputs 2 logits (cross-entropy) or 1 (logistic loss); the source domain is 0,
    the target 1. ``source_loader`` yields ``(x, y)`` batches, ``target_loader`` yields ``x`` or
    ``(x, ...)`` (target labels, if present, are never used). Loaders are cycled as needed.

    Example::

        >>> import torch
        >>> from torch import nn
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> from layerwise.data import two_moons_shift
        >>> from layerwise.train import DANNTrainer
        >>> d = two_moons_shift(n_source=64, n_target=64)
        >>> trainer = DANNTrainer(nn.Sequential(nn.Linear(2, 15), nn.ReLU()), nn.Linear(15, 2),
        ...                       nn.Linear(15, 2))
        >>> hist = trainer.fit(DataLoader(TensorDataset(d.x_source, d.y_source), batch_size=32),
        ...                    DataLoader(TensorDataset(d.x_target), batch_size=32), steps=5)
        >>> len(hist["label_loss"]), trainer.predict(d.x_target).shape
        (5, torch.Size([64]))
    """

    def __init__(
        self,
        features: nn.Module,
        label_head: nn.Module,
        domain_head: nn.Module,
        *,
        lr: float = 0.01,
        momentum: float = 0.9,
        gamma: float = 10.0,
        domain_weight: float = 1.0,
        anneal_lr: bool = True,
    ) -> None:
        self.features, self.label_head, self.domain_head = features, label_head, domain_head
        self.grl = GradReverse(functools.partial(dann_lambda, gamma=gamma))
        self.domain_weight = domain_weight
        self.lr, self.anneal_lr = lr, anneal_lr
        params = [p for m in (features, label_head, domain_head) for p in m.parameters()]
        self.optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum)

    def domain_loss(self, feats: Tensor, domain: int) -> Tensor:
        """The domain head's loss on features ``feats`` (already reversed or not) of one domain."""
        logits = self.domain_head(feats)
        if logits.shape[-1] == 1:
            target = torch.full_like(logits[:, 0], float(domain))
            return F.binary_cross_entropy_with_logits(logits.squeeze(-1), target)
        return F.cross_entropy(logits, torch.full((logits.shape[0],), domain, device=logits.device))

    def losses(self, x_source: Tensor, y_source: Tensor, x_target: Tensor) -> tuple[Tensor, Tensor]:
        """(label loss on the source, domain loss on both domains through the reversal layer)."""
        f_source, f_target = self.features(x_source), self.features(x_target)
        label = F.cross_entropy(self.label_head(f_source), y_source)
        domain = self.domain_loss(self.grl(f_source), 0) + self.domain_loss(self.grl(f_target), 1)
        return label, domain

    def backward(
        self, x_source: Tensor, y_source: Tensor, x_target: Tensor, progress: float
    ) -> tuple[Tensor, Tensor]:
        """Set the schedule to ``progress``, zero the gradients and back-propagate the DANN loss."""
        self.grl.progress = progress
        self.optimizer.zero_grad()
        label, domain = self.losses(x_source, y_source, x_target)
        (label + self.domain_weight * domain).backward()
        return label.detach(), domain.detach()

    def fit(self, source_loader: Iterable, target_loader: Iterable, steps: int) -> dict[str, list[float]]:
        """Train for ``steps`` steps; returns per-step ``label_loss``, ``domain_loss``, ``lambda``, ``lr``."""
        source, target = _cycle(source_loader), _cycle(target_loader)
        labels, domains, lambdas, lrs = [], [], [], []
        for m in (self.features, self.label_head, self.domain_head):
            m.train()
        for step in range(steps):
            p = step / steps
            lr = self.lr / (1 + 10 * p) ** 0.75 if self.anneal_lr else self.lr
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            x_s, y_s = next(source)[:2]
            label, domain = self.backward(x_s, y_s, _inputs(next(target)), p)
            self.optimizer.step()
            labels.append(label)
            domains.append(domain)
            lambdas.append(self.grl.current_lambda)
            lrs.append(lr)
        losses = torch.stack(labels + domains).tolist() if steps else []
        return {"label_loss": losses[:steps], "domain_loss": losses[steps:], "lambda": lambdas, "lr": lrs}

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Predicted class labels for inputs ``x`` (in eval mode; the modes are restored)."""
        modules = (self.features, self.label_head)
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            return self.label_head(self.features(x)).argmax(-1)
        finally:
            for m, mode in zip(modules, modes, strict=True):
                m.train(mode)
