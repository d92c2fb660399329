"""Inline SVG charts for the HTML report, drawn with matplotlib's object API (no pyplot): the
chart kinds every source draws with (bars, stacked bars, steps, episodes) and the findings'
charts; each source's charts are in ``analyzer/render/<source>_plots.py``.

Each chart is a `matplotlib.figure.Figure` saved to an SVG string with
``metadata={"Date": None, "Creator": None}`` and its own ``svg.hashsalt``, so the bytes are the
same on every run. Element ids are prefixed with the chart's name, so several charts can sit in
one HTML page without clashing ids. Text stays text (``svg.fonttype: none``) and is never parsed
as mathtext, so a ``$`` in a file name is drawn as it is. matplotlib is imported on first use,
which keeps ``--format text`` and ``--format json`` fast to start.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from analyzer.render.formatting import duration

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from analyzer.render.view import ReportView

__all__ = [
    "PALETTE",
    "bar_chart",
    "episodes_chart",
    "finding_charts",
    "stacked_bar_chart",
    "step_chart",
]

PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#7F3C8D",
)
"""Okabe–Ito colours (colour-blind safe), then one extra; "other" is always grey."""
OTHER_COLOUR = "#B0B0B0"

_RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.edgecolor": "#888888",
    "axes.labelcolor": "#333333",
    "xtick.color": "#555555",
    "ytick.color": "#333333",
}
_ID = re.compile(r'(\bid="|url\(#|href="#)')


def _label(text: object, limit: int = 44) -> str:
    """A tick label cut to `limit` characters, keeping the end (the file name of a path)."""
    value = "" if text is None else str(text)
    return value if len(value) <= limit else "…" + value[-(limit - 1) :]


def _new_figure(rows: int, *, extra_height: float = 0.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(8.0, 0.9 + 0.26 * rows + extra_height), layout="constrained")


def _to_svg(fig: Figure, salt: str) -> str:
    """`fig` as an SVG element ready to inline in HTML (no XML prolog, ids prefixed)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"iodiag-{salt}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    return _ID.sub(lambda match: f"{match.group(1)}{salt}-", svg)


def _duration_axis(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: duration(value)))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e4e4e4", linewidth=0.6)
    ax.set_axisbelow(True)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], *, salt: str, colour: str = PALETTE[0]
) -> str | None:
    """A horizontal bar chart of durations (largest on top), each bar labelled with its value.

    Returns None when there is nothing to draw. `salt` names the chart; it must be unique
    within a page.
    """
    if not values or max(values, default=0.0) <= 0:
        return None
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _new_figure(len(values))
        ax = fig.add_subplot()
        positions = list(range(len(values)))
        ax.barh(positions, list(values), color=colour, height=0.7)
        ax.set_yticks(positions, [_label(label) for label in labels])
        ax.invert_yaxis()
        ax.margins(x=0.14, y=0.02)
        _duration_axis(ax)
        for position, value in zip(positions, values, strict=True):
            ax.annotate(
                duration(value),
                (value, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#333333",
            )
        return _to_svg(fig, salt)


def stacked_bar_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, salt: str
) -> str | None:
    """Horizontal bars (one per label) stacked from `series` of (name, values), with a legend.

    A series named ``other`` is drawn in grey. Returns None when there is nothing to draw.
    """
    if not labels or not series:
        return None
    totals = [sum(values[index] for _name, values in series) for index in range(len(labels))]
    if max(totals, default=0.0) <= 0:
        return None
    import matplotlib

    with matplotlib.rc_context(_RC):
        legend_rows = (len(series) + 4) // 5
        fig = _new_figure(len(labels), extra_height=0.22 * legend_rows)
        ax = fig.add_subplot()
        positions = list(range(len(labels)))
        left = [0.0] * len(labels)
        for index, (name, values) in enumerate(series):
            colour = OTHER_COLOUR if name == "other" else PALETTE[index % len(PALETTE)]
            ax.barh(positions, list(values), left=list(left), color=colour, height=0.7, label=name)
            left = [base + value for base, value in zip(left, values, strict=True)]
        ax.set_yticks(positions, [_label(label, 36) for label in labels])
        ax.invert_yaxis()
        ax.margins(x=0.14, y=0.02)
        _duration_axis(ax)
        for position, total in zip(positions, totals, strict=True):
            ax.annotate(
                duration(total),
                (total, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#333333",
            )
        fig.legend(loc="outside lower center", ncols=min(len(series), 5), frameon=False)
        return _to_svg(fig, salt)


def step_chart(
    points: Sequence[Sequence[float]], *, salt: str, ylabel: str, origin_label: str
) -> str | None:
    """A step chart of ``[[time, count], ...]`` change points (each value holds until the next
    point: threads blocked, requests in flight ...), time in seconds after the first point,
    whole-number y ticks."""
    if len(points) < 2:
        return None
    from matplotlib import rc_context
    from matplotlib.ticker import MaxNLocator

    with rc_context(_RC):
        fig = _new_figure(6)
        ax = fig.add_subplot()
        origin = float(points[0][0])
        times = [float(point[0]) - origin for point in points]
        values = [float(point[1]) for point in points]
        ax.step(times, values, where="post", color=PALETTE[0], linewidth=1.0)
        ax.fill_between(times, values, step="post", color=PALETTE[0], alpha=0.25, linewidth=0)
        ax.set_xlabel(f"seconds after {origin_label}")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0, top=max(max(values), 1) * 1.1)
        ax.set_xlim(left=0, right=max(times[-1], 1e-9))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.spines[["top", "right"]].set_visible(False)
        return _to_svg(fig, salt)


def episodes_chart(
    episodes: Sequence[tuple[float, float]], *, salt: str, origin: float, origin_label: str
) -> str | None:
    """Blocking episodes (start, duration) as bars on a time line starting at `origin`."""
    if not episodes:
        return None
    from matplotlib import rc_context

    with rc_context(_RC):
        fig = _new_figure(2)
        ax = fig.add_subplot()
        ax.broken_barh(
            [(start - origin, length) for start, length in episodes], (0, 1), color=PALETTE[3]
        )
        ax.set_yticks([])
        ax.set_xlabel(f"seconds after {origin_label}")
        ax.set_xlim(left=0)
        ax.spines[["top", "right", "left"]].set_visible(False)
        return _to_svg(fig, salt)


def finding_charts(view: ReportView) -> dict[str, str | None]:
    """Charts of findings, keyed ``finding-INDEX``: a step chart of an evidence ``timeline``
    (threads blocked, threads alive ...) or the ``episodes`` of a blocked loop on a time line."""
    charts: dict[str, str | None] = {}
    for row in view.findings:
        evidence = row["evidence"]
        key = f"finding-{row['index']}"
        timeline = evidence.get("timeline")
        episodes = evidence.get("episodes")
        if isinstance(timeline, list) and timeline and isinstance(timeline[0], list):
            charts[key] = step_chart(
                timeline,
                salt=key,
                ylabel=str(evidence.get("timeline_label") or "threads"),
                origin_label=view.ts(timeline[0][0]),
            )
        elif isinstance(episodes, list) and episodes and isinstance(episodes[0], dict):
            spans = [
                (float(e["start"]), float(e["duration_s"]))
                for e in episodes
                if isinstance(e.get("start"), (int, float))
                and isinstance(e.get("duration_s"), (int, float))
            ]
            if spans:
                origin = float(row["start"]) if row["start"] is not None else spans[0][0]
                charts[key] = episodes_chart(
                    spans, salt=key, origin=origin, origin_label=view.ts(origin)
                )
    return charts
