"""Charts of the strace section of the HTML report, in the house style of `analyzer.render.plots`.

``syscalls`` and ``targets``: total time of the top syscalls / targets. ``threads``: the
busiest threads, each bar split by syscall (the largest few among those threads, the rest as
``other``). matplotlib is imported only when there is something to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analyzer.render.plots import PALETTE, bar_chart, stacked_bar_chart

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.strace_view import StraceView
    from analyzer.render.view import ReportView

__all__ = ["section_charts", "strace_charts"]


def strace_charts(
    strace: StraceView, *, top: int = 15, threads: int = 12, thread_syscalls: int = 7
) -> dict[str, str | None]:
    """The charts ``syscalls``, ``targets`` (the `top` rows) and ``threads`` (the `threads`
    busiest threads split by the `thread_syscalls` largest syscalls among them, the rest as
    ``other``); a value is None when there is no data for it."""
    syscalls = strace.top_syscalls(top)
    targets = strace.top_targets(top)
    charts: dict[str, str | None] = {
        "syscalls": bar_chart(
            [str(row["syscall"]) for row in syscalls],
            [float(row["total_s"] or 0.0) for row in syscalls],
            salt="syscalls",
            colour=PALETTE[0],
        ),
        "targets": bar_chart(
            [str(row["target"]) for row in targets],
            [float(row["total_s"] or 0.0) for row in targets],
            salt="targets",
            colour=PALETTE[2],
        ),
    }
    groups = strace.thread_groups[:threads]
    by_syscall: dict[str, float] = {}
    for group in groups:
        for row in group["rows"]:
            name = str(row["syscall"])
            by_syscall[name] = by_syscall.get(name, 0.0) + float(row["total_s"] or 0.0)
    ranked = sorted(by_syscall, key=lambda name: (-by_syscall[name], name))
    shown = ranked[:thread_syscalls]
    series: list[tuple[str, list[float]]] = []
    for name in shown:
        series.append(
            (
                name,
                [
                    sum(float(r["total_s"] or 0.0) for r in g["rows"] if str(r["syscall"]) == name)
                    for g in groups
                ],
            )
        )
    if len(ranked) > len(shown):
        series.append(
            (
                "other",
                [
                    sum(
                        float(r["total_s"] or 0.0)
                        for r in g["rows"]
                        if str(r["syscall"]) not in shown
                    )
                    for g in groups
                ],
            )
        )
    charts["threads"] = stacked_bar_chart(
        [str(group["label"]) for group in groups], series, salt="threads"
    )
    return charts


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    """The strace charts of the report, sized by the renderer's ``chart_rows`` and
    ``chart_threads`` limits."""
    return strace_charts(
        view.sections["strace"], top=limits["chart_rows"], threads=limits["chart_threads"]
    )
