"""Line charts of time series for the HTML report, in the house style of `analyzer.render.plots`:
the thread counts of top, ps and pidstat, a device's await and queue size from iostat, a
CloudWatch metric against its limit.

A series is ``[[time, value], ...]`` as the sections give them (`analyzer.sections.series`),
its times in seconds on the input's clock; the x axis counts seconds after the first point
of all series. matplotlib is imported only when there is something to draw.
"""

from __future__ import annotations

from collections.abc import Sequence

from analyzer.render.plots import _RC, PALETTE, _new_figure, _to_svg

__all__ = ["line_chart"]

Series = Sequence[Sequence[float | None]]


def _points(points: Series) -> tuple[list[float], list[float]]:
    times, values = [], []
    for point in points:
        if len(point) >= 2 and point[0] is not None and point[1] is not None:
            times.append(float(point[0]))
            values.append(float(point[1]))
    return times, values


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
    """Lines of `series` (name, points) on the left axis and `right` on a second axis, with an
    optional horizontal `limit` line; None when no series has two points."""
    drawn = [(name, *_points(points)) for name, points in series]
    drawn = [item for item in drawn if len(item[1]) >= 2]
    other = [(name, *_points(points)) for name, points in right]
    other = [item for item in other if len(item[1]) >= 2]
    if not drawn and not other:
        return None
    from matplotlib import rc_context

    origin = min(times[0] for _, times, _ in [*drawn, *other])
    with rc_context(_RC):  # type: ignore[arg-type]
        fig = _new_figure(7, extra_height=0.25)
        ax = fig.add_subplot()
        handles = []
        for index, (name, times, values) in enumerate(drawn):
            shifted = [time - origin for time in times]
            colour = PALETTE[index % len(PALETTE)]
            if steps:
                (line,) = ax.step(shifted, values, where="post", color=colour, label=name)
            else:
                (line,) = ax.plot(shifted, values, color=colour, label=name, linewidth=1.2)
            handles.append(line)
        if limit is not None:
            handles.append(
                ax.axhline(limit, color="#999999", linestyle="--", linewidth=0.9, label=limit_label)
            )
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"seconds after {origin_label}")
        ax.spines[["top"]].set_visible(False)
        if other:
            twin = ax.twinx()
            for index, (name, times, values) in enumerate(other, start=len(drawn)):
                shifted = [time - origin for time in times]
                (line,) = twin.plot(
                    shifted,
                    values,
                    color=PALETTE[index % len(PALETTE)],
                    label=name,
                    linewidth=1.2,
                    linestyle=":",
                )
                handles.append(line)
            twin.set_ylabel(right_label)
            twin.set_ylim(bottom=0)
            twin.spines[["top"]].set_visible(False)
        else:
            ax.spines[["right"]].set_visible(False)
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(handles), 4),
            frameon=False,
        )
        return _to_svg(fig, salt)
