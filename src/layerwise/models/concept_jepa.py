"""ConceptJEPA: a concept encoder and a causal concept predictor trained by InfoNCE.

Is the Reversal Curse a Binding Problem? (Boshi Wang, Huan Sun, 2025, arXiv 2504.01928). The
paper traces the reversal curse to inconsistent concept representations: a next-token model
represents an entity one way as an input and another way as an output. Its JEPA design uses one
representation for both roles:

* tokens are grouped in patches of at most ``patch_len`` tokens, one patch per concept (a
  one-token entity, a relation, a two-token name);
* the concept encoder (``encoder_layers`` causal transformer blocks) runs *within* each patch; the
  concept vector is its output at the patch's last real token (patches are right-padded with
  ``pad_id``, and causal attention keeps the padding out of it);
* the predictor (``predictor_layers`` causal blocks over the concept sequence, then
  ``concept_ln``) outputs, at each position, the predicted embedding of the next concept;
* the loss is contrastive (:func:`concept_info_nce`): the prediction scores every candidate
  concept by a dot product with that candidate's *encoding by the same encoder*, so an entity has
  the same vector whether it is read as a subject or predicted as an object.

The paper's auxiliary MSE between shifted encoder and predictor states is left out (the InfoNCE
term carries the claim). ``negatives="all"`` scores all candidates (the paper's
``eval_full_negatives``; the spec's tiny reproduction trains with it), ``"batch"`` only the batch's
distinct targets.

Example::

    >>> import torch
    >>> from layerwise.models import ConceptJEPA, concept_info_nce
    >>> model = ConceptJEPA(vocab_size=20, d_model=16, n_head=2, predictor_layers=1, patch_len=2)
    >>> concepts = torch.randint(3, 20, (4, 2, 2))          # 4 sequences of 2 two-token concepts
    >>> pred = model(concepts)                              # next-concept predictions
    >>> tuple(pred.shape)
    (4, 2, 16)
    >>> candidates = torch.randint(3, 20, (10, 2))          # 10 candidate concepts
    >>> loss = concept_info_nce(pred[:, -1], model.encode(candidates), torch.tensor([0, 3, 3, 9]))
    >>> loss.shape
    torch.Size([])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from layerwise._registry import register
from layerwise.models.transformer_block import block_stack, init_transformer_

NEGATIVES = ("all", "batch")
PAPER = "Is the Reversal Curse a Binding Problem? (Wang, Sun, 2025)"


def concept_info_nce(pred: Tensor, candidates: Tensor, targets: Tensor, *,
                     temperature: float = 1.0) -> Tensor:
    """Mean InfoNCE loss: cross-entropy of ``pred @ candidates.T / temperature`` (M, N) against
    the index of each prediction's target candidate ``targets`` (M,)."""
    if pred.dim() != 2 or candidates.dim() != 2 or pred.shape[1] != candidates.shape[1]:
        raise ValueError(f"pred (M, D) and candidates (N, D) must share D, got {tuple(pred.shape)} "
                         f"and {tuple(candidates.shape)}")
    if targets.shape != (pred.shape[0],):
        raise ValueError(f"targets must have shape ({pred.shape[0]},), got {tuple(targets.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if len(targets) and not 0 <= int(targets.min()) <= int(targets.max()) < len(candidates):
        raise ValueError(f"targets must index candidates, in [0, {len(candidates) - 1}]")
    return F.cross_entropy(pred @ candidates.T / temperature, targets)


@register("concept_jepa", kind="model", paper=PAPER, arxiv="2504.01928")
class ConceptJEPA(nn.Module):
    """Concept encoder (within patches) + causal concept predictor; ``forward`` returns the
    next-concept predictions (B, C, d_model) of concept patches (B, C, patch_len)."""

    def __init__(self, *, vocab_size: int, d_model: int = 128, n_head: int = 4, encoder_layers: int = 1,
                 predictor_layers: int = 3, patch_len: int = 3, max_concepts: int = 8, pad_id: int = 0,
                 mlp_ratio: int = 4, init_std: float = 0.02) -> None:
        super().__init__()
        for name, value, low in (("vocab_size", vocab_size, 1), ("d_model", d_model, 1),
                                 ("encoder_layers", encoder_layers, 0),
                                 ("predictor_layers", predictor_layers, 1), ("patch_len", patch_len, 1),
                                 ("max_concepts", max_concepts, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be in [0, {vocab_size - 1}], got {pad_id}")
        self.patch_len, self.max_concepts, self.pad_id = patch_len, max_concepts, pad_id
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.patch_pos = nn.Embedding(patch_len, d_model)
        stack = dict(causal=True, mlp_ratio=mlp_ratio, norm="layer", placement="pre", dropout=0.0,
                     layernorm_scaling=False)
        self.encoder = block_stack(encoder_layers, d_model, n_head, **stack)
        self.concept_pos = nn.Embedding(max_concepts, d_model)
        self.blocks = block_stack(predictor_layers, d_model, n_head, **stack)
        self.concept_ln = nn.LayerNorm(d_model)
        init_transformer_(self, std=init_std)

    def _check(self, tokens: Tensor, dims: int, what: str) -> Tensor:
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise TypeError(f"{what} must hold integer token ids, got dtype {tokens.dtype}")
        if tokens.dim() < dims or tokens.shape[-1] > self.patch_len:
            raise ValueError(f"{what} must have >= {dims} dims ending in at most patch_len="
                             f"{self.patch_len} tokens, got {tuple(tokens.shape)}")
        return tokens.long()

    def encode(self, patches: Tensor) -> Tensor:
        """Concept vectors (..., d_model) of token patches (..., P), P <= ``patch_len``, each
        right-padded with ``pad_id`` and holding at least one real token."""
        patches = self._check(patches, 1, "patches")
        lead, p = patches.shape[:-1], patches.shape[-1]
        flat = patches.reshape(-1, p)
        real = flat != self.pad_id
        if not bool(real[:, 0].all()):
            raise ValueError("every patch must start with a real token (right padding, not empty)")
        x = self.tok_emb(flat) + self.patch_pos(torch.arange(p, device=flat.device))
        for block in self.encoder:
            x = block(x)
        last = real.long().sum(1) - 1  # causal: the last real token has seen the whole concept
        return x[torch.arange(len(flat), device=flat.device), last].reshape(*lead, -1)

    def predict(self, concepts: Tensor) -> Tensor:
        """Next-concept predictions from concept vectors (B, C, d_model), C <= ``max_concepts``."""
        c = concepts.shape[1]
        if c > self.max_concepts:
            raise ValueError(f"{c} concepts exceed max_concepts={self.max_concepts}")
        x = concepts + self.concept_pos(torch.arange(c, device=concepts.device))
        for block in self.blocks:
            x = block(x)
        return self.concept_ln(x)

    def forward(self, concepts: Tensor) -> Tensor:
        """Next-concept predictions (B, C, d_model) of concept patches (B, C, P)."""
        concepts = self._check(concepts, 3, "concepts")
        if concepts.dim() != 3:
            raise ValueError(f"concepts must have shape (B, C, P), got {tuple(concepts.shape)}")
        return self.predict(self.encode(concepts))

    def scores(self, concepts: Tensor, candidates: Tensor) -> Tensor:
        """(B, N): the last position's prediction scored against every candidate patch (N, P)."""
        return self(concepts)[:, -1] @ self.encode(candidates).T

    def loss(self, concepts: Tensor, candidates: Tensor, targets: Tensor, *, negatives: str = "all",
             temperature: float = 1.0) -> Tensor:
        """InfoNCE of the last position's prediction against ``candidates[targets]``: over all
        candidates (``negatives="all"``) or over the batch's distinct targets (``"batch"``)."""
        if negatives not in NEGATIVES:
            raise ValueError(f"negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
        if negatives == "batch":
            used, targets = torch.unique(targets, return_inverse=True)
            candidates = candidates[used]
        return concept_info_nce(self(concepts)[:, -1], self.encode(candidates), targets,
                                temperature=temperature)
