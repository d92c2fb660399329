"""The chart kinds every source draws with (bars, stacked bars, steps, episodes, log2
histograms) and the findings' charts, as hand-written SVG (`analyzer.render.svg`); each
source's charts are in ``analyzer/render/<source>_plots.py``.

Every chart has axis labels with units and a legend; causes and thread states have one colour
each (`analyzer.render.svg.CAUSE_COLOURS`). Element ids are prefixed with the chart's name
(its *salt*), so several charts can sit in one HTML page; the same data gives the same bytes.
Drawing a report's charts takes milliseconds and imports nothing (matplotlib, which drew them
before, took ~2.5 s per default run).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from analyzer.render.formatting import count, duration, elide
from analyzer.render.svg import (
    CAUSE_COLOURS,
    FONT,
    OTHER_COLOUR,
    PALETTE,
    Frame,
    nice_ticks,
    text_width,
    x_axis,
)

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = [
    "OTHER_COLOUR",
    "PALETTE",
    "bar_chart",
    "episodes_chart",
    "finding_charts",
    "histogram_chart",
    "seconds_label",
    "stacked_bar_chart",
    "step_chart",
]

WIDTH = 820.0
"""Width of every chart, px (it scales down with the page)."""
ROW = 18.0
"""Height of one bar row, px."""
LABEL_CHARS = 44
"""Bar labels longer than this are cut in the middle (a path keeps its file name)."""


def seconds_label(value: float) -> str:
    """A tick on a seconds axis: ``0``, ``0.25``, ``1.5``, ``120``."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _label_column(labels: Sequence[str], limit: int = LABEL_CHARS) -> tuple[list[str], float]:
    shown = [elide(label, limit) for label in labels]
    width = max((text_width(label) for label in shown), default=0.0)
    return shown, min(max(width + 12, 60.0), 320.0)


def _bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    salt: str,
    title: str,
    xlabel: str,
    colours: Sequence[str],
) -> str | None:
    totals = [sum(values[i] for _name, values in series) for i in range(len(labels))]
    if not labels or max(totals, default=0.0) <= 0:
        return None
    shown, label_width = _label_column(labels)
    left, right = 8 + label_width, WIDTH - 70
    top = 10.0
    bottom = top + ROW * len(labels) + 4
    legend_items = [(name, colour) for (name, _v), colour in zip(series, colours, strict=True)]
    legend_rows = 1 + int(sum(text_width(n, FONT - 1) + 30 for n, _c in legend_items) // WIDTH)
    frame = Frame(salt, title, WIDTH, bottom + 40 + 16 * legend_rows + 8)
    scale = x_axis(
        frame,
        left=left,
        right=right,
        y=bottom,
        top_value=max(totals),
        label=xlabel,
        fmt=duration,
        grid_top=top,
    )
    for row, (label, full) in enumerate(zip(shown, labels, strict=True)):
        y = top + row * ROW
        frame.text(left - 6, y + ROW * 0.68, label, anchor="end", tip=full)
        x = left
        for (name, values), colour in zip(series, colours, strict=True):
            value = values[row]
            if value <= 0:
                continue
            width = scale(value) - left
            tip = f"{full}: {duration(value)}" + (f" in {name}" if len(series) > 1 else "")
            frame.rect(x, y + 2, width, ROW - 5, colour, tip)
            x += width
        frame.text(x + 4, y + ROW * 0.68, duration(totals[row]), size=FONT - 1, cls="mu")
    frame.legend(legend_items, left, bottom + 52, right - left)
    return frame.svg()


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    salt: str,
    colour: str = PALETTE[0],
    xlabel: str = "total time in calls (summed over threads)",
    series: str = "time",
    title: str = "",
) -> str | None:
    """Horizontal bars of durations (largest first, as given), each labelled with its value,
    with a duration axis, its label and a legend naming the `series`. None when there is
    nothing to draw. `salt` names the chart; it must be unique within a page."""
    return _bars(
        labels,
        [(series, list(values))],
        salt=salt,
        title=title or xlabel,
        xlabel=xlabel,
        colours=[colour],
    )


def stacked_bar_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    salt: str,
    xlabel: str = "time in calls",
    title: str = "",
) -> str | None:
    """Horizontal bars (one per label) stacked from `series` of (name, values), with a legend.
    A series named ``other`` is grey. None when there is nothing to draw."""
    if not series:
        return None
    colours = [
        OTHER_COLOUR if name == "other" else PALETTE[index % len(PALETTE)]
        for index, (name, _values) in enumerate(series)
    ]
    return _bars(labels, series, salt=salt, title=title or xlabel, xlabel=xlabel, colours=colours)


def _time_frame(
    salt: str, title: str, height: float, span: float, origin_label: str, left: float = 56.0
) -> tuple[Frame, Any, float, float]:
    frame = Frame(salt, title, WIDTH, height)
    right = WIDTH - 20
    axis_y = height - 62
    scale = x_axis(
        frame,
        left=left,
        right=right,
        y=axis_y,
        top_value=span,
        label=f"seconds after {origin_label}",
        fmt=seconds_label,
        grid_top=10,
    )
    return frame, scale, axis_y, right


def step_chart(
    points: Sequence[Sequence[float]],
    *,
    salt: str,
    ylabel: str,
    origin_label: str,
    title: str = "",
) -> str | None:
    """A step chart of ``[[time, count], ...]`` change points (each value holds until the
    next point: threads blocked, requests in flight ...), time in seconds after the first
    point, whole-number y ticks, the y axis labelled `ylabel` and a legend."""
    if len(points) < 2:
        return None
    origin = float(points[0][0])
    times = [float(point[0]) - origin for point in points]
    values = [float(point[1]) for point in points]
    span = max(times[-1], 1e-9)
    frame, scale, axis_y, right = _time_frame(salt, title or ylabel, 250, span, origin_label)
    left, top = 56.0, 10.0
    y_ticks = [t for t in nice_ticks(max(max(values), 1.0), 4) if t == int(t)] or [0.0, 1.0]
    hi = y_ticks[-1] or 1.0

    def y_of(value: float) -> float:
        return axis_y - (axis_y - top) * value / hi

    frame.line(left, top, left, axis_y)
    for tick in y_ticks:
        frame.line(left - 4, y_of(tick), left, y_of(tick))
        if tick:
            frame.line(left, y_of(tick), right, y_of(tick), cls="gr")
        frame.text(left - 7, y_of(tick) + 4, count(tick), anchor="end", size=FONT - 1, cls="mu")
    frame.text(14, (top + axis_y) / 2, ylabel, anchor="middle", rotate=True)
    path = [f"M{scale(0):.1f},{y_of(0):.1f}"]
    for index, (time, value) in enumerate(zip(times, values, strict=True)):
        x = scale(time)
        path.append(f"L{x:.1f},{y_of(values[index - 1] if index else 0):.1f}")
        path.append(f"L{x:.1f},{y_of(value):.1f}")
    path.append(f"L{scale(span):.1f},{y_of(values[-1]):.1f}L{scale(span):.1f},{y_of(0):.1f}Z")
    frame.add(
        f'<path d="{"".join(path)}" fill="{PALETTE[0]}" fill-opacity="0.3" '
        f'stroke="{PALETTE[0]}" stroke-width="1.2"/>'
    )
    peak = max(range(len(values)), key=lambda i: values[i])
    frame.legend(
        [(f"{ylabel} (peak {count(values[peak])} at +{seconds_label(times[peak])} s)", PALETTE[0])],
        left,
        axis_y + 50,
        right - left,
    )
    return frame.svg()


def episodes_chart(
    episodes: Sequence[tuple[float, float] | tuple[float, float, str]],
    *,
    salt: str,
    origin: float,
    origin_label: str,
    title: str = "blocked episodes",
    link: str | None = None,
) -> str | None:
    """Episodes (start, duration[, cause]) as spans on a time line from `origin`, coloured
    by cause (one colour per cause, with a legend)."""
    if not episodes:
        return None
    ends = [float(e[0]) + float(e[1]) - origin for e in episodes]
    span = max(max(ends), 1e-9)
    frame, scale, axis_y, right = _time_frame(salt, title, 130, span, origin_label, left=20)
    causes: list[str] = []
    for episode in episodes:
        start, length = float(episode[0]), float(episode[1])
        cause = str(episode[2]) if len(episode) > 2 and episode[2] else "blocked"
        if cause not in causes:
            causes.append(cause)
        colour = CAUSE_COLOURS.get(cause, PALETTE[3])
        x = scale(start - origin)
        frame.rect(
            x,
            16,
            max(scale(start - origin + length) - x, 1.5),
            axis_y - 24,
            colour,
            f"+{seconds_label(start - origin)} s: {duration(length)}"
            + (f", {cause.replace('_', ' ')}" if cause != "blocked" else ""),
        )
    items = [(c.replace("_", " "), CAUSE_COLOURS.get(c, PALETTE[3])) for c in causes]
    frame.legend(items, 20, axis_y + 50, right - 20)
    return frame.svg()


def histogram_chart(
    buckets: Sequence[tuple[str, int]],
    *,
    salt: str,
    title: str,
    xlabel: str = "latency (power-of-two buckets)",
    ylabel: str = "calls",
    series: str = "calls",
    colour: str = PALETTE[0],
    width: float = WIDTH,
) -> str | None:
    """A log2 latency histogram (BCC biolatency's layout) as vertical bars: `buckets` of
    (label, count), low to high, the x axis labelled `xlabel`, counts on the y axis."""
    if not buckets or max(n for _label, n in buckets) <= 0:
        return None
    left, top, right = 52.0, 24.0, width - 12
    label_room = max(text_width(label, FONT - 2) for label, _n in buckets)
    slot = (right - left) / len(buckets)
    rotate = label_room > slot - 2
    axis_y = 150.0
    height = axis_y + (label_room + 10 if rotate else 18) + 40
    frame = Frame(salt, title, width, height)
    frame.text(left, 14, title, weight="600")
    hi = nice_ticks(max(n for _l, n in buckets), 4)
    ticks = [t for t in hi if t == int(t)]
    top_value = ticks[-1] or 1.0

    def y_of(value: float) -> float:
        return axis_y - (axis_y - top) * value / top_value

    frame.line(left, top, left, axis_y)
    frame.line(left, axis_y, right, axis_y)
    for tick in ticks:
        frame.line(left - 4, y_of(tick), left, y_of(tick))
        if tick:
            frame.line(left, y_of(tick), right, y_of(tick), cls="gr")
        frame.text(left - 7, y_of(tick) + 4, count(tick), anchor="end", size=FONT - 1, cls="mu")
    frame.text(14, (top + axis_y) / 2, ylabel, anchor="middle", rotate=True)
    for index, (label, n) in enumerate(buckets):
        x = left + index * slot
        if n:
            frame.rect(
                x + 1, y_of(n), max(slot - 2, 1), axis_y - y_of(n), colour, f"{label}: {count(n)}"
            )
        cx = x + slot / 2
        if rotate:
            frame.text(cx + 3, axis_y + 6, label, anchor="end", size=FONT - 2, cls="mu",
                       rotate=True)  # fmt: skip
        else:
            frame.text(cx, axis_y + 13, label, anchor="middle", size=FONT - 2, cls="mu")
    label_y = axis_y + (label_room + 12 if rotate else 28)
    frame.text((left + right) / 2, label_y, xlabel, anchor="middle")
    frame.legend([(series, colour)], left, label_y + 18, right - left)
    return frame.svg()


def finding_charts(view: ReportView) -> dict[str, str | None]:
    """Charts of findings, keyed ``finding-INDEX``: a step chart of an evidence ``timeline``
    (threads blocked, threads alive ...) or the ``episodes`` of a blocked loop on a time line,
    coloured by cause."""
    charts: dict[str, str | None] = {}
    for row in view.findings:
        evidence = row["evidence"]
        key = f"finding-{row['index']}"
        timeline = evidence.get("timeline")
        episodes = evidence.get("episodes")
        if isinstance(timeline, list) and timeline and isinstance(timeline[0], list):
            label = str(evidence.get("timeline_label") or "threads")
            charts[key] = step_chart(
                timeline,
                salt=key,
                ylabel=label,
                origin_label=view.ts(timeline[0][0]),
                title=f"{label} over time: {row['title']}",
            )
        elif isinstance(episodes, list) and episodes and isinstance(episodes[0], dict):
            spans = [
                (float(e["start"]), float(e["duration_s"]), str(e.get("cause") or ""))
                for e in episodes
                if isinstance(e.get("start"), (int, float))
                and isinstance(e.get("duration_s"), (int, float))
            ]
            if spans:
                origin = float(row["start"]) if row["start"] is not None else spans[0][0]
                origin = min(origin, min(s[0] for s in spans))
                charts[key] = episodes_chart(
                    spans,
                    salt=key,
                    origin=origin,
                    origin_label=view.ts(origin),
                    title=f"episodes: {row['title']}",
                )
    return charts
