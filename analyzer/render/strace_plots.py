"""Charts of the strace section of the HTML report, in the house style of `analyzer.render.plots`.

``syscalls`` and ``targets``: total time of the top syscalls / targets. ``threads``: the
busiest threads, each bar split by syscall (the largest few among those threads, the rest as
``other``). ``timeline-N``: the thread timeline of the N-th strace input
(`analyzer.render.strace_timeline`). ``latency-syscall-N``, ``latency-target-N``: log2
histograms of the call times of the top syscalls and targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from analyzer.render.formatting import duration, elide
from analyzer.render.plots import PALETTE, bar_chart, histogram_chart, stacked_bar_chart
from analyzer.render.strace_timeline import lane_chart_lines, timeline_svg

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.strace_view import StraceView
    from analyzer.render.view import ReportView

__all__ = [
    "latency_charts",
    "log2_buckets",
    "section_charts",
    "section_images",
    "strace_charts",
    "timeline_charts",
]


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
            xlabel="total time in the call (summed over threads)",
            series="time in syscall",
            title="Total time by syscall",
        ),
        "targets": bar_chart(
            [str(row["target"]) for row in targets],
            [float(row["total_s"] or 0.0) for row in targets],
            salt="targets",
            colour=PALETTE[2],
            xlabel="total time in calls on the target (summed over threads)",
            series="time on file, socket or pipe",
            title="Total time by target",
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
        [str(group["label"]) for group in groups],
        series,
        salt="threads",
        xlabel="time in syscalls per thread, by syscall",
        title="Syscall time of the busiest threads",
    )
    return charts


def log2_buckets(durations: np.ndarray) -> list[tuple[str, int]]:
    """Durations (seconds) counted in BCC biolatency's power-of-two microsecond buckets
    (``0-1, 2-3, 4-7 ...`` µs, a duration of d seconds in the bucket of ``int(d * 1e6)``),
    from the first bucket to the last non-empty one, each labelled with its lower edge."""
    micros = np.floor(np.maximum(durations, 0.0) * 1e6).astype(np.int64)
    slots = np.where(micros <= 1, 0, np.floor(np.log2(np.maximum(micros, 1))).astype(np.int64))
    counts = np.bincount(slots)
    return [
        ("0" if slot == 0 else duration((1 << slot) * 1e-6), int(n))
        for slot, n in enumerate(counts.tolist())
    ]


def latency_charts(
    view: ReportView, *, syscalls: int = 4, targets: int = 4
) -> dict[str, str | None]:
    """Log2 latency histograms (biolatency's layout) of the `syscalls` syscalls and the
    `targets` targets with the most total time, keyed ``latency-syscall-N`` and
    ``latency-target-N``."""
    calls = view.tables.get("syscalls") if view.tables else None
    strace = view.sections["strace"]
    needed = {"syscall", "target", "duration_s"}
    if calls is None or calls.num_rows == 0 or not strace.shown:
        return {}
    if not needed <= set(calls.column_names):
        return {}
    import pyarrow.compute as pc

    from analyzer.arrays import numbers

    charts: dict[str, str | None] = {}
    # Only the three columns read: the calls of a long trace are a mapped file of them all.
    timed = calls.select(sorted(needed))
    timed = timed.filter(pc.is_valid(timed["duration_s"]))
    for kind, column, rows, colour in (
        ("syscall", "syscall", strace.top_syscalls(syscalls), PALETTE[0]),
        ("target", "target", strace.top_targets(targets), PALETTE[2]),
    ):
        for index, row in enumerate(rows):
            name = str(row[kind])
            mine = timed.filter(pc.equal(timed[column], name))
            if mine.num_rows == 0:
                continue
            charts[f"latency-{kind}-{index}"] = histogram_chart(
                log2_buckets(numbers(mine["duration_s"])),
                salt=f"latency-{kind}-{index}",
                title=f"{elide(name, 60)}: {mine.num_rows} calls",
                xlabel="time in the call (power-of-two buckets, lower edge)",
                series=f"calls {'of' if kind == 'syscall' else 'on'} {elide(name, 40)}",
                colour=colour,
                width=540,
            )
    return charts


def timeline_charts(view: ReportView, *, standalone: bool = False) -> dict[str, str | None]:
    """The thread timeline of each strace input, keyed ``timeline-N`` (an image for the
    Markdown report when `standalone`: no links, its own colours)."""
    strace = view.sections["strace"]
    if not strace.shown:
        return {}
    return {
        f"timeline-{index}": timeline_svg(
            tt,
            salt=f"timeline-{index}",
            origin_label=view.ts(tt.timeline.start_s),
            standalone=standalone,
            links=not standalone,
        )
        for index, tt in enumerate(strace.drawn_timelines)
    }


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    """The strace charts of the report, sized by the renderer's ``chart_rows`` and
    ``chart_threads`` limits: the bars, the thread timelines and the latency histograms."""
    charts = strace_charts(
        view.sections["strace"], top=limits["chart_rows"], threads=limits["chart_threads"]
    )
    charts.update(timeline_charts(view))
    charts.update(latency_charts(view))
    return charts


def section_images(view: ReportView) -> dict[str, dict[str, str]]:
    """The images of the Markdown report, keyed like the charts: ``svg`` (a standalone SVG)
    and ``text`` (the same as text, for a viewer that shows no image): the thread
    timelines."""
    strace = view.sections["strace"]
    images: dict[str, dict[str, str]] = {}
    for key, svg in timeline_charts(view, standalone=True).items():
        tt = strace.drawn_timelines[int(key.rsplit("-", 1)[1])]
        lines = lane_chart_lines(tt, 100, origin_label=view.ts(tt.timeline.start_s))
        if svg:
            images[key] = {"svg": svg, "text": "\n".join(lines)}
    return images
