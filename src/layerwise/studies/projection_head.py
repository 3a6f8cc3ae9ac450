"""Study ``projection-head``: does training with a projection head leave a better representation?

Investigating the Benefits of Projection Head for Representation Learning (Xue, Gan, Ni, Joshi &
Mirzasoleiman, ICLR 2024, arXiv 2403.11391): training weights features more and more unequally
with depth, so the representation before the projection head keeps features the objective does
not need; when the downstream task is misaligned with training (fine labels after coarse-label
training), pre-projection features transfer better than post-projection ones and than the
representation of a network trained without a head.

Tiny reproduction (shared/papers/SPECS-B.md, paper 3a): sklearn digits; an MLP encoder
64 -> 256 -> 128 (ReLU), a head (2-layer MLP 128 -> 256 -> 128 by default, or the fixed
``ReweightHead`` with ``kappa``), and a linear classifier on the *coarse* label "digit >= 5";
Adam 1e-3, 30 epochs, batch 64. A z-scored logistic-regression probe is fitted on the *fine*
10-class label of the train split's features and scored on the validation split.

Arms are two trainings: ``no-head`` (the classifier sits directly on the encoder) and ``head``
(encoder, head, classifier). Both start from the same encoder weights and batch order (paired by
seed); the train/val split also changes with the seed, so the interval covers split variability.
Primary (Superiority, paired t): the fine-label probe on the encoder output is better in the
``head`` arm (the pre-head representation) than in the ``no-head`` arm, by at least 0.01. The
spec gives no number for this comparison; at about 94% fine accuracy a 1-point gain removes a
sixth of the remaining errors, the smallest gain we would call a benefit of the head.
Secondary (Descriptive, within the head arm): pre-head minus post-head probe accuracy is positive
by at least 0.02 (the spec expects "several points"; it is close to guaranteed, since the head is
trained toward a 2-class output, so it does not decide). Gate: the coarse task is learned
(validation accuracy above 0.9 in both arms). Details: the participation ratio (effective
dimension) of the pre- and post-head features. With ``head="reweight"`` a z-scored probe cannot
see the diagonal rescaling, so pre and post tie by construction.

Full size: about 3 s per run on one thread (measured at full size, seeds 0-1, both arms:
2.6-3.2 CPU-seconds with the Monitor and the probes), 2 arms x 10 seeds: about 1 CPU-minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise.data import digits
from layerwise.nn.heads import ProjectionHead, ReweightHead, pre_post_features
from layerwise.studies._rules import Descriptive, Gate, Superiority
from layerwise.studies._study import Study
from layerwise.studies._trial import Trial


@dataclass(frozen=True)
class ProjectionHeadConfig:
    """Paper-3a tiny reproduction. ``head``: "mlp", "reweight" or "none" (no head);
    ``max_train`` caps the train split (tiny size); ``probe_c`` is the probe's inverse L2."""

    hidden: int = 256
    embed: int = 128
    head: str = "mlp"
    head_hidden: int = 256
    kappa: float = 1.2
    coarse_threshold: int = 5
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    max_train: int | None = None
    probe_c: float = 1.0
    every: int = 1


class CoarseNet(nn.Module):
    """``layers``: encoder blocks, then the head (Identity for no head), then the classifier."""

    def __init__(self, cfg: ProjectionHeadConfig, in_dim: int) -> None:
        super().__init__()
        enc = [nn.Sequential(nn.Linear(in_dim, cfg.hidden), nn.ReLU()),
               nn.Sequential(nn.Linear(cfg.hidden, cfg.embed), nn.ReLU())]
        self.layers = nn.ModuleList([*enc, _head(cfg), nn.Linear(cfg.embed, 2)])

    def encode(self, x: Tensor) -> Tensor:
        return self.layers[1](self.layers[0](x.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers[3](self.layers[2](self.encode(x)))


def _head(cfg: ProjectionHeadConfig) -> nn.Module:
    if cfg.head == "mlp":
        return ProjectionHead(cfg.embed, cfg.embed, hidden=cfg.head_hidden)
    if cfg.head == "reweight":
        return ReweightHead(cfg.embed, kappa=cfg.kappa)
    if cfg.head == "none":
        return nn.Identity()
    raise ValueError(f"head must be 'mlp', 'reweight' or 'none', got {cfg.head!r}")


class ProjectionHeadStudy(Study):
    """No head vs a projection head under coarse training: fine-label probes of the encoder."""

    name = "projection-head"
    paper = ("Investigating the Benefits of Projection Head for Representation Learning "
             "(Xue et al., ICLR 2024)")
    arxiv = "2403.11391"
    claim = ("Training with a projection head leaves features before the head that the training "
             "objective discards: after training an MLP on the coarse digits label 'digit >= 5', a "
             "linear probe (fitted on train features, scored on validation) reads the fine 10-class "
             "label from the encoder output better, by at least 1 point, when the network was "
             "trained with a 2-layer MLP head than without one (the data split varies with the seed)")
    Config = ProjectionHeadConfig
    arms = {"no-head": {"head": "none"}, "head": {"head": "mlp"}}
    rule = Superiority("pre_fine_acc", "higher", treatment="head", baseline="no-head", min_effect=0.01)
    also = (Descriptive("pre_minus_post", "higher", min_effect=0.02, arm="head"),)
    gates = (Gate("coarse_val_acc", above=0.9),)
    sizes = {
        "tiny": dict(hidden=32, embed=16, head_hidden=32, epochs=2, max_train=256, lr=0.01),
        "smoke": dict(epochs=5, max_train=512),
    }
    seeds = {"tiny": 1, "smoke": 1, "full": 10}

    def trial(self, cfg: ProjectionHeadConfig, t: Trial) -> dict[str, float]:
        split = digits(flat=True, seed=t.seed)
        n = cfg.max_train or len(split.x_train)
        x, fine = split.x_train[:n], split.y_train[:n]
        coarse = (fine >= cfg.coarse_threshold).long()
        model = CoarseNet(cfg, x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        gen = t.generator()
        step = 0
        with t.monitor(model, every=cfg.every, optimizer=opt) as mon:
            for _ in range(cfg.epochs):
                order = torch.randperm(len(x), generator=gen)
                for start in range(0, len(x), cfg.batch_size):
                    idx = order[start:start + cfg.batch_size]
                    with mon.step(step):
                        loss = F.cross_entropy(model(x[idx]), coarse[idx])
                        loss.backward()
                        mon.log(loss=loss.detach())
                    opt.step()
                    opt.zero_grad()
                    step += 1
            model.eval()
            with torch.no_grad():
                coarse_acc = (model(split.x_val).argmax(1) == (split.y_val >= cfg.coarse_threshold)).float()
            train_feats = pre_post_features(model.encode, model.layers[2], x)
            val_feats = pre_post_features(model.encode, model.layers[2], split.x_val)
            pre = _probe(train_feats["pre"], fine, val_feats["pre"], split.y_val, cfg)
            # without a head the head slot is the identity: post-head features are the encoder's
            post = pre if cfg.head == "none" else _probe(train_feats["post"], fine, val_feats["post"],
                                                         split.y_val, cfg)
            result = {"pre_fine_acc": pre, "post_fine_acc": post,
                      "pre_minus_post": pre - post, "coarse_val_acc": float(coarse_acc.mean()),
                      "pre_spread": _spread(val_feats["pre"]), "post_spread": _spread(val_feats["post"])}
            mon.log_scalars(step, **result)
        return result


def _probe(x_fit: Tensor, y_fit: Tensor, x_val: Tensor, y_val: Tensor, cfg: ProjectionHeadConfig) -> float:
    """Validation accuracy of a z-scored logistic regression fitted on the train features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.probe_c, max_iter=1000))
    with threadpool_limits(1):  # one BLAS thread, like torch: tiny matrices only lose to threading
        probe.fit(x_fit.double().numpy(), y_fit.numpy())
        return float(probe.score(x_val.double().numpy(), y_val.numpy()))


def _spread(feats: Tensor) -> float:
    """Participation ratio of the centred features' covariance spectrum (effective dimension)."""
    h = feats.double() - feats.double().mean(0)
    s = torch.linalg.svdvals(h) ** 2
    return float(s.sum() ** 2 / (s ** 2).sum()) if s.sum() > 0 else 0.0
