import math

import pytest
import torch

from layerwise.data import MultiTaskRegression, multitask_regression


def _grads_at_zero(task):
    grads = []
    for k in range(task.y.shape[1]):
        w = torch.zeros(task.x.shape[1], requires_grad=True)
        loss = ((task.x @ w - task.y[:, k]) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, w)
        grads.append(grad.double())
    return grads


@pytest.mark.parametrize(("angle", "ratio"), [(90.0, 1.0), (30.0, 0.5), (135.0, 3.0)])
def test_gradient_angle_and_ratio_at_zero(angle, ratio):
    task = multitask_regression(n_tasks=3, angle_deg=angle, magnitude_ratio=ratio)
    grads = _grads_at_zero(task)
    for k in (1, 2):
        cos = torch.dot(grads[0], grads[k]) / (grads[0].norm() * grads[k].norm())
        assert math.degrees(math.acos(float(cos))) == pytest.approx(angle, abs=1e-4)
        assert float(grads[k].norm() / grads[0].norm()) == pytest.approx(ratio**k, abs=1e-4)
    torch.testing.assert_close(grads[1], -2 * task.weights[1].double(), atol=1e-5, rtol=0)


def test_inputs_are_whitened_and_fields():
    task = multitask_regression(n_samples=100, dim=8, n_tasks=2, noise=0.3)
    assert isinstance(task, MultiTaskRegression)
    assert task.x.shape == (100, 8) and task.y.shape == (100, 2) and task.weights.shape == (2, 8)
    assert task.x.dtype == task.y.dtype == task.weights.dtype == torch.float32
    torch.testing.assert_close(task.x.T @ task.x / 100, torch.eye(8), atol=1e-5, rtol=0)
    assert float(task.weights[0].norm()) == pytest.approx(1.0, abs=1e-6)
    residual = task.y - task.x @ task.weights.T
    assert float(residual.std()) == pytest.approx(0.3, rel=0.2)
    clean = multitask_regression(n_samples=100, dim=8, n_tasks=2)
    torch.testing.assert_close(clean.y, clean.x @ clean.weights.T, atol=1e-5, rtol=0)


def test_deterministic_and_errors():
    a, b, c = multitask_regression(seed=4), multitask_regression(seed=4), multitask_regression()
    assert torch.equal(a.x, b.x) and torch.equal(a.weights, b.weights)
    assert not torch.equal(a.x, c.x)
    with pytest.raises(ValueError, match="need n_samples >= dim >= max\\(2, n_tasks\\)"):
        multitask_regression(dim=16, n_samples=8)
    with pytest.raises(ValueError, match="0 <= angle_deg <= 180"):
        multitask_regression(angle_deg=200.0)
