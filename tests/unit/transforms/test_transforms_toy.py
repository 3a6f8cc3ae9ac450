"""Every transform solves a toy problem: SGD + transform minimises a heterogeneous quadratic."""

import pytest
import torch
from torch import nn

from layerwise.transforms import (
    TransformedOptimizer,
    add_noise,
    by_module,
    chain,
    clip_per_layer,
    grad_reverse,
    identity,
    normalize_per_layer,
    partition,
    project_to_init_norm,
)

CASES = {
    "identity": (identity, 0.3, False),
    "add_noise": (lambda: add_noise(eta=0.01, seed=1), 0.1, False),
    "clip_per_tensor": (lambda: clip_per_layer(C=0.5, mode="per_tensor"), 0.3, False),
    "clip_uniform": (lambda: clip_per_layer(C=0.5, mode="uniform"), 0.3, False),
    "clip_per_dimension": (lambda: clip_per_layer(C=0.5, mode="per_dimension", group=by_module), 0.3, False),
    "clip_global": (lambda: clip_per_layer(C=0.5, mode="global"), 0.3, False),
    "normalize_per_layer": (normalize_per_layer, 0.3, True),
    "clip_then_noise": (lambda: chain(clip_per_layer(C=1.0), add_noise(eta=0.01)), 0.1, False),
    "partition": (lambda: partition({"a.*": normalize_per_layer()}, clip_per_layer(C=5.0)), 0.3, True),
}


def _quadratic():
    gen = torch.Generator().manual_seed(0)
    shapes = {"a.weight": (5,), "b.weight": (3, 4), "b.bias": (2,)}
    curv = {"a.weight": 1.0, "b.weight": 0.3, "b.bias": 3.0}  # heterogeneous curvature
    targets = {n: torch.randn(s, generator=gen) * 2 for n, s in shapes.items()}
    params = {n: nn.Parameter(torch.zeros(s)) for n, s in shapes.items()}

    def loss():
        return sum(0.5 * curv[n] * (params[n] - targets[n]).square().sum() for n in params)

    def distance():
        return torch.sqrt(sum((params[n] - targets[n]).square().sum() for n in params)).item()

    return params, loss, distance


@pytest.mark.parametrize("case", list(CASES))
def test_sgd_with_transform_minimises_a_quadratic(case):
    make, lr, decay = CASES[case]
    params, loss, distance = _quadratic()
    start = distance()
    opt = TransformedOptimizer(torch.optim.SGD(params.values(), lr=lr), make(), params)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt.optimizer, gamma=0.97 if decay else 1.0)
    for _ in range(300):
        opt.zero_grad()
        loss().backward()
        opt.step()
        sched.step()
    assert distance() < 0.03 * start, (case, start, distance())


def test_gradient_reversal_turns_descent_into_ascent():
    w = nn.Parameter(torch.zeros(3))
    target = torch.tensor([3.0, -1.0, 0.5])
    opt = torch.optim.SGD([w], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        # f(w) = -||w - target||^2 is concave; through the reversal, SGD *ascends* it to its maximum
        (-(grad_reverse(w, 1.0) - target).square().sum()).backward()
        opt.step()
    torch.testing.assert_close(w.detach(), target, atol=1e-4, rtol=0)


def test_projection_solves_a_scale_invariant_problem_on_the_sphere():
    gen = torch.Generator().manual_seed(0)
    w = nn.Parameter(torch.randn(4, 4, generator=gen))
    target = torch.randn(4, 4, generator=gen)
    rho = w.detach().norm().item()
    opt = TransformedOptimizer(torch.optim.SGD([w], lr=2.0), identity(), {"w": w})
    opt.add_post_step_hook(project_to_init_norm({"w": w}))
    for _ in range(200):
        opt.zero_grad()
        (1 - torch.nn.functional.cosine_similarity(w.reshape(1, -1), target.reshape(1, -1))).sum().backward()
        opt.step()
    cos = torch.nn.functional.cosine_similarity(w.detach().reshape(1, -1), target.reshape(1, -1)).item()
    assert cos > 0.999 and w.detach().norm().item() == pytest.approx(rho, rel=1e-6)
