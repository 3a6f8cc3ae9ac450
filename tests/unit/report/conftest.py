"""Run folders for the report tests, written with the real RunLog."""

import math

import numpy as np
import pytest

from layerwise import RunLog

HOSTILE_LAYER = "<script>alert(1)</script>"
LAYERS = ["embed", "blocks.0", "blocks.1", HOSTILE_LAYER, "blocks.10"]
STEPS = 30


def write_run(path, *, seed: int = 0, steps: int = STEPS, layers=LAYERS, broken: bool = True):
    """A run: grad_norm over 6 decades, act_mean of both signs, update_ratio with NaN/inf,
    dead_fraction on two layers only, loss every step and val_loss every 10 steps."""
    rng = np.random.default_rng(seed)
    meta = {
        "config": {"lr": 1e-3, "optim": {"name": "adamw", "betas": [0.9, 0.95]}, "note": "<i>cfg</i>"},
        "model": {"class": "TinyMLP", "parameters": 1234, "trainable": 1200,
                  "children": ["blocks: ModuleList"]},
        "monitor": {"layers": list(layers), "every": 1, "metrics": ["grad_norm", "act_mean"],
                    "unmonitored": {f"{HOSTILE_LAYER}:dead_fraction":
                                    "output is not a ReLU-family activation"}},
        "custom_field": {"owner": "<u>someone</u>"},
    }
    with RunLog(path, meta=meta, flush_every=10) as log:
        for step in range(steps):
            names, metrics, values = [], [], []
            for depth, layer in enumerate(layers):
                scale = 10.0 ** (-6 * depth / max(len(layers) - 1, 1))  # 1 down to 1e-6
                names += [layer] * 3
                metrics += ["grad_norm", "act_mean", "update_ratio"]
                ratio = rng.uniform(1e-4, 1e-3)
                if broken and depth == 2 and step in (5, 6):
                    ratio = math.nan if step == 5 else math.inf
                values += [scale * rng.uniform(0.5, 1.5), rng.normal(0.0, 0.5), ratio]
                if depth < 2:
                    names.append(layer)
                    metrics.append("dead_fraction")
                    values.append(rng.uniform(0.05, 0.3))
            log.log_many(step, names, metrics, values)
            log.log_scalars(step, loss=3.0 * math.exp(-step / 10) + (math.nan if broken and step == 7 else 0))
            if step % 10 == 0:
                log.log_scalars(step, val_loss=3.2 * math.exp(-step / 10))
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return [write_run(root / "base", seed=0), write_run(root / "fix", seed=1)]


@pytest.fixture
def run_writer():
    """``write_run(path, seed=..., steps=..., layers=..., broken=...)`` (see above)."""
    return write_run
