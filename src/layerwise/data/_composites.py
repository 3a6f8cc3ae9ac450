"""Digit-on-texture composites whose background agrees with the label at a chosen correlation.

The tiny reproduction of Contextual Fusion Enables Robustness to Adversarial Attacks (Akumalla,
Haney, Bazhenov, 2020, arXiv 2011.09526; shared/papers/SPECS-B.md, paper 14): an object (a
scikit-learn digit, upsampled) sits on a scene (one of ten procedural textures) whose class
goes with the object's class with probability ``correlation``.

Texture ``k`` is a sinusoid grating with orientation ``36 * (k % 5)`` degrees and spatial
frequency 0.08 (k < 5) or 0.2 (k >= 5) cycles per pixel, a random phase per image, amplitude
``contrast`` and Gaussian pixel noise. With probability ``correlation`` an image's texture is its
label; otherwise it is drawn uniformly from all ``num_textures`` (so ``correlation=0`` makes the
background independent of the label and the expected agreement is
``correlation + (1 - correlation) / num_textures``). The digit is drawn in white ink over the
texture: ``x = background * (1 - ink) + ink``; every pixel lies in [0, 1].

Example::

    >>> import torch
    >>> from layerwise.data import digit_composites, digits
    >>> d = digits()
    >>> c = digit_composites(d.x_val, d.y_val, correlation=0.8, seed=0)
    >>> c.x.shape, bool(c.x.min() >= 0 and c.x.max() <= 1)
    (torch.Size([359, 1, 24, 24]), True)
    >>> torch.equal(c.x, digit_composites(d.x_val, d.y_val, correlation=0.8, seed=0).x)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from layerwise._registry import register

PAPER = ("Contextual Fusion Enables Robustness to Adversarial Attacks (Akumalla, Haney & "
         "Bazhenov, 2020)", "2011.09526")
ORIENTATIONS = 5
FREQUENCIES = (0.08, 0.2)  # cycles per pixel: periods of 12.5 and 5 pixels


@dataclass(frozen=True)
class Composites:
    """Composite images ``x`` float32 ``(N, 1, size, size)`` in [0, 1], digit labels ``y`` and
    texture labels ``texture`` (int64 ``(N,)``), and the ``correlation`` they were drawn at."""

    x: Tensor
    y: Tensor
    texture: Tensor
    correlation: float

    @property
    def agreement(self) -> float:
        """Share of images whose texture is their label."""
        return float((self.texture == self.y).float().mean())


def texture_labels(y: Tensor, *, correlation: float, num_textures: int,
                   generator: torch.Generator) -> Tensor:
    """Per image: its label with probability ``correlation``, else a uniform draw of all
    ``num_textures`` classes."""
    keep = torch.rand(len(y), generator=generator) < correlation
    other = torch.randint(num_textures, (len(y),), generator=generator)
    return torch.where(keep, y, other)


def textures(labels: Tensor, *, size: int, contrast: float, noise: float,
             generator: torch.Generator) -> Tensor:
    """Oriented sinusoid gratings ``(N, size, size)`` in [0, 1], one per label (see module doc)."""
    angle = (labels % ORIENTATIONS).double() * math.pi / ORIENTATIONS
    freq = torch.tensor(FREQUENCIES, dtype=torch.float64)[(labels // ORIENTATIONS).clamp(max=1)]
    phase = 2 * math.pi * torch.rand(len(labels), generator=generator, dtype=torch.float64)
    v, u = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                          torch.arange(size, dtype=torch.float64), indexing="ij")
    along = u[None] * angle.cos()[:, None, None] + v[None] * angle.sin()[:, None, None]
    wave = torch.sin(2 * math.pi * freq[:, None, None] * along + phase[:, None, None])
    jitter = noise * torch.randn(wave.shape, generator=generator, dtype=torch.float64)
    return (contrast * (0.5 + 0.5 * wave) + jitter).clamp(0.0, 1.0).float()


def place_digits(images: Tensor, *, size: int, scale: int) -> Tensor:
    """Digits ``(N, 1, h, w)`` upsampled ``scale`` times (bilinear) at the centre of a blank
    ``size`` x ``size`` canvas, as ink in [0, 1]."""
    big = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False).clamp(0, 1)
    h, w = big.shape[-2:]
    if h > size or w > size:
        raise ValueError(f"size must be >= the upsampled digit ({h}x{w}), got {size}")
    canvas = torch.zeros(len(images), 1, size, size)
    top, left = (size - h) // 2, (size - w) // 2
    canvas[:, :, top:top + h, left:left + w] = big
    return canvas


@register("digit_composites", kind="dataset", paper=PAPER[0], arxiv=PAPER[1])
def digit_composites(images: Tensor, labels: Tensor, *, correlation: float, seed: int = 0,
                     size: int = 24, scale: int = 2, contrast: float = 0.6, noise: float = 0.05,
                     num_textures: int = 10) -> Composites:
    """Composites of ``images`` (digits ``(N, 1, h, w)`` or ``(N, h, w)`` in [0, 1], e.g. from
    :func:`layerwise.data.digits`) on textures that agree with ``labels`` at ``correlation``
    (in [0, 1]); the textures are seeded by ``seed`` alone (same arguments, same tensors)."""
    if not isinstance(correlation, int | float) or not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [0, 1], got {correlation!r}")
    if not 2 <= num_textures <= ORIENTATIONS * len(FREQUENCIES):
        raise ValueError(f"num_textures must be in [2, {ORIENTATIONS * len(FREQUENCIES)}], "
                         f"got {num_textures}")
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] != 1 or len(images) != len(labels):
        raise ValueError(f"images must be (N, 1, h, w) with one label each, got {tuple(images.shape)} "
                         f"and {len(labels)} labels")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must have pixels in [0, 1]")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_textures):
        raise ValueError(f"labels must be in [0, num_textures={num_textures}), got max {int(labels.max())}")
    if not 0.0 <= contrast <= 1.0 or noise < 0:
        raise ValueError(f"contrast must be in [0, 1] and noise >= 0, got {contrast}, {noise}")
    gen = torch.Generator().manual_seed(seed)
    tex = texture_labels(labels, correlation=float(correlation), num_textures=num_textures, generator=gen)
    background = textures(tex, size=size, contrast=contrast, noise=noise, generator=gen)[:, None]
    ink = place_digits(images.float(), size=size, scale=scale)
    return Composites(x=background * (1 - ink) + ink, y=labels.clone(), texture=tex,
                      correlation=float(correlation))
