"""Report sections for depth diagnostics: depth profile, skip matrix, logit-lens KL, CKA matrix.

Figures for Do Language Models Use Their Depth Efficiently? (Csordás, Manning and Potts, 2025,
arXiv 2505.13898): each sublayer's relative contribution and cosine to the residual along depth,
the skip matrix as a heatmap (skipped layer x affected later layer), and the logit lens's KL to
the final distribution. Several models or arms can share one profile figure.

Example::

    >>> import torch
    >>> from layerwise.models import GPT
    >>> from layerwise.depth.usage import depth_usage
    >>> model = GPT(n_layer=2, d_model=16, n_head=2, seq_len=8, vocab_size=20)
    >>> depth_profile_section({"gpt": depth_usage(model, torch.randint(0, 20, (1, 8)))}).title
    'Depth profile'
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import numpy as np
from matplotlib.figure import Figure

from layerwise.depth.logit_lens import LogitLens
from layerwise.depth.skip import SkipEffects
from layerwise.depth.usage import DepthUsage
from layerwise.report import Section
from layerwise.report.render import add_axes, fmt, new_figure, plot_text, style

__all__ = ["cka_section", "depth_profile_section", "logit_lens_section", "skip_section"]

_PANELS = (("block_contrib", "||x_{l+1} - x_l|| / ||x_l||"), ("attn_contrib", "||attn|| / ||x||"),
           ("mlp_contrib", "||mlp|| / ||residual before mlp||"), ("mlp_cos", "cos(mlp, residual)"))


def _profile_figure(usages: Mapping[str, DepthUsage]) -> Figure:
    fig = new_figure(9.0, 2.4)
    for k, (metric, label) in enumerate(_PANELS):
        ax = fig.add_axes((0.06 + k * 0.245, 0.2, 0.19, 0.62))
        for name, u in usages.items():
            values = getattr(u, metric)
            ax.plot(np.arange(len(values)), values, marker=".", label=plot_text(name, 20))
        ax.set_title(plot_text(label, 40), fontsize=8)
        ax.set_xlabel("block")
        ax.grid(True, alpha=0.3, linewidth=0.5)
        if metric.endswith("cos"):
            ax.axhline(0.0, color="#999999", linewidth=0.6)
        if k == 0 and len(usages) > 1:
            ax.legend(fontsize=6)
    return fig


def depth_profile_section(usages: Mapping[str, DepthUsage]) -> Section:
    """Relative contribution and cosine per block, one line per model or arm, and a ratio table."""
    rows = "".join(f"<tr><td>{escape(name)}</td><td>{fmt(u.second_first_ratio())}</td>"
                   f"<td>{fmt(u.second_first_ratio('attn_contrib'))}</td>"
                   f"<td>{fmt(u.second_first_ratio('mlp_contrib'))}</td></tr>" for name, u in usages.items())
    html = ("<table><tr><th>model</th><th>block contribution, 2nd half / 1st half</th><th>attention</th>"
            f"<th>MLP</th></tr>{rows}</table>")
    with style():
        fig = _profile_figure(usages)
    return Section("Depth profile", html=html, figures=(fig,),
                   text="Relative contribution of each sublayer to the residual stream (Csordás et al., "
                        "2025, arXiv 2505.13898); a ratio below 1 means the second half adds less.")


def skip_section(skip: SkipEffects, title: str = "Skip matrix") -> Section:
    """Heatmap of the future effect of skipping each block, with the output effect beside it."""
    with style():
        n = len(skip.names)
        fig = new_figure(6.0, 1.2 + 0.28 * n)
        ax = add_axes(fig, left=0.7, bottom=0.5, right=1.4)
        image = ax.imshow(np.ma.masked_invalid(skip.matrix), cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax, fraction=0.05, label="max relative change of later block")
        ax.set_xlabel("affected block l")
        ax.set_ylabel("skipped block s")
        ax.set_title(f"skip before position {skip.split}, measured on positions >= {skip.split}")
    if np.isfinite(np.asarray(skip.output, dtype=float)).any():
        out = " ".join(f"{i}:{fmt(v)}" for i, v in enumerate(skip.output))
        text = f"Output distribution change (L2) per skipped block: {out}"
    else:
        text = "Output distribution change: not applicable (the model has no unembedding to read)."
    return Section(title, figures=(fig,), text=text)


def logit_lens_section(lenses: Mapping[str, LogitLens]) -> Section:
    """KL(final || layer) of the logit lens along depth, one line per model or arm."""
    with style():
        fig = new_figure(5.0, 2.4)
        ax = add_axes(fig, left=0.6, bottom=0.5)
        for name, lens in lenses.items():
            ax.plot(np.arange(len(lens.kl)), np.maximum(lens.kl, 1e-8), marker=".", label=plot_text(name, 20))
        ax.set_yscale("log")
        ax.set_xlabel("residual x_l (0 = embeddings)")
        ax.set_ylabel("KL(final || lens), nats")
        ax.grid(True, alpha=0.3, linewidth=0.5)
        if len(lenses) > 1:
            ax.legend(fontsize=6)
    return Section("Logit lens", figures=(fig,),
                   text="KL divergence from each layer's logit-lens next-token distribution "
                        "to the final one.")


def cka_section(matrix: np.ndarray, names: list[str],
                title: str = "Layer similarity (linear CKA)") -> Section:
    """A layer x layer linear-CKA heatmap (Kornblith et al., 2019, arXiv 1905.00414); NaN = degenerate."""
    with style():
        fig = new_figure(4.2, 3.6)
        ax = add_axes(fig, left=0.9, bottom=0.9)
        image = ax.imshow(np.ma.masked_invalid(matrix), vmin=0.0, vmax=1.0, cmap="viridis", origin="lower")
        ticks = np.arange(len(names))
        step = max(1, len(names) // 12)
        ax.set_xticks(ticks[::step], [plot_text(n, 14) for n in names[::step]], rotation=90, fontsize=6)
        ax.set_yticks(ticks[::step], [plot_text(n, 14) for n in names[::step]], fontsize=6)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return Section(title, figures=(fig,),
                   text="Linear CKA between the residual stream after every pair of blocks, on all "
                        "tokens of the batch (float64; a degenerate layer shows as a gap).")
