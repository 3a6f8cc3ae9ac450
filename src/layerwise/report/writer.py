"""``write_report``: runs in, one self-contained HTML file out (figures inlined as data URIs)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np

from layerwise.report import figures
from layerwise.report.data import RunData, load_run, order_metrics
from layerwise.report.interactive import payload, script, to_script_json
from layerwise.report.metadata import metadata_table
from layerwise.report.render import FigureBlock, block, style
from layerwise.report.scale import (
    MAX_DECADES,
    Scale,
    choose_scale,
    decades,
    downsample,
    finite,
    profile_columns,
)
from layerwise.report.sections import Section

DESCRIPTIONS = {  # for metrics whose registry entry does not describe them
    "nonfinite_forward": "1 at the steps where the layer's output held NaN or inf.",
    "nonfinite_backward": "1 at the steps where the gradient at the layer's output held NaN or inf.",
    "loss": "Training loss.",
    "val_loss": "Validation loss.",
}


def write_report(runs: Sequence[str | Path], out: str | Path, *, title: str = "layerwise report",
                 names: Sequence[str] | None = None, profile_steps: Sequence[int] | None = None,
                 sections: Sequence[Section] = (), max_metrics: int | None = None,
                 max_panel_runs: int = 8) -> Path:
    """Write one self-contained HTML report of ``runs`` (RunLog folders) to ``out``.

    Args:
        runs: run folders; several runs are overlaid and compared layer by layer.
        out: the HTML file to write (an existing folder gets ``report.html``).
        title: heading and page title.
        names: a label per run (default: the folder names).
        profile_steps: steps for the per-layer profiles (nearest logged step is used); default
            the first, middle and last logged step.
        sections: extra :class:`Section` blocks placed right after the title, in order.
        max_metrics: draw at most this many per-layer metrics (the rest are listed as omitted).
        max_panel_runs: heatmap panels show at most this many runs (the interactive charts show
            every run), which keeps a many-run study report small.

    Returns:
        The path written. Example: ``write_report(["runs/base", "runs/fix"], "report.html")``.
    """
    paths = [Path(runs)] if isinstance(runs, str | os.PathLike) else [Path(r) for r in runs]
    if not paths:
        raise ValueError("write_report needs at least one run folder")
    if names is not None and len(names) != len(paths):
        raise ValueError(f"names has {len(names)} entries for {len(paths)} runs; give one name per run")
    if max_metrics is not None and max_metrics < 0:
        raise ValueError(f"max_metrics must be >= 0, got {max_metrics}")
    data = [load_run(p, None if names is None else names[i]) for i, p in enumerate(paths)]
    unique_names(data)
    with style():
        drawn = _metrics(data, profile_steps, max_metrics, max_panel_runs)
        context = {
            "title": title,
            "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "version": _version(),
            "sections": [_section(i, s) for i, s in enumerate(sections)],
            "run_names": [r.name for r in data],
            "meta_rows": metadata_table(data),
            "scalars": list(dict.fromkeys(m for r in data for m in r.scalars)),
            "nonfinite": first_nonfinite(data),
            "chart_data": to_script_json(payload(data, [m["name"] for m in drawn["metrics"]])),
            "chart_js": script(),
            **drawn,
        }
    html = _template().render(**context)
    target = Path(out)
    if target.is_dir():
        target = target / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target


def _version() -> str:
    import layerwise

    return getattr(layerwise, "__version__", "")


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    source = resources.files("layerwise.report").joinpath("template.html").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    return env.from_string(source)


def describe(metric: str) -> str:
    """One line on what ``metric`` measures (from its registered definition when there is one)."""
    try:
        from layerwise.metrics import METRICS
    except ImportError:  # pragma: no cover - the metrics package is part of layerwise
        METRICS = {}
    spec = METRICS.get(metric)
    doc = (spec.reference.__doc__ or "").strip() if spec is not None else ""
    return doc.splitlines()[0] if doc else DESCRIPTIONS.get(metric, "")


def _section(index: int, section: Section) -> dict:
    blocks = []
    for i, fig in enumerate(section.figures):
        suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
        texts = [suptitle] if suptitle else []
        texts += [ax.get_title() for ax in fig.get_axes() if ax.get_title()]
        caption = "; ".join(texts) or f"{section.title}, figure {i + 1}"
        blocks.append(block(fig, "section", caption, tight=True))
    return {"id": f"lw-section-{index}", "title": section.title, "text": section.text,
            "html": section.html, "figures": blocks}


def unique_names(data: Sequence[RunData]) -> None:
    """Give runs that share a name (``a/run1``, ``b/run1``) their parent folder as a prefix."""
    counts: dict[str, int] = {}
    for run in data:
        counts[run.name] = counts.get(run.name, 0) + 1
    for run in data:
        if counts[run.name] > 1:
            run.name = f"{run.path.parent.name}/{run.name}"
    seen: dict[str, int] = {}
    for run in data:  # still equal (same parent name): number them
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.name = f"{run.name} ({seen[run.name]})"


def first_nonfinite(data: Sequence[RunData]) -> list[str]:
    """One sentence per run with NaN/inf: the first step, pass direction and layer (and tensor,
    when the Monitor recorded it in meta.json)."""
    out = []
    for run in data:
        found = []
        for direction in ("forward", "backward"):
            mat = run.matrices.get(f"nonfinite_{direction}")
            if mat is None:
                continue
            rows, cols = np.nonzero(np.nan_to_num(mat.values) > 0)
            if cols.size:
                j = int(np.argmin(mat.steps[cols]))
                step, layer = int(mat.steps[cols[j]]), mat.layers[rows[j]]
                found.append((step, direction == "backward", direction, layer))
        if found:
            step, _, direction, layer = min(found)
            event = run.meta.get("first_nonfinite") if isinstance(run.meta, dict) else None
            tensor = f", {event['tensor']}" if isinstance(event, dict) and event.get("tensor") else ""
            out.append(f"{run.name}: first non-finite value at step {step}, {direction} pass, "
                       f"layer {layer}{tensor}")
    return out


def _scale_words(scale: Scale) -> str:
    if scale.kind == "log":
        return f"logarithmic colour scale (values span {decades([scale.vmin, scale.vmax]):.1f} decades)"
    if scale.kind == "symlog":
        return "diverging colour scale, symmetric about 0, logarithmic away from 0"
    if scale.kind == "diverging":
        return "diverging colour scale, symmetric about 0"
    return "linear colour scale"


def _panel(present: Sequence[RunData], metric: str, scale, profile_steps) -> FigureBlock:
    rows, notes, chosen = [], [], []
    for run in present:
        mat = run.matrices[metric]
        steps, values, factor = downsample(mat.steps, mat.values)
        cols = profile_columns(mat.steps, profile_steps)
        rows.append(figures.PanelRow(run.name, mat.layers, mat.depth, steps, values, mat.steps, mat.values,
                                     cols))
        bad = int((~np.isfinite(mat.values)).sum())
        notes.append(f"{run.name}: {bad} of {mat.values.size} cells")
        chosen.append(f"{run.name}: {', '.join(str(int(mat.steps[c])) for c in cols)}")
        if factor > 1:
            notes[-1] += (f"; {mat.steps.size} steps downsampled, binned by {factor} into {steps.size} "
                          "columns (mean of the finite values in each bin)")
    caption = (f"{metric}, one row per run. Left: layers (rows, input at the top) by step (columns), "
               f"{_scale_words(scale)}, one colour bar shared by all runs; grey cells are not logged or "
               f"NaN/inf ({'; '.join(notes)}). Right: {metric} against layer depth at steps "
               f"{'; '.join(chosen)}; gaps are NaN/inf values.")
    fig = figures.layer_panels(rows, scale, metric=metric)
    return block(fig, "layers", caption, metric=metric, run=", ".join(r.name for r in present))


def _last_column(values: np.ndarray) -> int:
    good = np.flatnonzero(np.isfinite(values).any(axis=0))
    return int(good[-1]) if good.size else values.shape[1] - 1


def _comparison(present: Sequence[RunData], metric: str) -> FigureBlock:
    lines = []
    for run in present:
        mat = run.matrices[metric]
        col = _last_column(mat.values)
        lines.append((run.name, mat.depth, mat.values[:, col], int(mat.steps[col])))
    layers = max((r.layers for r in present), key=len)
    fig = figures.comparison([(f"{n} (step {s})", d, v) for n, d, v, s in lines], layers,
                             title=f"{metric} by layer, last step of each run", label=metric)
    caption = (f"{metric} against layer depth, every run at its last logged step "
               f"({', '.join(f'{n}: {s}' for n, _, _, s in lines)}); gaps are NaN/inf values.")
    return block(fig, "comparison", caption, metric=metric)


def _metrics(data: Sequence[RunData], profile_steps, max_metrics: int | None,
             max_panel_runs: int) -> dict:
    names = [m for m in order_metrics([m for r in data for m in r.matrices])
             if not m.startswith("nonfinite_")]  # told by the banner, not drawn as heatmaps
    keep = names if max_metrics is None else names[:max_metrics]
    sections = []
    for i, metric in enumerate(keep):
        present = [r for r in data if metric in r.matrices][:max_panel_runs]
        scale = choose_scale(np.concatenate([finite(r.matrices[metric].values) for r in present]),
                             MAX_DECADES)
        sections.append({
            "id": f"lw-metric-{i}", "name": metric, "description": describe(metric),
            "panel": _panel(present, metric, scale, profile_steps),
            "comparison": _comparison(present, metric) if len(present) > 1 else None,
        })
    return {"metrics": sections, "omitted": names[len(keep):]}
