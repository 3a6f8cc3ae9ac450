"""Several forward passes in one step: micro-batches are combined, checkpoint recomputes are not."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from layerwise import Monitor

METRICS = ["act_rms", "act_mean", "act_max", "dead_fraction", "bias_shift", "act_grad_norm", "grad_norm"]


class Net(nn.Module):
    def __init__(self, checkpointed: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(6, 6), nn.ReLU()) for _ in range(3)])
        self.head = nn.Linear(6, 3)
        self.checkpointed = checkpointed

    def forward(self, x):
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.checkpointed else block(x)
        return self.head(x)


def _rows(model, batches, metrics=METRICS):
    with Monitor(model, metrics=metrics) as mon:
        with mon.step(0):
            for x, y in batches:
                (F.cross_entropy(model(x), y) / len(batches)).backward()
        return {(r["layer"], r["metric"]): r["value"] for r in mon.table().to_pylist() if r["layer"]}


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(3)
    return torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


@pytest.mark.parametrize("metrics", [METRICS, ["act_rms", "dead_fraction"], ["act_mean", "bias_shift"],
                                     ["act_max", "act_grad_norm"]])
def test_two_micro_batches_give_the_statistics_of_the_whole_batch(batch, metrics):
    """Per-unit and whole-output reductions mix differently by metric set (the stacked path
    keeps per-unit sums only for bias_shift, per-unit maxima only for dead_fraction)."""
    x, y = batch
    whole = _rows(Net(), [(x, y)], metrics)
    micro = _rows(Net(), [(x[:4], y[:4]), (x[4:], y[4:])], metrics)
    assert whole.keys() == micro.keys() and len(whole) == 3 * len({*metrics, "act_max"})  # act_max: always
    for key, value in whole.items():
        assert micro[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_activation_checkpointing_counts_a_forward_once(batch):
    x, y = batch
    plain = _rows(Net(), [(x, y)])
    recomputed = _rows(Net(checkpointed=True), [(x, y)])
    assert recomputed.keys() == plain.keys()
    for key, value in plain.items():
        assert recomputed[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
