"""Concept consistency: does a model represent an entity the same way as a subject and as an object?

Is the Reversal Curse a Binding Problem? (Boshi Wang, Huan Sun, 2025, arXiv 2504.01928) argues
that the reversal curse comes from inconsistent concept representations: what a model reads when
an entity is the subject of a fact is not what it must produce when the entity is the object, so
a fact learned in one direction says nothing about the other. This diagnostic compares the two.

:func:`concept_consistency` takes row-aligned representations of the same ``N`` entities in the
two roles and returns the mean cosine of matching rows, the mean cosine of non-matching rows (the
level that says "no relation"), their gap, and the mean reciprocal rank of each entity's object
vector among all object vectors when queried with its subject vector (1 when every entity is
recognised across roles, about ``H_N / N`` by chance). :func:`role_representations` reads both
roles from a model:

* :class:`~layerwise.models.ConceptJEPA`: the encoding the predictor reads and the encoding
  predictions are scored against are the same call, so the cosine is 1 by design;
* :class:`~layerwise.models.GPT`: the subject role is the last layer's normalised state at the
  entity's position (the entity alone as the prompt), the object role is the entity's row of
  ``lm_head`` (what the model must produce to output it).

Example::

    >>> import torch
    >>> from layerwise.analysis import concept_consistency, reciprocal_ranks
    >>> subject = torch.eye(4)
    >>> report = concept_consistency(subject, 2 * subject)   # same directions, other scale
    >>> report.cosine, report.baseline, report.mrr
    (1.0, 0.0, 1.0)
    >>> reciprocal_ranks(torch.tensor([[0.1, 0.9, 0.5]]), torch.tensor([2])).tolist()  # rank 2
    [0.5]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from layerwise._registry import register


@dataclass(frozen=True)
class Consistency:
    """``cosine``: mean cos(subject_i, object_i); ``baseline``: mean cos(subject_i, object_j), i != j;
    ``gap``: cosine - baseline; ``mrr``: mean reciprocal rank of object_i for query subject_i."""

    cosine: float
    baseline: float
    gap: float
    mrr: float


@register("concept_consistency", kind="diagnostic",
          paper="Is the Reversal Curse a Binding Problem? (Wang, Sun, 2025)", arxiv="2504.01928")
def concept_consistency(subject: Tensor, object: Tensor) -> Consistency:
    """Consistency of row-aligned ``subject`` and ``object`` representations (N, D), N >= 2,
    in float64; a zero row has cosine 0 with everything."""
    for name, x in (("subject", subject), ("object", object)):
        if not torch.is_tensor(x) or not x.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor")
        if x.dim() != 2 or x.shape[0] < 2:
            raise ValueError(f"{name} must have shape (N, D) with N >= 2, got {tuple(x.shape)}")
    if subject.shape != object.shape:
        raise ValueError(f"subject {tuple(subject.shape)} and object {tuple(object.shape)} must match")
    cos = F.normalize(subject.detach().double(), dim=1) @ F.normalize(object.detach().double(), dim=1).T
    n = cos.shape[0]
    diag = cos.diagonal()
    cosine = float(diag.mean())
    baseline = float((cos.sum() - diag.sum()) / (n * (n - 1)))
    mrr = float(reciprocal_ranks(cos, torch.arange(n)).mean())
    return Consistency(cosine, baseline, cosine - baseline, mrr)


def reciprocal_ranks(scores: Tensor, targets: Tensor) -> Tensor:
    """(M,) float64: 1 / rank of ``scores[i, targets[i]]`` in row ``i`` of ``scores`` (M, N),
    rank = 1 + the number of other candidates scoring at least as high (ties count against)."""
    if scores.dim() != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(f"scores (M, N) and targets (M,) expected, got {tuple(scores.shape)} and "
                         f"{tuple(targets.shape)}")
    true = scores.gather(1, targets[:, None].long())
    return 1.0 / (scores >= true).sum(1).double()


@torch.no_grad()
def role_representations(model: nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor]:
    """(subject, object) representations (N, D) of the entities with token ids ``tokens`` (N,)
    in a ConceptJEPA or a GPT (see the module docstring)."""
    from layerwise.models import GPT, ConceptJEPA

    if tokens.dim() != 1:
        raise ValueError(f"tokens must have shape (N,), got {tuple(tokens.shape)}")
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, ConceptJEPA):
            enc = model.encode(tokens[:, None])
            return enc, model.encode(tokens[:, None])
        if isinstance(model, GPT):
            x = model.tok_emb(tokens[:, None]) + model.pos_emb(torch.zeros(1, dtype=torch.long))
            if model.emb_norm is not None:
                x = model.emb_norm(x)
            for block in model.blocks:
                x = block(x)
            return model.ln_f(x)[:, 0], model.lm_head.weight[tokens]
    finally:
        model.train(was_training)
    raise TypeError(f"model must be a ConceptJEPA or a GPT, got {type(model).__name__}")
