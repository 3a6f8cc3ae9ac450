"""Extra report content from other components: :class:`Section`, and a study's verdict as one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

import numpy as np
from matplotlib.figure import Figure

from layerwise.report.render import add_axes, fmt, new_figure, plot_text, style, text_width

HEADER_KEYS = ("study", "paper", "arxiv", "mode", "claim", "metric", "better", "effect", "seconds")


@dataclass(frozen=True)
class Section:
    """A titled block of the report, placed after the title in the order given.

    ``html`` is a trusted fragment produced by layerwise code and inserted as is (never pass user
    text there); ``text`` is plain text and escaped; ``figures`` are matplotlib figures, rendered
    like the report's own.
    """

    title: str
    html: str = ""
    figures: tuple[Figure, ...] = ()
    text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "figures", tuple(self.figures))


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _value(value: object) -> str:
    """Escaped text of a verdict field: numbers formatted, lists and dicts spelled out."""
    if isinstance(value, Mapping):
        return "; ".join(f"{escape(str(k))}: {_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return escape(fmt(value))


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
        rows.append(f'<tr data-arm="{escape(name)}"><th scope="row">{escape(name)}</th>'
                    f"<td>{len(values) or ''}</td><td>{_value(arm.get('mean', ''))}</td>"
                    f"<td>{_ci(arm.get('ci95'))}</td><td class=\"lw-values\">{_value(values)}</td></tr>")
    head = "<tr><th>arm</th><th>n</th><th>mean</th><th>95% CI</th><th>values</th></tr>"
    return f'<table class="lw-table lw-arms"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


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


def verdict_section(verdict: dict) -> Section:
    """A study verdict (``study``, ``claim``, ``arms`` with values/mean/ci95, ``verdict``...) as a Section.

    Missing keys are left out; ``effect`` may be a number or a dict; unknown keys are listed too.
    """
    verdict = dict(verdict) if isinstance(verdict, Mapping) else {"verdict": str(verdict)}
    word = str(verdict.get("verdict", "not-judged"))
    css = re.sub(r"[^a-z0-9-]", "", word.lower()) or "unknown"
    keys = [k for k in HEADER_KEYS if k in verdict]
    keys += [k for k in verdict if k not in HEADER_KEYS and k not in ("arms", "verdict")]
    fields = "".join(f"<tr><th scope=\"row\">{escape(str(k))}</th><td>{_value(verdict[k])}</td></tr>"
                     for k in keys)
    arms = _arms(verdict.get("arms"))
    badge = f'<span class="lw-verdict lw-verdict-{css}" data-verdict="{escape(word)}">{escape(word)}</span>'
    html = (f'<div class="lw-verdict-box"><p class="lw-verdict-line">Verdict: {badge}</p>'
            f'<table class="lw-table lw-kv"><tbody>{fields}</tbody></table>'
            + (_arms_table(arms) if arms else "") + "</div>")
    figure = _arms_figure(arms, str(verdict.get("metric", "value")), str(verdict.get("better", "")))
    study = verdict.get("study")
    return Section(title=f"Verdict: {study}" if study else "Verdict", html=html,
                   figures=(figure,) if figure is not None else ())
