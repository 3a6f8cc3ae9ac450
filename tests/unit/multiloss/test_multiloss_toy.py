"""Every aggregator solves a toy: two conflicting quadratics, reach their Pareto set (the segment a-b)."""

import doctest
import importlib

import pytest
import torch

from layerwise.multiloss import MGDA, SAMGS, GCond, PCGrad, aggregate_backward

A, B = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def _distance_to_segment(w):
    t = float(((w - A) @ (B - A)) / ((B - A) @ (B - A)))
    return float((w - (A + min(max(t, 0.0), 1.0) * (B - A))).norm())


@pytest.mark.parametrize("factory", [PCGrad, MGDA, SAMGS, GCond, lambda: (lambda g: g.sum(0))])
def test_aggregator_reaches_the_pareto_set(factory):
    w = torch.nn.Parameter(torch.tensor([-2.0, -3.0]))
    opt = torch.optim.Adam([w], lr=0.05)
    agg = factory()
    for _ in range(300):
        opt.zero_grad()
        aggregate_backward([(w - A).pow(2).sum(), 10 * (w - B).pow(2).sum()], [w], agg)
        opt.step()
    assert _distance_to_segment(w.detach()) < 0.05


MODULES = ["grads", "base", "conflict", "pcgrad", "mgda", "min_norm", "samgs", "gcond", "gcond_trainer",
           "gradnorm", "annealing", "gated_mlp", "helmholtz"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"layerwise.multiloss.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
