"""GCondTrainer: GCond's accumulation phase (stochastic or classical) feeding its aggregator.

GCond (arXiv 2509.07252, official ``grad_conductor.py``) accumulates each task's gradient over
``accumulation_steps`` batches before resolving conflicts once:

* stochastic mode (default): ``accumulation_steps`` must be divisible by the number of tasks K;
  each task gets its own ``accumulation_steps / K`` fresh batches, one forward and one backward
  pass per batch: ``accumulation_steps`` backward passes per step. This is the ~2x saving for K=2.
* classical mode: every batch serves every loss: ``accumulation_steps * K`` backward passes
  (here one forward per batch, then K backward passes through the retained graph; the official
  code runs a forward per loss, which gives the same gradients).

Each task's gradient is scaled by lambda_k / (batches per task) and summed. As in the official
code (``freeze_bn=True``), the whole model is in ``eval()`` mode during accumulation (BatchNorm
uses running statistics, dropout is off) and its mode is restored afterwards; pass
``eval_mode=False`` to keep it as it is. The aggregated gradient goes to ``p.grad``; then call
the optimizer.

Example::

    >>> import torch
    >>> from torch import nn
    >>> from layerwise.multiloss import GCondTrainer
    >>> model = nn.Linear(3, 1)
    >>> data = lambda: (torch.randn(8, 3), torch.randn(8, 1))
    >>> trainer = GCondTrainer(model, {"mse": nn.functional.mse_loss, "l1": nn.functional.l1_loss},
    ...                        accumulation_steps=4)
    >>> stats = trainer.step(data)
    >>> stats["backward_passes"], model.weight.grad.shape
    (4, torch.Size([1, 3]))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from layerwise._registry import register
from layerwise.multiloss.gcond import GCOND_PAPER, GCond
from layerwise.multiloss.grads import _flat, write_grad

LossFn = Callable[[Any, Any], Tensor]


def _call(model: nn.Module, x: Any) -> Any:
    if isinstance(x, Mapping):
        return model(**x)
    if isinstance(x, tuple | list):
        return model(*x)
    return model(x)


@register("gcond_trainer", kind="scheme", paper=GCOND_PAPER, arxiv="2509.07252")
class GCondTrainer:
    """Accumulate per-task gradients GCond's way, resolve them with an aggregator, fill ``p.grad``.

    Args:
        model: the network; ``model(x)`` is passed to each ``loss_fn(output, y)``.
        loss_fns: task losses, a mapping name -> fn or a sequence (named "0", "1", ...).
        aggregator: called on the (K, P) accumulated gradients; default ``GCond()``. Any
            aggregator works, including ``PerLayer(GCond, layout)``.
        lambdas: per-task weights (default 1).
        accumulation_steps: batches per step (the README recommends 24).
        stochastic: stochastic (True) or classical accumulation.
        eval_mode: put the model in eval() mode while accumulating, as the official code does.
        params: the parameters to differentiate (default: the model's trainable parameters).
    """

    def __init__(self, model: nn.Module, loss_fns: Mapping[str, LossFn] | Sequence[LossFn], *,
                 aggregator: Callable[[Tensor], Tensor] | None = None, lambdas: Sequence[float] | None = None,
                 accumulation_steps: int = 24, stochastic: bool = True, eval_mode: bool = True,
                 params: Iterable[Tensor] | None = None) -> None:
        items = list(loss_fns.items()) if isinstance(loss_fns, Mapping) else [
            (str(i), fn) for i, fn in enumerate(loss_fns)]
        if not items:
            raise ValueError("no loss functions given")
        self.names = [name for name, _ in items]
        self.loss_fns = [fn for _, fn in items]
        k = len(self.loss_fns)
        self.lambdas = [1.0] * k if lambdas is None else [float(v) for v in lambdas]
        if len(self.lambdas) != k:
            raise ValueError(f"{len(self.lambdas)} lambdas for {k} losses")
        if accumulation_steps < 1 or (stochastic and accumulation_steps % k):
            raise ValueError(f"accumulation_steps={accumulation_steps} must be >= 1"
                             + (f" and divisible by the number of losses ({k}) in stochastic mode"
                                if stochastic else ""))
        self.model = model
        self.params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
        self.aggregator = aggregator if aggregator is not None else GCond()
        self.accumulation_steps, self.stochastic, self.eval_mode = accumulation_steps, stochastic, eval_mode
        self.backward_passes = 0

    def _grad(self, loss: Tensor, retain: bool) -> Tensor:
        self.backward_passes += 1
        grads = torch.autograd.grad(loss, self.params, retain_graph=retain, allow_unused=True)
        return _flat(grads, self.params).detach()

    def accumulate(self, data_provider: Callable[[], tuple[Any, Any]]) -> tuple[Tensor, list[float]]:
        """The (K, P) matrix of accumulated task gradients and the mean loss of each task."""
        k = len(self.loss_fns)
        rows: list[Tensor | None] = [None] * k
        sums: list[list[Tensor]] = [[] for _ in range(k)]  # losses stay on the device until the end
        was_training = self.model.training
        if self.eval_mode:
            self.model.eval()
        try:
            with torch.enable_grad():
                if self.stochastic:
                    per_task = self.accumulation_steps // k
                    for t, fn in enumerate(self.loss_fns):
                        for _ in range(per_task):
                            x, y = data_provider()
                            raw = fn(_call(self.model, x), y)
                            g = self._grad(raw * (self.lambdas[t] / per_task), retain=False)
                            rows[t] = g if rows[t] is None else rows[t] + g
                            sums[t].append(raw.detach())
                else:
                    n = self.accumulation_steps
                    for _ in range(n):
                        x, y = data_provider()
                        out = _call(self.model, x)
                        for t, fn in enumerate(self.loss_fns):
                            raw = fn(out, y)
                            g = self._grad(raw * (self.lambdas[t] / n), retain=t < k - 1)
                            rows[t] = g if rows[t] is None else rows[t] + g
                            sums[t].append(raw.detach())
        finally:
            self.model.train(was_training)
        means = torch.stack([torch.stack(v).mean() for v in sums]).tolist()  # one host sync
        return torch.stack(rows), means

    def step(self, data_provider: Callable[[], tuple[Any, Any]]) -> dict[str, Any]:
        """Accumulate, aggregate, write ``p.grad``; return losses, backward passes, aggregator stats."""
        before = self.backward_passes
        grads, losses = self.accumulate(data_provider)
        update = self.aggregator(grads)
        write_grad(self.params, update)
        stats: dict[str, Any] = {f"loss/{n}": v for n, v in zip(self.names, losses, strict=True)}
        stats["backward_passes"] = self.backward_passes - before
        stats.update(getattr(self.aggregator, "last_stats", {}))
        return stats
