"""``Trial``: what one run of one arm for one seed knows about itself (folder, seed, metadata)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Trial:
    """One arm for one seed. The runner has already seeded torch, numpy and random with ``seed``,
    so every arm of a seed starts from the same initialisation and data order (paired arms)."""

    study: str
    arm: str
    seed: int
    run_dir: Path
    config: Any
    size: str
    on_progress: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)

    def progress(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` steps of this trial (the runner shows them with an ETA)."""
        if self.on_progress is not None:
            self.on_progress(done, total)

    @property
    def meta(self) -> dict[str, Any]:
        """Run metadata every RunLog of this trial carries."""
        return {"study": self.study, "arm": self.arm, "seed": self.seed, "size": self.size,
                "config": dataclasses.asdict(self.config)}

    def monitor(self, model: torch.nn.Module, **kwargs: Any):
        """A Monitor logging into this trial's folder, or into ``log=`` (a RunLog from
        :meth:`runlog`, for several Monitors in one run); ``on_nonfinite="record"``: a diverging
        run is recorded, not raised, and the study scores it."""
        from layerwise.monitor import Monitor

        kwargs.setdefault("on_nonfinite", "record")
        if "log" not in kwargs:
            kwargs.update(log=self.run_dir, meta={**self.meta, **kwargs.get("meta", {})})
        return Monitor(model, **kwargs)

    def runlog(self, sub: str | None = None):
        """A RunLog with the trial's metadata in its folder (or in the subfolder ``sub``)."""
        from layerwise.monitor import RunLog

        return RunLog(self.run_dir / sub if sub else self.run_dir, meta=self.meta)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the trial's seed (``offset`` separates streams)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)
