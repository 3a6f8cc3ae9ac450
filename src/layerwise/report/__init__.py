"""Report: one self-contained HTML file (figures inlined, opens offline) from one or more runs.

Example::

    from layerwise.report import write_report, verdict_section
    write_report(["runs/base", "runs/fix"], "report.html", names=["baseline", "fix"])

Content, in order: the title; extra :class:`Section` blocks (a study's verdict first); run metadata;
loss curves of every model-level scalar; per-layer metrics as layer x step heatmaps with per-layer
profiles beside them and, for several runs, a comparison of their profiles at the last step.
"""

from layerwise.report.data import Matrix, RunData, load_run, natural_key, order_layers
from layerwise.report.scale import Scale, choose_scale, decades, downsample, profile_columns, use_log
from layerwise.report.sections import Section
from layerwise.report.verdict import verdict_section
from layerwise.report.writer import write_report

__all__ = [
    "Matrix",
    "RunData",
    "Scale",
    "Section",
    "choose_scale",
    "decades",
    "downsample",
    "load_run",
    "natural_key",
    "order_layers",
    "profile_columns",
    "use_log",
    "verdict_section",
    "write_report",
]
