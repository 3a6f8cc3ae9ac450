"""Per-layer gradient noise from exact per-sample gradients of Linear layers.

For a Linear layer y = x W^T + b applied to a sample with tokens t, the sample's weight gradient is
G_i = sum_t g_it a_it^T, so ||G_i||_F^2 = sum_{t,s} (g_it . g_is)(a_it . a_is): two Gram matrices,
no per-sample gradient is materialised (the trick of Goodfellow, 2015, and Li et al., 2022, for
sequences). With the per-sample squared norms and the batch gradient, the layer's gradient-noise
statistics follow (McCandlish et al., 2018, arXiv 1812.06162):

* ``grad_noise``  tr(Sigma): total variance of per-sample gradients (unbiased, B - 1);
* ``grad_snr``    ||G||^2 / (tr(Sigma) / B): signal-to-noise ratio of the mini-batch gradient,
  i.e. B / B_simple where B_simple is the "simple noise scale".

Per-sample gradients are those of the per-sample losses, assuming the training loss is the mean
over the batch (``loss_reduction="mean"``) or their sum (``"sum"``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from layerwise.metrics.base import metric
from layerwise.metrics.papers import NOISE_SCALE


@metric("grad_noise", tier="business", stage="samples", paper=NOISE_SCALE[0], arxiv=NOISE_SCALE[1])
def grad_noise(per_sample: Tensor) -> Tensor:
    """tr(Cov) of per-sample gradients (B, P): sum over P of the unbiased variance over B."""
    return per_sample.double().var(dim=0, unbiased=True).sum()


@metric("grad_snr", tier="business", stage="samples", paper=NOISE_SCALE[0], arxiv=NOISE_SCALE[1])
def grad_snr(per_sample: Tensor) -> Tensor:
    """||mean gradient||^2 / (tr(Cov) / B) for per-sample gradients (B, P)."""
    g = per_sample.double()
    return g.mean(0).pow(2).sum() / (g.var(dim=0, unbiased=True).sum() / g.shape[0])


def linear_sample_sq_norms(inputs: Tensor, grad_out: Tensor, scale: float, bias: bool) -> Tensor:
    """Squared norms (B,) of per-sample gradients of a Linear layer's weight (and bias).

    ``inputs`` (B, ..., in) and ``grad_out`` (B, ..., out) are the layer's input and the gradient
    of the loss at its output; ``scale`` converts them to per-sample-loss gradients (B for a mean).
    """
    a = inputs.detach().float().reshape(inputs.shape[0], -1, inputs.shape[-1])
    g = grad_out.detach().float().reshape(grad_out.shape[0], -1, grad_out.shape[-1]) * scale
    if a.shape[1] == 1:
        sq = a.pow(2).sum((1, 2)) * g.pow(2).sum((1, 2))
    else:
        sq = (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(g, g.transpose(1, 2))).sum((1, 2))
    if bias:
        sq = sq + g.sum(1).pow(2).sum(1)
    return sq


def noise_stats(sample_sq: Tensor, batch_grad_sq: Tensor, batch: int) -> tuple[Tensor, Tensor]:
    """(tr Cov, SNR) from per-sample squared norms (sum over the layer) and ||mean gradient||^2.

    Uses sum_i ||G_i - G||^2 = sum_i ||G_i||^2 - B ||G||^2 with G the mean per-sample gradient.
    """
    trace = (sample_sq.sum() - batch * batch_grad_sq) / (batch - 1)
    trace = trace.clamp_min(0.0)
    return trace, batch_grad_sq / (trace / batch)


def linear_batch_sq_norm(inputs: Tensor, grad_out: Tensor, scale: float, bias: bool) -> Tensor:
    """||mean per-sample gradient||^2 of a Linear layer's weight (and bias), in one matmul."""
    a = inputs.detach().float().reshape(-1, inputs.shape[-1])
    g = grad_out.detach().float().reshape(-1, grad_out.shape[-1])
    factor = scale / inputs.shape[0]
    sq = (g.T @ a).pow(2).sum() * factor**2
    if bias:
        sq = sq + g.sum(0).pow(2).sum() * factor**2
    return sq
