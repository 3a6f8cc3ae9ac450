"""A study's verdict as a report section: the call and its reason, the claim's numbers, and every
result per arm as readable tables (robust to missing keys and to older verdict files)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape

import numpy as np
from matplotlib.figure import Figure

from layerwise.report.render import add_axes, fmt, new_figure, plot_text, style, text_width
from layerwise.report.sections import Section

HEADER_KEYS = ("study", "paper", "arxiv", "mode", "claim", "rule", "metric", "better", "seeds",
               "effect", "seconds")
FOLDED = ("details", "secondary", "config", "overrides", "provenance", "run_dirs", "reason")


def verdict_section(verdict: dict) -> Section:
    """A study verdict (``verdict.json``) as a Section: the word and reason, a key-value table,
    the arms' values with mean, 95% CI and divergences, secondary claims, and foldable tables of
    every per-arm result, the config and the provenance. Unknown keys are listed too."""
    verdict = dict(verdict) if isinstance(verdict, Mapping) else {"verdict": str(verdict)}
    word = str(verdict.get("verdict", "not-judged"))
    css = re.sub(r"[^a-z0-9-]", "", word.lower()) or "unknown"
    badge = f'<span class="lw-verdict lw-verdict-{css}" data-verdict="{escape(word)}">{escape(word)}</span>'
    reason = verdict.get("reason")
    line = f'<p class="lw-verdict-line">Verdict: {badge}</p>'
    if reason:
        line += f'<p class="lw-verdict-reason">why: {escape(str(reason))}</p>'
    arms = _arms(verdict.get("arms"))
    html = ('<div class="lw-verdict-box">' + line + _fields(verdict) + (_arms_table(arms) if arms else "")
            + _secondary(verdict.get("secondary")) + _folded(verdict) + "</div>")
    figure = _arms_figure(arms, str(verdict.get("metric", "value")), str(verdict.get("better", "")))
    study = verdict.get("study")
    return Section(title=f"Verdict: {study}" if study else "Verdict", html=html,
                   figures=(figure,) if figure is not None else ())


def _fields(verdict: dict) -> str:
    keys = [k for k in HEADER_KEYS if k in verdict]
    keys += [k for k in verdict if k not in HEADER_KEYS and k not in ("arms", "verdict", *FOLDED)]
    rows = "".join(f'<tr><th scope="row">{escape(str(k))}</th><td>{_field(k, verdict[k])}</td></tr>'
                   for k in keys)
    return f'<table class="lw-table lw-kv"><tbody>{rows}</tbody></table>'


def _field(key: str, value: object) -> str:
    if key == "effect" and isinstance(value, Mapping) and "summary" in value:
        return escape(str(value["summary"]))  # one sentence: estimate, interval, test
    return _value(value)


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _value(value: object) -> str:
    """Escaped text of a verdict field: numbers formatted (None as NaN), lists and dicts spelled out."""
    if isinstance(value, Mapping):
        return "; ".join(f"{escape(str(k))}: {_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return escape(fmt(float("nan") if value is None else value))


def _ci(value: object) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"[{_value(value[0])}, {_value(value[1])}]"
    return _value(value) if value is not None else ""


def _arms(arms: object) -> list[tuple[str, dict]]:
    if isinstance(arms, Mapping):
        return [(str(k), v if isinstance(v, Mapping) else {"mean": v}) for k, v in arms.items()]
    if isinstance(arms, list):
        return [(str(a.get("name", i)), a) for i, a in enumerate(arms) if isinstance(a, Mapping)]
    return []


def _arms_table(arms: list[tuple[str, dict]]) -> str:
    rows = []
    for name, arm in arms:
        values = arm.get("values")
        values = list(values) if isinstance(values, list | tuple) else []
        diverged = arm.get("n_diverged", "")
        rows.append(f'<tr data-arm="{escape(name)}"><th scope="row">{escape(name)}</th>'
                    f"<td>{len(values) or ''}</td><td>{_value(arm.get('mean', ''))}</td>"
                    f"<td>{_ci(arm.get('ci95'))}</td><td class=\"lw-values\">{_value(values)}</td>"
                    f"<td>{escape(str(diverged))}</td></tr>")
    head = "<tr><th>arm</th><th>n</th><th>mean</th><th>95% CI</th><th>values</th><th>diverged</th></tr>"
    return f'<table class="lw-table lw-arms"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _secondary(items: object) -> str:
    if not isinstance(items, list) or not items:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(c.get('rule', '')))}</td><td>{escape(str(c.get('metric', '')))}</td>"
        f"<td>{escape(str(c.get('verdict', '')))}</td>"
        f"<td>{escape(str(c.get('summary', '')))}{_reason(c.get('reason'))}</td></tr>"
        for c in items if isinstance(c, Mapping))
    head = "<tr><th>rule</th><th>metric</th><th>verdict</th><th>summary</th></tr>"
    return (f'<p>Secondary claims (reported, not deciding):</p><table class="lw-table lw-secondary">'
            f"<thead>{head}</thead><tbody>{rows}</tbody></table>")


def _reason(reason: object) -> str:
    return f"<br>why not judged: {escape(str(reason))}" if reason else ""


def _folded(verdict: dict) -> str:
    """Per-arm results, config and provenance, folded away (they are long)."""
    parts = []
    details = verdict.get("details")
    if isinstance(details, Mapping) and details:
        parts.append(("Every number the trials returned (mean per arm over finite seeds)",
                      _per_arm_table(details)))
    for key, title in (("config", "Config"), ("overrides", "Overrides"), ("provenance", "Provenance")):
        value = verdict.get(key)
        if isinstance(value, Mapping) and value:
            rows = "".join(f'<tr><th scope="row">{escape(str(k))}</th><td>{_value(v)}</td></tr>'
                           for k, v in value.items())
            parts.append((title, f'<table class="lw-table lw-kv"><tbody>{rows}</tbody></table>'))
    return "".join(f"<details><summary>{escape(t)}</summary>{body}</details>" for t, body in parts)


def _per_arm_table(details: Mapping) -> str:
    arms = list(dict.fromkeys(a for v in details.values() if isinstance(v, Mapping) for a in v))
    head = "<tr><th>result</th>" + "".join(f"<th>{escape(str(a))}</th>" for a in arms) + "</tr>"
    rows = []
    for key, per_arm in details.items():
        if not isinstance(per_arm, Mapping):
            rows.append(f'<tr><th scope="row">{escape(str(key))}</th>'
                        f'<td colspan="{len(arms)}">{_value(per_arm)}</td></tr>')
            continue
        cells = "".join(f"<td>{_short(per_arm.get(a))}</td>" for a in arms)
        rows.append(f'<tr><th scope="row">{escape(str(key))}</th>{cells}</tr>')
    return f'<table class="lw-table lw-details"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _short(value: object) -> str:
    """A cell: a number, or a list shown as its first values and its length."""
    if isinstance(value, list | tuple) and len(value) > 8:
        return _value(list(value[:8]))[:-1] + f", ... ({len(value)} values)]"
    return _value(value) if value is not None else "NaN"


def _arms_figure(arms: list[tuple[str, dict]], metric: str, better: str) -> Figure | None:
    """Each arm's values as dots, its mean and 95% CI as a bar; None when nothing is numeric."""
    points = []
    for name, arm in arms:
        raw = arm.get("values") if isinstance(arm.get("values"), list | tuple) else []
        values = np.array([v for v in map(_number, raw) if v is not None], dtype=np.float64)
        ci = arm.get("ci95") if isinstance(arm.get("ci95"), list | tuple) else ()
        ci = [_number(c) for c in ci] if len(ci) == 2 else []
        points.append((name, values[np.isfinite(values)], _number(arm.get("mean")), ci))
    if not any(p[1].size or p[2] is not None for p in points):
        return None
    with style():
        return _draw_arms(points, metric, better)


def _draw_arms(points: list, metric: str, better: str) -> Figure:
    names = [plot_text(p[0], 24) for p in points]
    fig = new_figure(4.8, 1.0 + 0.4 * len(points))
    ax = add_axes(fig, left=0.2 + text_width(names), bottom=0.45, top=0.3)
    for y, (_, values, mean, ci) in enumerate(points):
        ax.scatter(values, np.full(values.size, y), s=12, color="#7a7a7a", zorder=2)
        if ci and None not in ci and all(np.isfinite(ci)):
            ax.plot(ci, [y, y], color="#1f5fa8", linewidth=3, alpha=0.5, zorder=1)
        if mean is not None and np.isfinite(mean):
            ax.plot([mean], [y], marker="D", color="#1f5fa8", zorder=3)
    ax.set_yticks(range(len(points)), names)
    ax.set_ylim(-0.6, len(points) - 0.4)
    ax.set_xlabel(plot_text(f"{metric} ({better} is better)" if better else metric, 60))
    ax.grid(True, axis="x", alpha=0.3, linewidth=0.5)
    ax.set_title(plot_text(f"{metric} per arm: runs (dots), mean (diamond), 95% CI (bar)", 90))
    return fig
