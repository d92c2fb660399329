"""Charts of the perf section of the HTML report, in the house style of `analyzer.render.plots`.

``block_latency-N``: BCC biolatency's log2 histogram of the N-th device's request latency, as
bars. ``queue_depth-N``: block requests in flight over time on the N-th device of
``perf.block_io.devices`` (a step chart of the ``queue_depth.series`` change points; when the
series was downsampled each step is the largest value in its time bin). ``flamegraph``: the
flame graph of the run's folded stacks (`analyzer.render.flamegraph`, with its own zoom and
search script).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from analyzer.render.base import RenderError
from analyzer.render.formatting import count
from analyzer.render.plots import PALETTE, histogram_chart, step_chart
from analyzer.render.view import number

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["perf_charts", "queue_depth_chart", "section_charts"]


def queue_depth_chart(
    points: Sequence[Sequence[float]], *, salt: str, origin_label: str
) -> str | None:
    """A step chart of ``[[time_s, in_flight], ...]`` change points (`plots.step_chart`)."""
    return step_chart(points, salt=salt, ylabel="requests in flight", origin_label=origin_label)


def perf_charts(view: ReportView) -> dict[str, str | None]:
    """The perf charts of `view`, keyed ``queue_depth-INDEX`` (None when there is nothing to
    draw: fewer than two change points)."""
    charts: dict[str, str | None] = {}
    section = view.sections["perf"]
    block = section["block_io"] if section else None
    for index, device in enumerate(block["devices"] if block else []):
        buckets = [
            (f"{bucket['lo']}–{bucket['hi']}", int(number(bucket["count"])))
            for bucket in device["buckets"]
        ]
        charts[f"block_latency-{index}"] = histogram_chart(
            buckets,
            salt=f"block_latency-{index}",
            title=f"Block I/O latency on {device['dev']}: {count(device['count'])} requests",
            xlabel=f"issue to completion ({device['unit']}, power-of-two buckets)",
            ylabel="requests",
            series=f"requests on {device['dev']}",
            colour=PALETTE[1],
        )
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


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    """The queue depth charts and the flame graph (None without perf stacks or when nothing
    was folded)."""
    from analyzer.render.flamegraph import flamegraph_chart

    charts = perf_charts(view)
    charts["flamegraph"] = None
    with suppress(RenderError):
        charts["flamegraph"] = flamegraph_chart(result, output="html")
    return charts
