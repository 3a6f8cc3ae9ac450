"""Transformer health on a fixed probe batch, as RunLog rows the doctor reads.

Every ``every`` steps, one forward of the probe batch in eval mode records per block
(``blocks.N``, the names the Monitor uses):

* ``attn_entropy``: attention entropy in nats, mean over heads and queries (Zhai et al., 2023,
  "Stabilizing Transformer Training by Preventing Attention Entropy Collapse", arXiv 2303.06296:
  entropy falling towards 0 comes with unstable training);
* ``attn_logit_max``: the largest |q.k| / sqrt(d_head) over heads, queries and visible keys
  (Dehghani et al., 2023, arXiv 2302.05442; Wortsman et al., 2023, arXiv 2309.14322: attention
  logit growth precedes the collapse);
* ``token_spread``: ``||X - mean_t X||_F / ||X||_F`` of the block output over the tokens of each
  sequence, averaged; 0 when every token carries the same vector (rank collapse: Dong, Cordonnier,
  Loukas, 2021, "Attention is Not All You Need: Pure Attention Loses Rank Doubly Exponentially
  with Depth", arXiv 2103.03404);
* ``block_contrib``: ``||y - x|| / ||x||`` per token, averaged: how much the block changes the
  residual stream (Csordás, Manning, Potts, 2025, arXiv 2505.13898; near 0: an unused block).

Blocks are the modules of the model's stack that contain a layerwise ``SelfAttention``
(``GPT``, ``ViT``, ``TransformerBlock`` stacks); attention runs on its explicit path for the probe
only.

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> from layerwise.analysis import TransformerProbe
    >>> gpt = GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> probe = TransformerProbe(gpt, torch.randint(0, 20, (4, 8)))
    >>> sorted({metric for _, metric, _ in probe.rows()})
    ['attn_entropy', 'attn_logit_max', 'block_contrib', 'token_spread']
"""

from __future__ import annotations

from contextlib import ExitStack

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.models.attention import SelfAttention, capture_attention

PAPER = ("Stabilizing Transformer Training by Preventing Attention Entropy Collapse (Zhai et al., 2023)",
         "2303.06296")
METRICS = ("attn_entropy", "attn_logit_max", "token_spread", "block_contrib")


@register("transformer_probe", kind="diagnostic", paper=PAPER[0], arxiv=PAPER[1])
class TransformerProbe:
    """Per-block attention entropy, attention-logit maximum, token spread and block contribution
    of ``model`` on the fixed ``inputs``; :meth:`rows` computes them, :meth:`log` writes them."""

    def __init__(self, model: nn.Module, inputs: Tensor, *, every: int = 10) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.model, self.inputs, self.every = model, inputs, every
        self.blocks = attention_blocks(model)

    def rows(self) -> list[tuple[str, str, float]]:
        """``(block name, metric, value)`` for every block and metric."""
        seen: dict[str, dict[str, list[Tensor]]] = {n: {"in": [], "out": [], "logits": [], "probs": []}
                                                   for n, _, _ in self.blocks}
        was_training = self.model.training
        self.model.eval()
        with ExitStack() as stack, torch.no_grad():
            probs = stack.enter_context(capture_attention(attn for _, _, attn in self.blocks))
            for name, block, attn in self.blocks:
                store = seen[name]
                stack.callback(block.register_forward_hook(_keep_io(store)).remove)
                stack.callback(attn.logits.register_forward_hook(_keep(store["logits"])).remove)
            self.model(self.inputs)
        self.model.train(was_training)
        called = [name for name, store in seen.items() if store["out"]]
        for name, p in zip(called, probs, strict=True):  # one attention call per block, in order
            seen[name]["probs"].append(p.detach())
        return [(name, metric, value) for name in called
                for metric, value in _block_metrics(seen[name]).items()]

    def log(self, step: int, log) -> bool:
        """Write the rows to ``log`` (a RunLog, or a Monitor's) on steps that are multiples of
        ``every``; whether it did."""
        if step % self.every:
            return False
        target = getattr(log, "log_target", log)
        rows = self.rows()
        target.log_many(step, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        return True


def attention_blocks(model: nn.Module) -> list[tuple[str, nn.Module, SelfAttention]]:
    """``(name, block, its attention)`` for each block of the stack that holds the model's attention."""
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList):
            continue
        for i, block in enumerate(module):
            attn = next((m for m in block.modules() if isinstance(m, SelfAttention)), None)
            if attn is not None:
                found.append((f"{name}.{i}", block, attn))
        if found:
            return found
    raise ValueError(f"{type(model).__name__} has no stack of blocks with a layerwise SelfAttention: "
                     "the transformer probe reads layerwise GPT/ViT-style models")


def _block_metrics(store: dict[str, list[Tensor]]) -> dict[str, float]:
    x, y = store["in"][0].double(), store["out"][0].double()
    p, z = store["probs"][0].double(), store["logits"][0].double()
    entropy = -torch.special.xlogy(p, p).sum(-1).mean()
    visible = torch.isfinite(z)  # masked keys are -inf; a diverged model has no finite logit
    logit_max = float(z.abs()[visible].max()) if visible.any() else float("nan")
    centred = (y - y.mean(dim=1, keepdim=True)).flatten(1).norm(dim=1)
    spread = centred / y.flatten(1).norm(dim=1).clamp_min(1e-30)
    contrib = (y - x).norm(dim=-1) / x.norm(dim=-1).clamp_min(1e-30)
    return {"attn_entropy": float(entropy), "attn_logit_max": logit_max,
            "token_spread": float(spread.mean()), "block_contrib": float(contrib.mean())}


def _keep(target: list[Tensor]):
    return lambda _m, _args, out: target.append(out.detach())


def _keep_io(store: dict[str, list[Tensor]]):
    def hook(_m, args, out):
        store["in"].append(args[0].detach())
        store["out"].append((out[0] if isinstance(out, tuple) else out).detach())
    return hook
