"""SSIM: the structural similarity index of two image batches (Wang et al., 2004).

Image Quality Assessment: From Error Visibility to Structural Similarity (Wang, Bovik, Sheikh,
Simoncelli, IEEE Trans. Image Processing 2004). For local means ``mu``, variances ``var`` and
covariance ``cov`` under a Gaussian window,
``SSIM = (2 mu_a mu_b + C1)(2 cov + C2) / ((mu_a^2 + mu_b^2 + C1)(var_a + var_b + C2))`` with
``C1 = (0.01 L)^2`` and ``C2 = (0.03 L)^2`` for the data range ``L``, averaged over the valid
window positions (no padding) and the channels. It is 1 exactly when the two images are equal.
The default window (3x3, sigma 1) suits small images such as the 8x8 digits; the paper's 11x11
window, sigma 1.5, is ``gaussian_window(11, 1.5)``.

Example::

    >>> import torch
    >>> from layerwise.analysis import ssim
    >>> x = torch.rand(4, 1, 8, 8)
    >>> round(float(ssim(x, x)), 6)
    1.0
    >>> ssim(x, 1 - x, per_image=True).shape
    torch.Size([4])
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from layerwise._registry import register


def gaussian_window(size: int = 3, sigma: float = 1.0) -> Tensor:
    """(1, 1, size, size) normalised Gaussian kernel."""
    if size < 1 or not sigma > 0:
        raise ValueError(f"window size must be >= 1 and sigma > 0, got size={size}, sigma={sigma}")
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    w = torch.outer(g, g)
    return (w / w.sum())[None, None]


@register("ssim", kind="diagnostic", paper="Image Quality Assessment: From Error Visibility to "
          "Structural Similarity (Wang et al., 2004)")
def ssim(a: Tensor, b: Tensor, window: Tensor | None = None, *, data_range: float = 1.0,
         per_image: bool = False) -> Tensor:
    """Mean SSIM of image batches ``(N, C, H, W)`` (or ``(N, H, W)``); ``per_image=True`` gives one
    value per image ``(N,)`` instead of the batch mean. ``window``: a ``(1, 1, k, k)`` kernel
    (default :func:`gaussian_window`), applied to each channel; it must fit inside the image."""
    if a.shape != b.shape:
        raise ValueError(f"ssim needs images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() == 3:
        a, b = a.unsqueeze(1), b.unsqueeze(1)
    if a.dim() != 4 or a.shape[0] == 0:
        raise ValueError(f"ssim takes a non-empty batch (N, C, H, W) or (N, H, W), got {tuple(a.shape)}")
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    w = (gaussian_window() if window is None else window).to(a.dtype)
    if w.shape[-1] > a.shape[-1] or w.shape[-2] > a.shape[-2]:
        raise ValueError(f"window {tuple(w.shape[-2:])} is larger than the images {tuple(a.shape[-2:])}")
    c = a.shape[1]
    w = w.expand(c, 1, *w.shape[-2:])
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, w, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    values = (num / den).flatten(1).mean(1)
    return values if per_image else values.mean()

