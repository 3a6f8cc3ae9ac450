"""Checkpoints of a doctor run: :func:`layerwise.doctor._setup.train` saves them every
``Setup.checkpoint_every`` steps, and ``verify(..., restart="checkpoint")`` restarts a treated run
from the last one before a symptom's onset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from layerwise.monitor.monitor import unwrap_optimizer

if TYPE_CHECKING:
    from layerwise.doctor._setup import Setup


def save_checkpoint(setup: Setup, run: Path, step: int) -> Path:
    """``run/checkpoints/step-NNNNNN.pt``: the model's and the (innermost) optimizer's state at
    the start of ``step``."""
    path = run / "checkpoints" / f"step-{step:06d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": step, "model": setup.model.state_dict(),
                "optimizer": unwrap_optimizer(setup.optimizer).state_dict()}, path)
    return path


def checkpoints(run: str | Path) -> dict[int, Path]:
    """The checkpoints :func:`layerwise.doctor._setup.train` saved in the run folder ``run``, by step."""
    return {int(p.stem.split("-")[1]): p for p in sorted(Path(run).glob("checkpoints/step-*.pt"))}


def restore(setup: Setup, path: str | Path) -> int:
    """Load a checkpoint into a fresh ``setup`` of the same recipe and seed (before any remedy
    edits its model); returns the step to train from."""
    state = torch.load(path, weights_only=True)
    setup.model.load_state_dict(state["model"])
    unwrap_optimizer(setup.optimizer).load_state_dict(state["optimizer"])
    return int(state["step"])
