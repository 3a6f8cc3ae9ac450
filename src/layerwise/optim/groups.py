"""Route a model's parameters: 2-D hidden matrices to Muon, everything else to AdamW (or Signum).

Muon is meant for hidden weight matrices only; the input embedding, the output head, biases and
norm gains go to an element-wise method (Jordan et al., 2024). The rule here, by dotted name:

- a tensor is *hidden* when it is 2-D, trainable, not owned by an ``nn.Embedding``, not the output
  head, and its name matches none of the ``exclude`` globs;
- the output head is the last ``nn.Linear`` registered in the model (``head="last"``), or the modules
  whose names match the ``head`` glob, or nothing (``head=None``);
- tied tensors (a head sharing the embedding's weight) are counted once, under their first name.

Convolution kernels (4-D) stay with AdamW; flatten them yourself if you want Muon there.

Example::

    >>> from torch import nn
    >>> from layerwise.optim.groups import split_hidden_matrices
    >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> hidden, rest = split_hidden_matrices(model)
    >>> [n for n, _ in hidden], [n for n, _ in rest]
    (['0.weight', '2.weight'], ['0.bias', '2.bias', '4.weight', '4.bias'])
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

Named = list[tuple[str, Tensor]]


def _head_modules(model: nn.Module, head: str | None) -> set[str]:
    if head is None:
        return set()
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if head == "last":
        return set(linears[-1:])
    return {name for name, _ in model.named_modules() if fnmatch.fnmatch(name, head)}


def split_hidden_matrices(
    model: nn.Module, *, exclude: Sequence[str] = (), head: str | None = "last"
) -> tuple[Named, Named]:
    """(hidden 2-D matrices, all other trainable tensors), each a list of (dotted name, parameter)."""
    heads = _head_modules(model, head)
    embeddings = {name for name, m in model.named_modules() if isinstance(m, nn.Embedding)}
    owner_of: dict[int, str] = {}
    for mod_name, module in model.named_modules():
        for p in module.parameters(recurse=False):
            owner_of.setdefault(id(p), mod_name)
    # A tied head weight belongs to its head module too.
    special = {
        id(p) for name in heads | embeddings for p in model.get_submodule(name).parameters(recurse=False)
    }
    hidden: Named = []
    rest: Named = []
    for name, p in model.named_parameters():  # deduplicates tied tensors
        if not p.requires_grad:
            continue
        is_hidden = (
            p.dim() == 2
            and id(p) not in special
            and owner_of.get(id(p)) not in embeddings
            and not any(fnmatch.fnmatch(name, pat) for pat in exclude)
        )
        (hidden if is_hidden else rest).append((name, p))
    return hidden, rest


def muon_param_groups(
    model: nn.Module,
    *,
    lr: float = 0.02,
    adamw_lr: float = 3e-4,
    weight_decay: float = 0.0,
    adamw_weight_decay: float = 0.0,
    exclude: Sequence[str] = (),
    head: str | None = "last",
) -> list[dict[str, Any]]:
    """Parameter groups for ``layerwise.optim.Muon``: one Muon group, one AdamW group (with names)."""
    hidden, rest = split_hidden_matrices(model, exclude=exclude, head=head)
    groups = [
        {
            "params": [p for _, p in hidden],
            "names": [n for n, _ in hidden],
            "algorithm": "muon",
            "lr": lr,
            "weight_decay": weight_decay,
        },
        {
            "params": [p for _, p in rest],
            "names": [n for n, _ in rest],
            "algorithm": "adamw",
            "lr": adamw_lr,
            "weight_decay": adamw_weight_decay,
        },
    ]
    return [g for g in groups if g["params"]]
