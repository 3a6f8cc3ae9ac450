"""The diagnosis as a report section: its text, and for each root-cause finding the metric that
raised it over steps, the implicated layers drawn over the others, the rule's threshold and onset."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from layerwise.doctor._finding import Diagnosis, Finding
from layerwise.doctor._signals import Signals

# symptom -> (metric the evidence is about, log scale, evidence key holding the threshold)
EVIDENCE = {
    "exploding gradients": ("grad_norm", True, None),
    "vanishing gradients": ("grad_norm", True, "norm_threshold"),
    "dead units": ("dead_fraction", False, "threshold"),
    "saturation": ("act_rms", False, "threshold"),
    "massive activations": ("act_max_median", True, "threshold"),
    "update too large": ("update_ratio", True, None),
    "update too small": ("update_ratio", True, None),
    "loss spike": ("loss", False, None),
    "no progress": ("loss", False, None),
    "non-finite values": ("loss", False, None),
    "attention-logit growth": ("attn_logit_max", True, "threshold"),
    "attention-entropy collapse": ("attn_entropy", False, "threshold"),
    "rank collapse": ("token_spread", False, "threshold"),
    "unused depth": ("block_contrib", True, "threshold"),
}


def diagnosis_section(diagnosis: Diagnosis, signals: Signals):
    """A :class:`layerwise.report.Section` with the diagnosis and one evidence plot per root cause."""
    from layerwise.report.render import style
    from layerwise.report.sections import Section

    with style():
        figures = [fig for f in diagnosis.findings if f.explained_by is None
                   if (fig := evidence_figure(f, signals)) is not None]
    return Section("Doctor", text=diagnosis.text(), figures=figures)


def evidence_figure(finding: Finding, signals: Signals) -> Figure | None:
    """The finding's metric over steps (None when the run does not hold it)."""
    from layerwise.report.render import add_axes, new_figure, plot_text

    metric, log, key = EVIDENCE.get(finding.symptom, (None, False, None))
    if metric is None or not signals.has(metric):
        return None
    fig = new_figure(6.4, 2.4)
    ax = add_axes(fig, left=0.7, bottom=0.45, right=1.6)
    for label, steps, values, hot in _lines(finding, signals, metric):
        ax.plot(steps, values, lw=1.4 if hot else 0.7, alpha=1.0 if hot else 0.35,
                color=None if hot else "0.55", label=plot_text(label, 24) if hot else None)
    if key and isinstance(finding.evidence.get(key), int | float):
        ax.axhline(finding.evidence[key], color="tab:red", ls="--", lw=0.8, label="threshold")
    if finding.onset_step is not None:
        ax.axvline(finding.onset_step, color="k", ls=":", lw=0.8, label=f"onset {finding.onset_step}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(plot_text(f"{finding.symptom}: {metric}", 60))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False)
    return fig


def _lines(finding: Finding, signals: Signals, metric: str):
    """``(label, steps, values, implicated)`` per layer, or the one scalar series."""
    if metric in signals.scalars:
        steps, values = signals.scalars[metric]
        yield metric, steps, np.where(np.isfinite(values), values, np.nan), True
        return
    m = signals.metrics[metric]
    hot = set(finding.layers)
    for j, layer in enumerate(m.layers):
        values = m.values[:, j]
        if metric in ("grad_norm", "act_max_median", "update_ratio"):
            values = np.where(values > 0, values, np.nan)  # a log axis cannot show 0
        yield layer, m.steps, values, layer in hot
