"""CNN reference model: 1-D and 2-D inputs, pooling floor, parameter count, training."""

import pytest
import torch

from layerwise._registry import get
from layerwise.layers import block_names
from layerwise.models import CNN


def cnn_params(in_ch, channels, classes, dim):
    """Closed form: bias-free 3^dim convs, BatchNorm (2 per channel), linear head."""
    widths = [in_ch, *channels]
    convs = sum(a * b * 3**dim + 2 * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return convs + widths[-1] * classes + classes


@pytest.mark.parametrize("dim", [1, 2])
def test_parameter_count(dim):
    model = CNN(in_channels=3, num_classes=7, channels=(4, 8, 6), dim=dim)
    assert sum(p.numel() for p in model.parameters()) == cnn_params(3, (4, 8, 6), 7, dim)


@pytest.mark.parametrize(
    ("dim", "shape"),
    [(1, (3, 40)), (1, (3, 1, 40)), (2, (3, 8, 8)), (2, (3, 1, 8, 8)), (2, (3, 1, 28, 28))],
)
def test_shapes(dim, shape, no_activation_refs):
    model = CNN(dim=dim)
    assert model(torch.randn(shape)).shape == (3, 10)
    no_activation_refs(model)
    assert block_names(model) == ["blocks.0", "blocks.1"]


@pytest.mark.parametrize("image_size", [None, 8])
def test_never_pools_below_two(image_size, block_outputs):
    model = CNN(channels=(4, 4, 4, 4), image_size=image_size)
    sizes = [tuple(o.shape[2:]) for o in block_outputs(model, torch.randn(2, 1, 8, 8))]
    assert sizes == [(4, 4), (2, 2), (2, 2), (2, 2)]


def test_static_plan_from_image_size():
    model = CNN(channels=(4, 4, 4), image_size=8)
    assert [type(b.pool).__name__ for b in model.blocks] == ["MaxPool2d", "MaxPool2d", "Identity"]
    assert CNN(channels=(4,), dim=1, image_size=40).blocks[0].pool.kernel_size == 2


def test_bad_input_raises():
    with pytest.raises(ValueError, match="dim=2"):
        CNN()(torch.randn(3, 2, 8, 8))
    with pytest.raises(ValueError, match="dim"):
        CNN(dim=3)


@pytest.mark.parametrize("dim", [1, 2])
def test_loss_falls_on_a_fixed_batch(fit, dim):
    x = torch.randn(8, 1, 40) if dim == 1 else torch.randn(8, 1, 8, 8)
    y = torch.randint(0, 4, (8,))
    first, last = fit(CNN(num_classes=4, dim=dim, channels=(8, 16)), x, y)
    assert last < 0.5 * first


def test_registered():
    assert get("cnn").obj is CNN
