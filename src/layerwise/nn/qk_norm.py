"""QK-norm: a LayerNorm on each head's queries and keys before their dot product.

Scaling Vision Transformers to 22 Billion Parameters (Dehghani et al., 2023, arXiv 2302.05442)
normalises queries and keys to stop the attention logits from growing without bound, which had
collapsed the attention entropy and diverged training; Small-scale proxies for large-scale
Transformer training instabilities (Wortsman et al., 2023, arXiv 2309.14322) reproduce the
growth at small scale under high learning rates and the same cure. With unit gains a logit is
then at most ``||q|| ||k|| / sqrt(d_head) = sqrt(d_head)`` in size.

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> from layerwise.nn import add_qk_norm
    >>> gpt = GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> add_qk_norm(gpt)
    ['blocks.0.attn', 'blocks.1.attn']
"""

from __future__ import annotations

from torch import nn

from layerwise._registry import register
from layerwise.models.attention import SelfAttention

PAPER = ("Scaling Vision Transformers to 22 Billion Parameters (Dehghani et al., 2023)", "2302.05442")


@register("qk_norm", kind="edit", paper=PAPER[0], arxiv=PAPER[1])
def add_qk_norm(model: nn.Module, *, eps: float = 1e-5) -> list[str]:
    """Give every layerwise :class:`SelfAttention` in ``model`` a LayerNorm over the head dimension
    on its queries and on its keys (new parameters: hand them to the optimizer); returns the
    attention modules edited. Attention that already has them is left alone."""
    edited = []
    for name, module in model.named_modules():
        if not isinstance(module, SelfAttention) or not isinstance(module.q_norm, nn.Identity):
            continue
        d_head = module.qkv.out_features // 3 // module.n_head
        device, dtype = module.qkv.weight.device, module.qkv.weight.dtype
        module.q_norm = nn.LayerNorm(d_head, eps=eps, device=device, dtype=dtype)
        module.k_norm = nn.LayerNorm(d_head, eps=eps, device=device, dtype=dtype)
        edited.append(name)
    if not edited and not any(isinstance(m, SelfAttention) for m in model.modules()):
        raise LookupError(f"{type(model).__name__} has no layerwise SelfAttention to give a QK-norm")
    return edited
