"""``LayerwiseCallback``: the Monitor inside a Hugging Face ``Trainer`` (``pip install layerwise[hf]``).

The callback opens a Monitor on the Trainer's model and optimizer when training begins (the
accelerate wrapper is unwrapped to the torch optimizer), closes each optimizer step with
``observe(global_step - 1)``, and ignores evaluation passes (``train_only``: a module in eval mode
is not recorded), so evaluation never replaces a training step's statistics. The Trainer's logged
numbers (loss, learning rate, eval metrics) go into the same RunLog as model-level scalars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from layerwise.monitor import Monitor


class LayerwiseCallback(TrainerCallback):
    """Per-layer monitoring of a ``Trainer`` run into ``log`` (a run folder).

    ``monitor_kwargs`` go to :class:`layerwise.Monitor` (``metrics``, ``layers``, ``every``...).
    Example: ``Trainer(..., callbacks=[LayerwiseCallback("runs/hf")])``.
    """

    def __init__(self, log: str | Path, **monitor_kwargs: Any) -> None:
        self.run_dir = log
        self.kwargs = {"on_nonfinite": "record", **monitor_kwargs, "train_only": True}
        self.monitor: Monitor | None = None

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if model is None:
            raise ValueError("LayerwiseCallback needs the Trainer's model at on_train_begin; "
                             "pass it to Trainer(model=...)")
        if optimizer is None:
            raise ValueError("the Trainer has no optimizer yet at on_train_begin; create it before "
                             "training (Trainer(optimizers=...)) or let Trainer.train() build it")
        self.monitor = Monitor(model, optimizer=optimizer, log=self.run_dir, **self.kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.monitor is not None:
            self.monitor.observe(state.global_step - 1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.monitor is not None and logs:
            numbers = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
            if numbers:
                self.monitor.log_scalars(max(state.global_step - 1, 0), **numbers)

    def on_train_end(self, args, state, control, **kwargs):
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
