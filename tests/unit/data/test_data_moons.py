import math

import numpy as np
import pytest
import torch

from layerwise.data import DomainShift, two_moons_shift


def _circle_centre(points):
    """Algebraic least-squares circle fit: x^2 + y^2 = 2 a x + 2 b y + c."""
    p = points.double().numpy()
    design = np.column_stack([2 * p[:, 0], 2 * p[:, 1], np.ones(len(p))])
    solution, *_ = np.linalg.lstsq(design, (p**2).sum(1), rcond=None)
    return solution[:2]


@pytest.mark.parametrize("angle", [35.0, -70.0, 120.0])
def test_rotation_angle_is_recovered_exactly(angle):
    task = two_moons_shift(n_source=200, n_target=201, angle_deg=angle, noise=0.0, seed=3)
    centres = [_circle_centre(task.x_target[task.y_target == k]) for k in (0, 1)]
    offset = centres[1] - centres[0]  # unrotated: (1, 0.5) - (0, 0)
    recovered = math.degrees(math.atan2(offset[1], offset[0]) - math.atan2(0.5, 1.0))
    assert (recovered - angle + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-4)
    c = task.centre.double().numpy()
    assert np.linalg.norm(centres[0] - c) == pytest.approx(math.hypot(0.5, 0.25), abs=1e-5)
    radii = (task.x_target[task.y_target == 0].double() - torch.from_numpy(centres[0])).norm(dim=1)
    torch.testing.assert_close(radii, torch.ones_like(radii), atol=1e-5, rtol=0)


def test_zero_angle_keeps_the_source_geometry():
    task = two_moons_shift(angle_deg=0.0, noise=0.0)
    for x, y in ((task.x_source, task.y_source), (task.x_target, task.y_target)):
        assert _circle_centre(x[y == 0]) == pytest.approx([0.0, 0.0], abs=1e-5)
        assert _circle_centre(x[y == 1]) == pytest.approx([1.0, 0.5], abs=1e-5)


def test_fields_balance_and_determinism():
    task = two_moons_shift(n_source=101, n_target=60)
    assert isinstance(task, DomainShift) and task.angle_deg == 35.0
    assert task.x_source.shape == (101, 2) and task.x_target.shape == (60, 2)
    assert task.x_source.dtype == torch.float32 and task.y_target.dtype == torch.int64
    assert torch.bincount(task.y_source).tolist() == [50, 51]
    assert torch.bincount(task.y_target).tolist() == [30, 30]
    again, other = two_moons_shift(n_source=101, n_target=60), two_moons_shift(seed=1)
    assert torch.equal(task.x_target, again.x_target) and torch.equal(task.y_source, again.y_source)
    assert not torch.equal(two_moons_shift().x_source, other.x_source)


def test_errors():
    with pytest.raises(ValueError, match="noise >= 0"):
        two_moons_shift(noise=-1.0)
