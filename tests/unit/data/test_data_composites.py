"""digit_composites: seeded, in [0, 1], background agreement at the requested correlation."""

import pytest
import torch

from layerwise.data import digit_composites
from layerwise.data._composites import place_digits, textures


def toy(n=2000):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(10, (n,), generator=g)


def test_same_seed_same_tensors_other_seed_other_backgrounds():
    x, y = toy(50)
    a = digit_composites(x, y, correlation=0.5, seed=3)
    b = digit_composites(x, y, correlation=0.5, seed=3)
    c = digit_composites(x, y, correlation=0.5, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.texture, b.texture)
    assert not torch.equal(a.x, c.x)
    assert torch.equal(a.y, y) and a.x.shape == (50, 1, 24, 24) and a.x.dtype == torch.float32


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.95, 1.0])
def test_agreement_matches_the_correlation(rho):
    x, y = toy()
    c = digit_composites(x, y, correlation=rho, seed=0)
    expected = rho + (1 - rho) / 10
    assert abs(c.agreement - expected) < 0.03  # 3.5 binomial s.d. at n = 2000, p = 0.5
    assert c.x.min() >= 0 and c.x.max() <= 1


def test_ink_over_texture_and_distinct_texture_classes():
    ink = place_digits(torch.ones(1, 1, 8, 8), size=24, scale=2)
    assert ink.sum() == 256 and ink[0, 0, 4:20, 4:20].min() == 1  # a centred 16x16 block
    x, y = torch.ones(3, 1, 8, 8), torch.tensor([0, 1, 5])
    c = digit_composites(x, y, correlation=1.0, seed=0)
    assert torch.equal(c.x[:, :, 4:20, 4:20], torch.ones(3, 1, 16, 16))  # white ink hides the texture
    g = torch.Generator().manual_seed(0)
    t = textures(torch.tensor([0, 1, 5]), size=24, contrast=0.6, noise=0.0, generator=g)
    assert t.max() <= 0.6 + 1e-6
    assert t[0].std(dim=0).max() < 1e-6  # orientation 0: constant down each column
    assert t[0].std(dim=1).min() > 0.1


def test_bad_input_names_the_argument():
    x, y = toy(4)
    with pytest.raises(ValueError, match="correlation"):
        digit_composites(x, y, correlation=1.5)
    with pytest.raises(ValueError, match="images"):
        digit_composites(x * 2, y, correlation=0.5)
    with pytest.raises(ValueError, match="labels"):
        digit_composites(x, y + 10, correlation=0.5)
    with pytest.raises(ValueError, match="num_textures"):
        digit_composites(x, y, correlation=0.5, num_textures=11)
    with pytest.raises(ValueError, match="size"):
        digit_composites(x, y, correlation=0.5, size=12)
