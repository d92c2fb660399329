"""The thread timeline drawn: an SVG (zoomable in the HTML report, an image in the Markdown
report) and a text lane chart (the terminal, and the Markdown report's fallback).

The data is `analyzer.derive.strace_timeline.Timeline` (one lane per thread, the dominant state
per time bucket) with the findings laid over it (`analyzer.render.strace_view.Overlay`). In
the SVG each run of one state is one rectangle with a hover title (thread, time, state,
resource, share); the findings are a strip above the lanes and outlines on their threads'
lanes, each a link to its finding. The HTML report's script (``reports/timeline.js``) adds
drag-to-zoom, zoom out, reset and a details line; without it the picture is complete.
"""

from __future__ import annotations

import numpy as np

from analyzer.derive.strace_timeline import STATE_LABELS, STATES
from analyzer.render.formatting import duration, elide, percent, short
from analyzer.render.plots import seconds_label
from analyzer.render.strace_view import Overlay, ThreadTimeline
from analyzer.render.svg import CAUSE_COLOURS, FONT, Frame, esc, nice_ticks

__all__ = [
    "LANE_CHARS",
    "SEVERITY_COLOURS",
    "lane_chart_lines",
    "timeline_svg",
]

SEVERITY_COLOURS = {"error": "#C62828", "warning": "#B26A00", "info": "#1F6FEB"}
LANE_CHARS: dict[str, str] = {
    "running": "#",
    "file": "F",
    "net": "N",
    "pipe": "P",
    "lock": "L",
    "sleep": "z",
    "idle": ".",
    "syscall": "s",
}
"""The character of each state in the text lane chart."""

WIDTH = 1100.0
LABEL_W = 170.0
LANE_H = 15.0
FINDING_H = 13.0
MAX_FINDING_ROWS = 8


def _finding_rows(overlays: list[Overlay]) -> list[tuple[int, str, str, str, list[Overlay]]]:
    """(finding, code, severity, title, spans) per finding, in finding order, at most
    `MAX_FINDING_ROWS`."""
    rows: dict[int, tuple[int, str, str, str, list[Overlay]]] = {}
    for overlay in overlays:
        if overlay.finding not in rows:
            rows[overlay.finding] = (
                overlay.finding,
                overlay.code,
                overlay.severity,
                overlay.title,
                [],
            )
        rows[overlay.finding][4].append(overlay)
    return sorted(rows.values())[:MAX_FINDING_ROWS]


def timeline_svg(
    tt: ThreadTimeline,
    *,
    salt: str,
    origin_label: str,
    standalone: bool = False,
    links: bool = True,
) -> str:
    """The timeline as one SVG: lanes, findings strip, time axis and legend."""
    tl = tt.timeline
    left, right = LABEL_W, WIDTH - 12
    plot_w = right - left
    rows = _finding_rows(tt.overlays)
    top = 8.0
    strip_top = top
    lanes_top = strip_top + len(rows) * (FINDING_H + 2) + (6 if rows else 0)
    lanes_bottom = lanes_top + len(tl.lanes) * (LANE_H + 2)
    axis_y = lanes_bottom + 4
    present = [name for index, name in enumerate(STATES) if (tl.state == index).any()]
    legend_h = 16 * (1 + (len(present) + len(rows) > 5))
    height = axis_y + 44 + legend_h + 6
    frame = Frame(salt, f"Thread timeline of {tt.name}", WIDTH, height)
    span = tl.bucket_s * tl.buckets

    def x_of(t: float) -> float:
        return left + plot_w * (t - tl.start_s) / span

    frame.add(
        f'<clipPath id="clip"><rect x="{left}" y="0" width="{plot_w:.1f}" height="{height}"/>'
        "</clipPath>"
    )
    # labels
    for index, (_f, code, _severity, title, _spans) in enumerate(rows):
        y = strip_top + index * (FINDING_H + 2)
        frame.text(left - 6, y + FINDING_H - 3, short(f"{code} {title}", 26), anchor="end",
                   size=FONT - 1, tip=title)  # fmt: skip
    for index, lane in enumerate(tl.lanes):
        y = lanes_top + index * (LANE_H + 2)
        tip = lane.label + (f", pid {lane.pid}" if lane.pid is not None else "")
        tip += f": busy {duration(lane.busy_s)} (time in anything but idle waits)"
        frame.text(left - 6, y + LANE_H - 3.5, elide(lane.label, 26), anchor="end",
                   size=FONT - 1, tip=tip)  # fmt: skip
    frame.add('<g class="tl-zoom" clip-path="url(#clip)"><g class="tl-inner">')
    for index, lane in enumerate(tl.lanes):
        y = lanes_top + index * (LANE_H + 2)
        frame.rect(left, y, plot_w, LANE_H, "none", extra=' class="tl-lane"')
        for first, count, state in tl.runs(index):
            if state < 0:
                continue
            name = STATES[state]
            share = float(tl.share[index, first : first + count].mean())
            resource = tl.resource[index][first]
            a = tl.start_s + first * tl.bucket_s
            b = a + count * tl.bucket_s
            tip = (
                f"{lane.label} · +{seconds_label(a - tl.start_s)}–+{seconds_label(b - tl.start_s)}"
                f" s · {STATE_LABELS[name]}"
                + (f" on {resource}" if resource else "")
                + f" ({percent(share)} of the time)"
            )
            frame.rect(
                left + plot_w * first / tl.buckets,
                y,
                plot_w * count / tl.buckets,
                LANE_H,
                CAUSE_COLOURS[name],
                tip,
                extra=' shape-rendering="crispEdges"',
            )
    lane_index = {lane.tid: i for i, lane in enumerate(tl.lanes) if lane.tid is not None}
    for index, (finding, _code, severity, title, spans) in enumerate(rows):
        y = strip_top + index * (FINDING_H + 2)
        colour = SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"])
        parts = []
        for span_ in spans:
            x0 = x_of(span_.start)
            w = max(x_of(span_.end) - x0, 2.0)
            tip = f"{title}: {duration(span_.end - span_.start)} from +"
            tip += f"{seconds_label(span_.start - tl.start_s)} s"
            parts.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{w:.1f}" height="{FINDING_H}" '
                f'fill="{colour}" fill-opacity="0.85"><title>{esc(tip)}</title></rect>'
            )
            for tid in span_.tids:
                if tid in lane_index:
                    ly = lanes_top + lane_index[tid] * (LANE_H + 2)
                    parts.append(
                        f'<rect x="{x0:.1f}" y="{ly - 1:.1f}" width="{w:.1f}" '
                        f'height="{LANE_H + 2}" fill="none" stroke="{colour}" '
                        'stroke-width="1.5" vector-effect="non-scaling-stroke">'
                        f"<title>{esc(tip)}</title></rect>"
                    )
        body = "".join(parts)
        if links:
            frame.add(f'<a href="#finding-{finding}" class="tl-finding">{body}</a>')
        else:
            frame.add(body)
    frame.add("</g></g>")
    # axis
    frame.line(left, axis_y, right, axis_y)
    frame.add(f'<g class="tl-axis" data-left="{left}" data-right="{right:.1f}" '
              f'data-y="{axis_y:.1f}" data-span="{span!r}">')  # fmt: skip
    for tick in nice_ticks(span, 8):
        if tick > span * 1.0001:
            break
        x = x_of(tl.start_s + tick)
        frame.line(x, axis_y, x, axis_y + 4)
        frame.text(x, axis_y + 15, seconds_label(tick), anchor="middle", size=FONT - 1,
                   cls="mu")  # fmt: skip
    frame.add("</g>")
    frame.text((left + right) / 2, axis_y + 30,
               f"seconds after {origin_label} (bucket {duration(tl.bucket_s)})",
               anchor="middle")  # fmt: skip
    items = [(STATE_LABELS[s], CAUSE_COLOURS[s]) for s in present]
    if rows:
        items += [(f"finding ({sev})", c) for sev, c in SEVERITY_COLOURS.items()
                  if any(r[2] == sev for r in rows)]  # fmt: skip
    frame.legend(items, 8, axis_y + 48, WIDTH - 16)
    return frame.svg(standalone=standalone, extra_class="timeline")


def lane_chart_lines(
    tt: ThreadTimeline,
    width: int,
    *,
    origin_label: str,
    runs: list[list[tuple[int, int, str]]] | None = None,
) -> list[str]:
    """The timeline as text, `width` columns wide: one line per lane (label, then one
    character per column, see `LANE_CHARS`; a column shows the state that took most of its
    time), one per finding (``=`` over its spans), a time scale and the legend. With `runs`,
    each line's runs of one state are appended to it as (start, end, state) character
    offsets, for colouring."""
    tl = tt.timeline
    label_w = min(max((len(lane.label) for lane in tl.lanes), default=8), 22)
    rows = _finding_rows(tt.overlays)
    label_w = max(label_w, *(len(f"{code} {sev}") for _f, code, sev, _t, _s in rows), 8)
    cells = max(width - label_w - 3, 10)
    buckets = tl.buckets
    lines: list[str] = []

    def column(t: float) -> int:
        return min(max(int((t - tl.start_s) / (tl.bucket_s * buckets) * cells), 0), cells - 1)

    for _finding, code, severity, _title, found in rows:
        marks = [" "] * cells
        for span_ in found:
            for col in range(column(span_.start), column(span_.end) + 1):
                marks[col] = "="
        lines.append(f"{f'{code} {severity}':>{label_w}} |{''.join(marks).rstrip()}")
    edges = np.unique(np.minimum((np.arange(cells) * buckets) // cells, buckets - 1))
    if len(edges) < cells:  # fewer buckets than columns: repeat them
        edges = np.minimum((np.arange(cells) * buckets) // cells, buckets - 1)
        seconds = tl.seconds[:, edges, :]
    else:
        seconds = np.add.reduceat(tl.seconds, edges, axis=1)
    dominant = np.where(seconds.sum(axis=2) > 0, seconds.argmax(axis=2), -1)
    for index, lane in enumerate(tl.lanes):
        states = [int(state) for state in dominant[index]]
        text = ""
        lane_runs: list[tuple[int, int, str]] = []
        run_start = 0
        offset = label_w + 2
        for col in range(1, cells + 1):
            if col == cells or states[col] != states[run_start]:
                state = states[run_start]
                chunk = (LANE_CHARS[STATES[state]] if state >= 0 else " ") * (col - run_start)
                if state >= 0:
                    lane_runs.append((offset + run_start, offset + col, STATES[state]))
                text += chunk
                run_start = col
        lines.append(f"{elide(lane.label, label_w):>{label_w}} |{text.rstrip()}")
        if runs is not None:
            while len(runs) < len(lines) - 1:
                runs.append([])
            runs.append(lane_runs)
    span = tl.bucket_s * buckets
    scale = [" "] * cells
    labels = [(0, "0")]
    for tick in nice_ticks(span, max(cells // 16, 1))[1:]:
        if tick > span * 1.0001:
            break
        labels.append((column(tl.start_s + tick), seconds_label(tick)))
    end = 0
    for col, label in labels:
        if col >= end and col + len(label) <= cells:
            scale[col : col + len(label)] = list(label)
            end = col + len(label) + 2
    lines.append(f"{'seconds':>{label_w}} |{''.join(scale).rstrip()}")
    lines.append(f"{'':>{label_w}}  after {origin_label}; one column is "
                 f"{duration(span / cells)}")  # fmt: skip
    legend = ""
    for name in STATES:
        item = f"{LANE_CHARS[name]} {STATE_LABELS[name].split(' (')[0]}"
        if legend and label_w + 2 + len(legend) + 2 + len(item) > width:
            lines.append(f"{'':>{label_w}}  {legend}")
            legend = ""
        legend = f"{legend}  {item}" if legend else item
    lines.append(f"{'':>{label_w}}  {legend}")
    return lines
