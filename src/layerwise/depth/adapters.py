"""Model adapters: where the blocks, sublayers, final norm and unembedding of a model are.

Depth diagnostics (Do Language Models Use Their Depth Efficiently?, Csordás, Manning and Potts,
2025, arXiv 2505.13898; The Curse of Depth in Large Language Models, Sun et al., 2025, arXiv
2502.05795) need only forward hooks on a list of residual blocks and on their attention and MLP
branches. An :class:`Adapter` names those modules once, for any architecture:

* our :class:`~layerwise.models.GPT` (``blocks.N.attn``, ``blocks.N.mlp``, ``ln_f``, ``lm_head``);
* Hugging Face Llama-family causal LMs (``model.layers.N.self_attn``/``mlp``, ``model.norm``,
  ``lm_head``), e.g. SmolLM2-135M;
* Hugging Face BERT encoders (``encoder.layer.N``), e.g. all-MiniLM-L6-v2. BERT is Post-LN: the
  branch outputs are ``attention.output.dense`` and ``output.dense`` (before the add-and-norm);
* a plain residual stack: the first ``nn.ModuleList`` of the model, each block ``x + f(x)``.

Anything else raises an error that lists the module lists found and shows how to describe the
model explicitly. Example::

    >>> from layerwise.models import GPT
    >>> ad = adapt(GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20))
    >>> ad.kind, ad.n_layers, ad.names[0]
    ('gpt', 2, 'blocks.0')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

__all__ = ["Adapter", "UnsupportedModelError", "adapt", "first_tensor"]


class UnsupportedModelError(TypeError):
    """The model's blocks could not be found; the message says what was found and what to do."""


@dataclass
class Adapter:
    """The parts of a residual network that depth diagnostics hook into.

    ``attn[i]``/``mlp[i]`` output what block ``i`` adds to the residual (``None`` where a block
    has no such branch); ``mlp_in[i]`` optionally names a module whose *input* is the residual
    before the MLP (Post-LN models, where it is not ``x + attn``). ``causal`` says whether
    position ``t`` sees only positions ``<= t``.
    """

    blocks: Sequence[nn.Module]
    attn: Sequence[nn.Module | None] = ()
    mlp: Sequence[nn.Module | None] = ()
    final_norm: nn.Module | None = None
    unembed: nn.Module | None = None
    names: Sequence[str] = ()
    kind: str = "custom"
    causal: bool = True
    post_norm: bool = False
    mlp_in: Sequence[nn.Module | None] = ()
    model: nn.Module | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.blocks = list(self.blocks)
        n = len(self.blocks)
        if n == 0:
            raise UnsupportedModelError("an Adapter needs at least one block")
        self.attn = list(self.attn) or [None] * n
        self.mlp = list(self.mlp) or [None] * n
        self.mlp_in = list(self.mlp_in) or [None] * n
        self.names = list(self.names) or [f"blocks.{i}" for i in range(n)]
        for label, seq in (("attn", self.attn), ("mlp", self.mlp), ("mlp_in", self.mlp_in),
                           ("names", self.names)):
            if len(seq) != n:
                raise ValueError(f"Adapter: {label} has {len(seq)} entries for {n} blocks")

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def lens(self, h: Tensor) -> Tensor:
        """Logit lens of residual ``h``: ``unembed(final_norm(h))``."""
        if self.unembed is None:
            raise ValueError(f"{self.kind} model has no unembedding: the logit lens needs one")
        return self.unembed(self.final_norm(h) if self.final_norm is not None else h)


def first_tensor(out: object) -> Tensor:
    """The hidden states in a module's output (HF modules return tuples or ModelOutputs)."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, tuple | list) and out and isinstance(out[0], Tensor):
        return out[0]
    hidden = getattr(out, "last_hidden_state", None)
    if isinstance(hidden, Tensor):
        return hidden
    raise TypeError(f"cannot find the hidden states in a {type(out).__name__}")


def _named(model: nn.Module, prefix: str, blocks: nn.ModuleList) -> list[str]:
    return [f"{prefix}.{i}" if prefix else str(i) for i in range(len(blocks))]


def _gpt(model: nn.Module) -> Adapter:
    blocks = model.blocks
    return Adapter(blocks, [b.attn for b in blocks], [b.mlp for b in blocks], model.ln_f, model.lm_head,
                   _named(model, "blocks", blocks), "gpt", causal=True,
                   post_norm=getattr(blocks[0], "placement", "pre") == "post", model=model)


def _llama(model: nn.Module) -> Adapter:
    inner = model.model if hasattr(model, "model") else model
    blocks = inner.layers
    prefix = "model.layers" if inner is not model else "layers"
    return Adapter(blocks, [b.self_attn for b in blocks], [b.mlp for b in blocks], inner.norm,
                   getattr(model, "lm_head", None), _named(model, prefix, blocks), "llama",
                   causal=True, model=model)


def _bert(model: nn.Module) -> Adapter:
    inner = model.bert if hasattr(model, "bert") else model
    blocks = inner.encoder.layer
    prefix = "bert.encoder.layer" if inner is not model else "encoder.layer"
    return Adapter(blocks, [b.attention.output.dense for b in blocks], [b.output.dense for b in blocks],
                   None, None, _named(model, prefix, blocks), "bert", causal=False, post_norm=True,
                   mlp_in=[b.intermediate for b in blocks], model=model)


def _residual(model: nn.Module, name: str, blocks: nn.ModuleList) -> Adapter:
    final = getattr(model, "norm", None) or getattr(model, "ln_f", None)
    head = getattr(model, "head", None) or getattr(model, "lm_head", None)
    return Adapter(blocks, final_norm=final, unembed=head, names=_named(model, name, blocks),
                   kind="residual", causal=False, model=model)


def _module_lists(model: nn.Module) -> list[tuple[str, nn.ModuleList]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList | nn.Sequential)
            and len(m) > 0 and n]


def _unsupported(model: nn.Module) -> UnsupportedModelError:
    found = _module_lists(model)
    listed = "; ".join(f"{n} ({len(m)} x {type(m[0]).__name__})" for n, m in found[:8]) or "none"
    return UnsupportedModelError(
        f"cannot find the residual blocks of {type(model).__name__}. Module lists found: {listed}. "
        "Describe the model explicitly, e.g. Adapter(blocks=model.layers, attn=[b.attn for b in "
        "model.layers], mlp=[b.ff for b in model.layers], final_norm=model.norm, unembed=model.head), "
        "and pass it instead of the model.")


def adapt(model: nn.Module | Adapter, *, residual: bool | None = None) -> Adapter:
    """An :class:`Adapter` for ``model`` (an Adapter is returned unchanged).

    The plain residual stack is only assumed when its blocks are not recognised otherwise and
    ``residual`` is not False: its single ModuleList's blocks must compute ``x + f(x)``.
    """
    if isinstance(model, Adapter):
        return model
    names = {type(m).__name__ for m in model.modules()}
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and all(hasattr(b, "attn") and hasattr(b, "mlp") for b in blocks) \
            and hasattr(model, "ln_f") and hasattr(model, "lm_head"):
        return _gpt(model)
    if any(n.endswith("DecoderLayer") for n in names) and hasattr(getattr(model, "model", model), "layers"):
        return _llama(model)
    if "BertLayer" in names:
        return _bert(model)
    lists = [(n, m) for n, m in _module_lists(model) if isinstance(m, nn.ModuleList) and "." not in n]
    if residual is not False and len(lists) == 1:
        return _residual(model, *lists[0])
    raise _unsupported(model)
