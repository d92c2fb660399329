"""Charts of the perf section of the HTML report, in the house style of `analyzer.render.plots`.

``queue_depth-N``: block requests in flight over time on the N-th device of
``perf.block_io.devices`` (a step chart of the ``queue_depth.series`` change points; when the
series was downsampled each step is the largest value in its time bin). matplotlib is imported
only when there is something to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from analyzer.render.plots import _RC, PALETTE, _new_figure, _to_svg

if TYPE_CHECKING:
    from analyzer.render.base import ReportView

__all__ = ["perf_charts", "queue_depth_chart"]


def queue_depth_chart(
    points: Sequence[Sequence[float]], *, salt: str, origin_label: str
) -> str | None:
    """A step chart of ``[[time_s, in_flight], ...]`` change points (each value holds until
    the next point), time in seconds after the first point, whole-number y ticks."""
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
        ax.set_ylabel("requests in flight")
        ax.set_ylim(bottom=0, top=max(max(values), 1) * 1.1)
        ax.set_xlim(left=0, right=max(times[-1], 1e-9))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.spines[["top", "right"]].set_visible(False)
        return _to_svg(fig, salt)


def perf_charts(view: ReportView) -> dict[str, str | None]:
    """The perf charts of `view`, keyed ``queue_depth-INDEX`` (None when there is nothing to
    draw: fewer than two change points)."""
    charts: dict[str, str | None] = {}
    section = view.perf
    block = section["block_io"] if section else None
    for index, device in enumerate(block["devices"] if block else []):
        depth = device["queue_depth"]
        if not depth or len(depth["series"]) < 2:
            continue
        origin = float(depth["series"][0][0])
        charts[f"queue_depth-{index}"] = queue_depth_chart(
            depth["series"],
            salt=f"queue_depth-{index}",
            origin_label=f"{origin:.6f} s (perf clock)",
        )
    return charts
