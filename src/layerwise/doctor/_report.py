"""The diagnosis as a report section: its text, and for each root-cause finding the metric that
raised it over steps, the implicated layers drawn over the others, the rule's threshold and onset;
and the verification as a second one: each prescription's paired effect with its interval."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from layerwise.doctor._finding import Diagnosis, Finding
from layerwise.doctor._signals import Signals
from layerwise.doctor._verify import Verification

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
    "gradient conflict": ("cos_min", False, "threshold"),
}
MAPPED = "act_rms mapped to [-1, 1]"  # what the saturation rule reads (rules.saturation.mapped_rms)


def diagnosis_section(diagnosis: Diagnosis, signals: Signals):
    """A :class:`layerwise.report.Section` with the diagnosis and one evidence plot per root cause."""
    from layerwise.report.render import style
    from layerwise.report.sections import Section

    with style():
        figures = [fig for f in diagnosis.findings if f.explained_by is None
                   if (fig := evidence_figure(f, signals)) is not None]
    return Section("Doctor", text=diagnosis.text(), figures=figures)


VERDICT_COLOUR = {"confirmed": "tab:green", "harm": "tab:red"}


def verification_section(verification: Verification):
    """A :class:`layerwise.report.Section` with the verification and its effects plotted."""
    from layerwise.report.render import style
    from layerwise.report.sections import Section

    with style():
        figure = effects_figure(verification)
    return Section("Verify", text=verification.text(), figures=[figure] if figure is not None else [])


def effects_figure(verification: Verification) -> Figure | None:
    """Treated - baseline held-out loss per judged prescription, mean and 95% interval (None
    when no prescription was judged)."""
    from layerwise.report.render import add_axes, new_figure, plot_text

    judged = [c for c in verification.checks if c.treated]
    if not judged:
        return None
    fig = new_figure(6.4, 0.9 + 0.35 * len(judged))
    ax = add_axes(fig, left=2.2, bottom=0.45, right=0.3, top=0.3)
    for y, c in enumerate(judged):
        ax.errorbar(c.diff, y, xerr=[[c.diff - c.ci[0]], [c.ci[1] - c.diff]], fmt="o", capsize=3,
                    color=VERDICT_COLOUR.get(c.verdict, "0.4"))
    ax.axvline(0, color="k", lw=0.8, ls=":")
    labels = [plot_text(f"{c.prescription.component}: {c.verdict}", 40) for c in judged]
    ax.set_yticks(range(len(judged)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("treated - baseline held-out loss (lower is better)")
    ax.set_title(plot_text(f"verify {verification.symptom}, {len(verification.seeds)} paired seeds", 60))
    return fig


def evidence_figure(finding: Finding, signals: Signals) -> Figure | None:
    """The finding's metric over steps (None when the run does not hold it)."""
    from layerwise.report.render import add_axes, new_figure, plot_text

    metric, log, key = EVIDENCE.get(finding.symptom, (None, False, None))
    named = finding.evidence.get("metric")  # the row the rule read, where it names one
    metric = named if isinstance(named, str) and signals.has(named) else metric
    if finding.symptom == "saturation":
        signals, metric = _with_mapped_rms(signals), MAPPED
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
    detected = finding.evidence.get("detected_step")
    if isinstance(detected, int) and detected != finding.onset_step:
        ax.axvline(detected, color="0.4", ls="--", lw=0.8, label=f"criterion met {detected}")
    skip = next((p.settings for p in finding.prescriptions if p.component == "skip_batches"
                 and {"start", "stop"} <= p.settings.keys()), None)
    if skip:
        ax.axvspan(skip["start"], skip["stop"] - 1, color="tab:orange", alpha=0.15,
                   label=f"batches to skip {skip['start']}-{skip['stop'] - 1}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(plot_text(f"{finding.symptom}: {metric}", 60))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False)
    return fig


def _with_mapped_rms(signals: Signals) -> Signals:
    """``signals`` with the saturation rule's mapped RMS as one more metric (when it can be read)."""
    from dataclasses import replace

    from layerwise.doctor._signals import Layered
    from layerwise.doctor.rules.saturation import mapped_rms

    rms = signals.metrics.get("act_rms")
    mapped = mapped_rms(signals) if rms is not None else None
    if mapped is None:
        return signals
    return replace(signals, metrics={**signals.metrics, MAPPED: Layered(rms.steps, rms.layers, mapped)})


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
