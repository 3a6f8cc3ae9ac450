"""Attention saturation, activation-gradient decay and inflection-layer detection.

Attention Saturation and Gradient Suppression at Inflection Layers (Wang Zixian, 2025, arXiv
2511.00797): an over-trained model's saturated outputs starve lower layers of gradient.
Diagnostics, per layer ``l``:

* attention entropy ``H_l,h = mean over real queries of -sum_k a_qk log a_qk`` per head ``h``
  (nats; a causal query at position ``q`` has at most ``log(q + 1)``), from the attention
  probabilities (our GPT's explicit path, or Hugging Face ``output_attentions=True`` with eager
  attention). With an ``attention_mask`` (B, T) (1 = real token, 0 = padding, the Hugging Face
  convention) padded queries are left out and each query's probabilities are renormalised over the
  real keys, so a padded batch gives the entropies of its sequences run alone (averaged over all
  their real tokens);
* activation-gradient norms ``g_l = ||dL/dx_l||`` at the residual stream ``x_0 .. x_L`` and their
  decay across block ``l``, ``d_l = log g_l - log g_{l+1}`` (negative: the gradient shrinks as it
  crosses the block toward the input).

Inflection score (shared/papers/SPECS-B.md, paper 8, a derived definition; the paper's own
procedure is not public): ``score_l = z(-H_l) + z(-d_l)`` with ``z`` the z-score over layers and
``H_l`` the head-averaged entropy. The band is the contiguous run of layers with the largest total
score (maximum-sum subarray; a fixed ``width`` picks the best window of that size instead).

Example::

    >>> import numpy as np
    >>> inflection_layers(np.array([2.0, 2.0, 0.5, 0.4, 2.0]), np.array([1, 1, 1, 4, 8, 8.0])).band
    (2, 3)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.depth._trace import call_model, trace
from layerwise.depth.adapters import Adapter, adapt
from layerwise.models.attention import SelfAttention, capture_attention

PAPER = "Attention Saturation and Gradient Suppression at Inflection Layers (Wang, 2025)"
__all__ = ["Inflection", "activation_grad_norms", "attention_entropy", "attention_probs",
           "entropy_of", "inflection_layers", "padded_key_mass"]


def _real_tokens(attention_mask: Tensor, probs: Tensor) -> Tensor:
    """The mask as float64 (B, T), checked against probabilities (B, H, T, T)."""
    b, _, tq, tk = probs.shape
    if attention_mask.shape != (b, tk) or tq != tk:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} for attention "
                         f"probabilities {tuple(probs.shape)}: give (batch, seq) = ({b}, {tk}), 1 for real "
                         "tokens, 0 for padding")
    mask = attention_mask.to(device=probs.device, dtype=torch.float64)
    if not mask.any():
        raise ValueError("attention_mask marks no real token (1 = real token, 0 = padding)")
    return mask


def entropy_of(probs: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Per-head entropy (H,) of attention probabilities (B, H, Tq, Tk), mean over (real) queries.

    With ``attention_mask`` (B, T), padded queries are skipped and each query's probabilities are
    renormalised over the real keys (a no-op where the model already masked them).
    """
    p = probs.double()
    if attention_mask is None:
        return -torch.special.xlogy(p, p).sum(-1).mean(dim=(0, 2))
    mask = _real_tokens(attention_mask, probs)
    p = p * mask[:, None, None, :]
    p = p / p.sum(-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    per_query = -torch.special.xlogy(p, p).sum(-1)  # (B, H, Tq)
    queries = mask[:, None, :]
    return (per_query * queries).sum(dim=(0, 2)) / queries.sum()


def padded_key_mass(probs: Tensor, attention_mask: Tensor) -> float:
    """Largest probability mass a real query puts on padded keys (0 when the model masked them)."""
    mask = _real_tokens(attention_mask, probs)
    leak = (probs.double() * (1 - mask)[:, None, None, :]).sum(-1)  # (B, H, Tq)
    return float((leak * mask[:, None, :]).amax())


def attention_probs(model: nn.Module | Adapter, inputs: Tensor | Mapping, *, adapter: Adapter | None = None,
                    attention_mask: Tensor | None = None) -> list[Tensor]:
    """Each block's attention probabilities (B, H, T, T), captured without changing the model.

    ``attention_mask`` is added to a mapping of inputs that lacks one, so the model masks padding.
    """
    ad = adapter or adapt(model)
    net = model if isinstance(model, nn.Module) else ad.model
    if attention_mask is not None and isinstance(inputs, Mapping) and "attention_mask" not in inputs:
        inputs = {**inputs, "attention_mask": attention_mask}
    mods = [m for m in ad.attn if isinstance(m, SelfAttention)]
    with torch.no_grad():
        if mods and len(mods) == ad.n_layers:
            with capture_attention(mods) as probs:
                call_model(net, inputs)
            return list(probs)
        if isinstance(inputs, Mapping):
            found = getattr(net(**inputs, output_attentions=True), "attentions", None)
            if found:
                return [a for a in found]
    raise ValueError(f"cannot capture attention probabilities of this {ad.kind} model: load Hugging Face "
                     "models with attn_implementation='eager' and pass inputs as a dict")


def _warn_if_unmasked(probs: list[Tensor], attention_mask: Tensor) -> None:
    leak = max(padded_key_mass(p, attention_mask) for p in probs)
    if leak > 1e-3:
        warnings.warn(f"real tokens put up to {leak:.3f} of their attention on padded keys: the model did "
                      "not mask them, so the entropies are those of the attention renormalised over real "
                      "keys. Pass inputs as a dict with 'attention_mask' (Hugging Face models) or pad on "
                      "the right (causal models).", RuntimeWarning, stacklevel=3)


def attention_entropy(model: nn.Module | Adapter, inputs: Tensor | Mapping, *, adapter: Adapter | None = None,
                      attention_mask: Tensor | None = None) -> np.ndarray:
    """Attention entropy per layer and head, shape (L, H), over real tokens only.

    ``attention_mask`` (B, T), 1 = real token, 0 = padding, defaults to ``inputs["attention_mask"]``.
    """
    if attention_mask is None and isinstance(inputs, Mapping):
        attention_mask = inputs.get("attention_mask")
    probs = attention_probs(model, inputs, adapter=adapter, attention_mask=attention_mask)
    if attention_mask is not None:
        _warn_if_unmasked(probs, attention_mask)
    return torch.stack([entropy_of(p, attention_mask) for p in probs]).numpy()


def _default_loss(out: Tensor, tokens: Tensor | None, last_hidden: Tensor) -> Tensor:
    """Next-token cross-entropy for a language model; else the mean projection of the last hidden
    states on a fixed random unit direction (seed 0), a loss whose gradient survives a final norm."""
    if out is not None and tokens is not None and out.dim() == 3:
        return F.cross_entropy(out[:, :-1].reshape(-1, out.shape[-1]), tokens[:, 1:].reshape(-1))
    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(last_hidden.shape[-1], generator=gen).to(last_hidden)
    return (last_hidden @ (direction / direction.norm())).mean()


def activation_grad_norms(model: nn.Module | Adapter, inputs: Tensor | Mapping, *,
                          adapter: Adapter | None = None,
                          loss_fn: Callable[[object], Tensor] | None = None) -> np.ndarray:
    """``||dL/dx_l||`` for ``l = 0..L`` (block inputs, then the last output); no parameter grads."""
    ad = adapter or adapt(model)
    tr = trace(ad, inputs, model=model if isinstance(model, nn.Module) else None, grad=True)
    stream = tr.stream
    tokens = inputs.get("input_ids") if isinstance(inputs, Mapping) else inputs
    loss = loss_fn(tr.logits) if loss_fn is not None else _default_loss(tr.logits, tokens, stream[-1])
    wanted = [i for i, x in enumerate(stream) if x.requires_grad]
    grads = torch.autograd.grad(loss, [stream[i] for i in wanted], allow_unused=True)
    norms = np.full(len(stream), np.nan)
    for i, g in zip(wanted, grads, strict=True):
        norms[i] = float(g.double().norm()) if g is not None else 0.0
    return norms


def _z(values: np.ndarray) -> np.ndarray:
    sd = values.std()
    return (values - values.mean()) / sd if sd > 0 else np.zeros_like(values)


@dataclass(frozen=True)
class Inflection:
    score: np.ndarray  # (L,)
    decay: np.ndarray  # (L,) log g_l - log g_{l+1}
    band: tuple[int, int]  # first and last layer index of the band, inclusive

    @property
    def layers(self) -> list[int]:
        return list(range(self.band[0], self.band[1] + 1))


def _best_band(score: np.ndarray, width: int | None) -> tuple[int, int]:
    if width is not None:
        sums = np.convolve(score, np.ones(width), mode="valid")
        start = int(np.argmax(sums))
        return start, start + width - 1
    best, best_span, run, start = -np.inf, (0, 0), 0.0, 0
    for i, s in enumerate(score):
        if run <= 0:
            run, start = s, i
        else:
            run += s
        if run > best:
            best, best_span = run, (start, i)
    return best_span


@register("inflection_layers", kind="diagnostic", paper=PAPER, arxiv="2511.00797")
def inflection_layers(entropy: np.ndarray, grad_norms: np.ndarray, *, width: int | None = None) -> Inflection:
    """Score layers by low entropy and steep gradient decay; return the best contiguous band.

    ``entropy`` is (L,) or (L, H) (heads are averaged); ``grad_norms`` is (L + 1,) from
    :func:`activation_grad_norms`.
    """
    ent = np.asarray(entropy, dtype=float)
    ent = ent.mean(axis=1) if ent.ndim == 2 else ent
    g = np.log(np.clip(np.asarray(grad_norms, dtype=float), 1e-300, None))
    if g.shape != (len(ent) + 1,):
        raise ValueError(f"need L + 1 = {len(ent) + 1} gradient norms, got {g.shape}")
    if width is not None and not 1 <= width <= len(ent):
        raise ValueError(f"width must be in 1..{len(ent)}, got {width}")
    decay = g[:-1] - g[1:]
    score = _z(-ent) + _z(-decay)
    return Inflection(score, decay, _best_band(score, width))


