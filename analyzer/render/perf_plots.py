"""Charts of the perf section of the HTML report, in the house style of `analyzer.render.plots`.

``queue_depth-N``: block requests in flight over time on the N-th device of
``perf.block_io.devices`` (a step chart of the ``queue_depth.series`` change points; when the
series was downsampled each step is the largest value in its time bin). matplotlib is imported
only when there is something to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from analyzer.render.plots import step_chart

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["perf_charts", "queue_depth_chart"]


def queue_depth_chart(
    points: Sequence[Sequence[float]], *, salt: str, origin_label: str
) -> str | None:
    """A step chart of ``[[time_s, in_flight], ...]`` change points (`plots.step_chart`)."""
    return step_chart(points, salt=salt, ylabel="requests in flight", origin_label=origin_label)


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
