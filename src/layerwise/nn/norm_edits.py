"""Norm edits on existing models: move the norms (pre/post/peri) or scale them by depth (LNS).

* Peri-LN: Revisiting Layer Normalization in the Transformer Architecture (Kim et al., 2025,
  arXiv 2502.02732): ``x + Norm_out(F(Norm_in(x)))``. ``apply_norm_placement(model, "peri")`` adds
  one output norm per sublayer (attention and MLP) by wrapping the sublayer in :class:`OutputNorm`.
* The Curse of Depth in Large Language Models (LayerNorm Scaling; Sun et al., 2025, arXiv
  2502.05795): ``apply_layernorm_scaling(model)`` wraps every norm of block ``l`` (1-indexed) in
  :class:`~layerwise.nn.DepthScaledNorm`, multiplying its output by ``1/sqrt(l)``.

Norms and sublayers are found by path, for three layouts:

* layerwise ``GPT``/``ViT`` blocks (``blocks.N.{ln1, attn, ln2, mlp}``): every placement;
* Hugging Face Llama-family decoders (``model.layers.N.{input_layernorm, self_attn,
  post_attention_layernorm, mlp}``: Llama, Mistral, Qwen2, SmolLM2): "pre" (their own layout) and
  "peri"; "post" needs a norm after the residual add, which the HF forward does not expose;
* Hugging Face BERT encoders (``encoder.layer.N.{attention.output, output}.LayerNorm``): "post"
  (their own layout); LNS wraps both norms (the paper defines LNS for Pre-LN only).

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> from layerwise.nn.norm_edits import apply_norm_placement, apply_layernorm_scaling
    >>> gpt = GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> apply_norm_placement(gpt, "peri")
    ['blocks.0.ln1_out', 'blocks.0.ln2_out', 'blocks.1.ln1_out', 'blocks.1.ln2_out']
    >>> apply_layernorm_scaling(gpt)[:2]
    ['blocks.0.ln1', 'blocks.0.ln1_out']
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from layerwise._registry import register
from layerwise.layers import get_module
from layerwise.nn.depth_scaled_norm import DepthScaledNorm

PERI = ("Peri-LN: Revisiting Layer Normalization in the Transformer Architecture (Kim et al., 2025)",
        "2502.02732")
LNS = ("The Curse of Depth in Large Language Models (Sun et al., 2025)", "2502.05795")

# layout name -> (path of the block list, norm paths inside a block, sublayer paths, own placement)
LAYOUTS = {
    "layerwise": ("blocks", ("ln1", "ln1_out", "ln2", "ln2_out"), ("attn", "mlp"), None),
    "llama": ("model.layers", ("input_layernorm", "post_attention_layernorm"), ("self_attn", "mlp"), "pre"),
    "bert": ("encoder.layer", ("attention.output.LayerNorm", "output.LayerNorm"), (), "post"),
}


class OutputNorm(nn.Module):
    """``norm(sublayer(x))``: the Peri-LN output norm around a sublayer (``.sublayer``, ``.norm``).

    A tuple output (Hugging Face attention returns ``(hidden, weights)``) has its first item normed.
    """

    def __init__(self, sublayer: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.sublayer = sublayer
        self.norm = norm

    def forward(self, *args, **kwargs):
        out = self.sublayer(*args, **kwargs)
        if isinstance(out, tuple):
            return (self.norm(out[0]), *out[1:])
        return self.norm(out)


def find_layout(model: nn.Module) -> tuple[str, list[nn.Module]]:
    """The layout name of ``model`` and its blocks, in depth order; LookupError if unknown."""
    modules = dict(model.named_modules())
    for name, (path, norms, _, _) in LAYOUTS.items():
        blocks = modules.get(path)
        if isinstance(blocks, nn.ModuleList) and len(blocks) and _has(blocks[0], norms[0]):
            return name, list(blocks)
    raise LookupError("no known block layout (layerwise GPT/ViT 'blocks', HF Llama 'model.layers', "
                      "HF BERT 'encoder.layer'): wrap the norms with layerwise.nn.DepthScaledNorm by hand")


def _has(module: nn.Module, path: str) -> bool:
    try:
        get_module(module, path)
    except LookupError:
        return False
    return True


def _set(module: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(get_module(module, parent) if parent else module, leaf, new)


def _prefix(model: nn.Module, layout: str, i: int) -> str:
    return f"{LAYOUTS[layout][0]}.{i}"


@register("layernorm_scaling", kind="edit", paper=LNS[0], arxiv=LNS[1])
def apply_layernorm_scaling(model: nn.Module) -> list[str]:
    """Wrap every norm of block ``l`` (1-indexed) in ``DepthScaledNorm(norm, l)``, in place.

    Returns the dotted names of the wrapped norms. Norms already wrapped are left alone, so a
    second call changes nothing. Block 1's factor is exactly 1.
    """
    layout, blocks = find_layout(model)
    done = []
    for i, block in enumerate(blocks):
        for path in LAYOUTS[layout][1]:
            if not _has(block, path):
                continue
            norm = get_module(block, path)
            if not isinstance(norm, DepthScaledNorm):
                _set(block, path, DepthScaledNorm(norm, i + 1))
                done.append(f"{_prefix(model, layout, i)}.{path}")
    return done


@register("norm_placement", kind="edit", paper=PERI[0], arxiv=PERI[1])
def apply_norm_placement(model: nn.Module, placement: str) -> list[str]:
    """Move the norms of ``model`` to ``placement`` ("pre", "post" or "peri"), in place.

    Returns the dotted names of the norms added. The edit keeps every existing weight; new norms
    start at unit gain and zero bias. On a model already in ``placement`` it changes nothing.
    """
    if placement not in ("pre", "post", "peri"):
        raise ValueError(f"unknown placement {placement!r}; use 'pre', 'post' or 'peri'")
    layout, blocks = find_layout(model)
    if layout == "layerwise":
        return _layerwise_placement(model, blocks, placement)
    own = LAYOUTS[layout][3]
    if placement == own:
        return []
    if layout == "llama" and placement == "peri":
        return _wrap_outputs(model, layout, blocks)
    raise NotImplementedError(f"{layout} models are {own}-LN and their forward fixes where the residual "
                              f"add happens; only {own!r}" + (" and 'peri'" if layout == "llama" else "")
                              + " are supported. Use layerwise.models.GPT(placement=...) for others.")


def _fresh_norm(like: nn.Module) -> nn.Module:
    """A copy of ``like`` (unwrapped from DepthScaledNorm) reset to unit gain and zero bias."""
    base = like.norm if isinstance(like, DepthScaledNorm) else like
    new = copy.deepcopy(base)
    with torch.no_grad():
        for name, p in new.named_parameters():
            p.fill_(1.0 if name.endswith("weight") else 0.0)
    return DepthScaledNorm(new, like.layer_index) if isinstance(like, DepthScaledNorm) else new


def _wrap_outputs(model: nn.Module, layout: str, blocks: list[nn.Module]) -> list[str]:
    added = []
    norm_paths, sublayers = LAYOUTS[layout][1], LAYOUTS[layout][2]
    for i, block in enumerate(blocks):
        for sub, norm_path in zip(sublayers, norm_paths, strict=True):
            module = get_module(block, sub)
            if isinstance(module, OutputNorm):
                continue
            _set(block, sub, OutputNorm(module, _fresh_norm(get_module(block, norm_path))))
            added.append(f"{_prefix(model, layout, i)}.{sub}.norm")
    return added


def _layerwise_placement(model: nn.Module, blocks: list[nn.Module], placement: str) -> list[str]:
    """Our blocks read ``placement`` in forward; peri keeps its output norms as ``ln1_out/ln2_out``."""
    added = []
    for i, block in enumerate(blocks):
        for norm_path in ("ln1", "ln2"):
            out = f"{norm_path}_out"
            if placement == "peri" and not hasattr(block, out):
                setattr(block, out, _fresh_norm(getattr(block, norm_path)))
                added.append(f"blocks.{i}.{out}")
            elif placement != "peri" and hasattr(block, out):
                delattr(block, out)
        block.placement = placement
    _final_norm(model, blocks, placement)
    return added


def _final_norm(model: nn.Module, blocks: list[nn.Module], placement: str) -> None:
    """Post-LN blocks end in a norm, so the final norm is Identity there (as in ``GPT``)."""
    final = getattr(model, "ln_f", None)
    if final is None:
        return
    if placement == "post":
        model.ln_f = nn.Identity()  # the old final norm's weights are dropped
    elif isinstance(final, nn.Identity):
        model.ln_f = _fresh_norm(_plain(blocks[0].ln1))


def _plain(norm: nn.Module) -> nn.Module:
    return norm.norm if isinstance(norm, DepthScaledNorm) else norm
