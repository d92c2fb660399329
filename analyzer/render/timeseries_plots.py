"""Line charts of time series for the HTML report, in the house style of `analyzer.render.plots`
(hand-written SVG, `analyzer.render.svg`): the thread counts of top, ps and pidstat, a device's
await and queue size from iostat, a CloudWatch metric against its limit.

A series is ``[[time, value], ...]`` as the sections give them (`analyzer.sections.series`),
its times in seconds on the input's clock; the x axis counts seconds after the first point
of all series. Every chart has its axes labelled and a legend naming each line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from analyzer.render.formatting import elide
from analyzer.render.plots import WIDTH, seconds_label
from analyzer.render.svg import (
    FONT,
    OTHER_COLOUR,
    PALETTE,
    Frame,
    nice_ticks,
    text_width,
    x_axis,
)

__all__ = ["line_chart"]

Series = Sequence[Sequence[float | None]]

HEIGHT = 250.0
"""Height of the plot area with its x axis, px (the legend adds rows below)."""


def _points(points: Series) -> tuple[list[float], list[float]]:
    times, values = [], []
    for point in points:
        if len(point) < 2 or point[0] is None or point[1] is None:
            continue
        time, value = float(point[0]), float(point[1])
        if math.isfinite(time) and math.isfinite(value):
            times.append(time)
            values.append(value)
    return times, values


def _tick(value: float) -> str:
    """A y tick: ``12``, ``1,500``, ``0.25``."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}"


Scale = Callable[[float], float]


def _path(
    times: Sequence[float], values: Sequence[float], x_of: Scale, y_of: Scale, steps: bool
) -> str:
    parts = [f"M{x_of(times[0]):.1f},{y_of(values[0]):.1f}"]
    for index in range(1, len(times)):
        x, y = x_of(times[index]), y_of(values[index])
        if steps:  # each value holds until the next point
            parts.append(f"L{x:.1f},{y_of(values[index - 1]):.1f}")
        parts.append(f"L{x:.1f},{y:.1f}")
    return "".join(parts)


def line_chart(
    series: Sequence[tuple[str, Series]],
    *,
    salt: str,
    ylabel: str,
    origin_label: str,
    right: Sequence[tuple[str, Series]] = (),
    right_label: str = "",
    limit: float | None = None,
    limit_label: str = "",
    steps: bool = False,
) -> str | None:
    """Lines of `series` (name, points) on the left axis and `right` (dotted) on a second axis,
    with an optional horizontal `limit` line; None when no series has two points."""
    drawn = [(name, *_points(points)) for name, points in series]
    drawn = [item for item in drawn if len(item[1]) >= 2]
    other = [(name, *_points(points)) for name, points in right]
    other = [item for item in other if len(item[1]) >= 2]
    if not drawn and not other:
        return None
    origin = min(times[0] for _name, times, _values in [*drawn, *other])
    span = max(max(times) for _name, times, _values in [*drawn, *other]) - origin
    span = span if span > 0 else 1e-9
    left, top = 64.0, 12.0
    right_edge = WIDTH - (64.0 if other else 20.0)
    axis_y = HEIGHT - 62
    items = [(name, PALETTE[index % len(PALETTE)]) for index, (name, _t, _v) in enumerate(drawn)]
    items += [
        (f"{name} (right axis)", PALETTE[index % len(PALETTE)])
        for index, (name, _t, _v) in enumerate(other, start=len(drawn))
    ]
    if limit is not None and math.isfinite(limit):
        items.append((limit_label or "limit", OTHER_COLOUR))
    rows, cursor = 1, 0.0  # the legend's rows, wrapped as Frame.legend wraps them
    for name, _colour in items:
        room = 16 + text_width(name, FONT - 1) + 14
        if cursor > 0 and cursor + room > right_edge - left:
            rows, cursor = rows + 1, 0.0
        cursor += room
    frame = Frame(salt, ylabel, WIDTH, HEIGHT + 16 * (rows - 1))
    x_of = x_axis(
        frame,
        left=left,
        right=right_edge,
        y=axis_y,
        top_value=span,
        label=f"seconds after {origin_label}",
        fmt=seconds_label,
        grid_top=top,
    )

    def y_scale(top_value: float) -> tuple[list[float], Scale]:
        ticks = nice_ticks(top_value if top_value > 0 else 1.0, 4)
        hi = ticks[-1] or 1.0
        return ticks, lambda value: axis_y - (axis_y - top) * max(value, 0.0) / hi

    left_top = max([max(values) for _n, _t, values in drawn] + [limit or 0.0], default=0.0)
    ticks, y_of = y_scale(left_top)
    frame.line(left, top, left, axis_y)
    for tick in ticks:
        frame.line(left - 4, y_of(tick), left, y_of(tick))
        if tick:
            frame.line(left, y_of(tick), right_edge, y_of(tick), cls="gr")
        frame.text(left - 7, y_of(tick) + 4, _tick(tick), anchor="end", size=FONT - 1, cls="mu")
    label = elide(ylabel, int((axis_y - top) / (FONT * 0.6)))
    frame.text(14, (top + axis_y) / 2, label, anchor="middle", rotate=True)
    for (_name, times, values), (_label, colour) in zip(drawn, items, strict=False):
        shifted = [time - origin for time in times]
        frame.add(
            f'<path d="{_path(shifted, values, x_of, y_of, steps)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
    if other:
        ticks, y_right = y_scale(max(max(values) for _n, _t, values in other))
        frame.line(right_edge, top, right_edge, axis_y)
        for tick in ticks:
            frame.line(right_edge, y_right(tick), right_edge + 4, y_right(tick))
            frame.text(right_edge + 7, y_right(tick) + 4, _tick(tick), size=FONT - 1, cls="mu")
        label = elide(right_label, int((axis_y - top) / (FONT * 0.6)))  # fits beside the axis
        frame.text(WIDTH - 10, (top + axis_y) / 2, label, anchor="middle", rotate=True)
        for (_name, times, values), (_label, colour) in zip(
            other, items[len(drawn) :], strict=False
        ):
            shifted = [time - origin for time in times]
            frame.add(
                f'<path d="{_path(shifted, values, x_of, y_right, steps)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="2 3"/>'
            )
    if limit is not None and math.isfinite(limit):  # drawn over the lines, dashed grey
        y = y_of(limit)
        frame.add(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right_edge:.1f}" y2="{y:.1f}" '
            f'stroke="{OTHER_COLOUR}" stroke-width="1" stroke-dasharray="6 4"/>'
        )
    frame.legend(items, left, axis_y + 50, right_edge - left)
    return frame.svg()
