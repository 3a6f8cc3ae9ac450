"""``LayerwiseCallback`` for Lightning (``pip install layerwise[lightning]``).

The callback opens a Monitor on the LightningModule and its first optimizer when fitting starts
and closes each training batch with ``observe(global_step - 1)`` once the optimizer has stepped
(gradient accumulation: the batches of one optimizer step form one step). Validation and sanity
checks run with the module in eval mode and are not recorded (``train_only``); the module's
``self.log`` values reach the RunLog as model-level scalars at every logged step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from layerwise.monitor import Monitor


class LayerwiseCallback(Callback):
    """Per-layer monitoring of a Lightning ``Trainer.fit`` into ``log`` (a run folder);
    ``monitor_kwargs`` go to :class:`layerwise.Monitor` (``metrics``, ``layers``, ``every``...)."""

    def __init__(self, log: str | Path, **monitor_kwargs: Any) -> None:
        self.run_dir = log
        self.kwargs = {"on_nonfinite": "record", **monitor_kwargs, "train_only": True}
        self.monitor: Monitor | None = None
        self._seen = 0

    def on_fit_start(self, trainer, pl_module) -> None:
        if not trainer.optimizers:
            raise ValueError("the Trainer has no optimizer at fit start: return one from "
                             "configure_optimizers()")
        self.monitor = Monitor(pl_module, optimizer=trainer.optimizers[0], log=self.run_dir, **self.kwargs)
        self._seen = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.monitor is None or trainer.global_step == self._seen:
            return  # an accumulation micro-batch: the optimizer has not stepped yet
        self._seen = trainer.global_step
        self.monitor.observe(trainer.global_step - 1)
        numbers = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if numbers:
            self.monitor.log_scalars(trainer.global_step - 1, **numbers)

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
