"""The strace part of a report laid out for display (``view.sections["strace"]``).

`StraceView` normalises the strace keys of the report (``syscalls``, ``syscalls_by_thread``,
``targets``, ``errors``, ``in_flight``, ``no_return``, ``tasks``, ``strace_summary``) once:
every row holds all its documented keys (absent ones None), rows are ranked, per-thread
groups are built, so the templates and `analyzer.render.strace_text` stay free of logic.
See docs/report-json.md for the keys it reads.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from analyzer.render.view import display_name, keyed_rows, number

if TYPE_CHECKING:
    from analyzer.derive.strace_timeline import Timeline
    from analyzer.render.view import ReportView

__all__ = [
    "STAT_KEYS",
    "TIMELINE_BUCKETS",
    "TIMELINE_LANES",
    "Overlay",
    "StraceView",
    "ThreadTimeline",
    "section_view",
]

TIMELINE_BUCKETS = 400
"""Time buckets of the drawn timeline (one is 2.3 px wide at full size)."""
TIMELINE_LANES = 40
"""Thread lanes of the drawn timeline; the other threads share one more lane."""
_TIMELINES: dict[tuple[Any, ...], tuple[weakref.ref[Any], Timeline | None]] = {}
"""The last timeline computed, by its calls table (held weakly) and parameters: the HTML and
Markdown reports of one run draw the same timeline, computed once."""
TIMELINE_COLUMNS = frozenset(
    {"input", "tid", "pid", "syscall", "start_s", "end_s", "status", "args", "target"}
    | {"target_kind"}
)
"""The columns of the `syscalls` table the timeline is drawn from."""

STAT_KEYS = ("calls", "errors", "total_s", "min_s", "avg_s", "p50_s", "p95_s", "p99_s", "max_s")
"""The statistics of a syscall row, as ``strace -c -w`` and beyond."""


@dataclass(frozen=True)
class Overlay:
    """A finding's episode or pile-up on the thread timeline: [start, end] on the trace's
    clock, on the lanes of `tids` (all lanes when empty), linked to ``#finding-INDEX``."""

    finding: int
    code: str
    severity: str
    title: str
    start: float
    end: float
    tids: tuple[int, ...]


@dataclass(frozen=True)
class ThreadTimeline:
    """One input's thread timeline with the findings laid over it."""

    input: str
    name: str
    timeline: Timeline
    overlays: list[Overlay]


def _ints(value: object) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


def finding_overlays(findings: list[dict[str, Any]]) -> list[Overlay]:
    """The spans of time the findings are about: each episode of a blocked loop (or of any
    finding with ``episodes``), else the finding's own ``start`` and ``duration_s``."""
    overlays: list[Overlay] = []
    for row in findings:
        evidence = row["evidence"]
        tids = _ints(row["tid"]) or _ints(evidence.get("loop_tid"))
        tids = tids or _ints(evidence.get("threads_at_peak")) or _ints(evidence.get("threads"))
        base = (int(row["index"]), str(row["code"] or ""), str(row["severity"] or "info"))
        title = str(row["title"] or "")
        episodes = evidence.get("episodes")
        spans: list[tuple[float, float]] = []
        if isinstance(episodes, list):
            for episode in episodes:
                if not isinstance(episode, dict):
                    continue
                start = episode.get("start")
                if start is None:
                    start = episode.get("strace_start")
                length = episode.get("duration_s")
                if isinstance(start, (int, float)) and isinstance(length, (int, float)):
                    spans.append((float(start), float(start) + max(float(length), 0.0)))
        if not spans and isinstance(row["start"], (int, float)):
            length = row["duration_s"] if isinstance(row["duration_s"], (int, float)) else 0.0
            spans.append((float(row["start"]), float(row["start"]) + max(float(length), 0.0)))
        overlays += [Overlay(*base, title, start, end, tuple(tids)) for start, end in spans]
    return overlays


class StraceView:
    """The strace keys of one report, normalised for display."""

    def __init__(self, view: ReportView) -> None:
        self.view = view
        self.report = view.report

    @cached_property
    def shown(self) -> bool:
        """Show the strace section: some input is strace (or of no known format), there are
        no inputs at all, or the report has strace data anyway."""
        if not self.view.inputs or any(row["is_strace"] for row in self.view.inputs):
            return True
        return bool(self.report.get("syscalls") or self.report.get("in_flight"))

    # -- syscalls ------------------------------------------------------------------------

    @cached_property
    def syscalls(self) -> list[dict[str, Any]]:
        rows = keyed_rows(self.report.get("syscalls"), ("syscall", *STAT_KEYS))
        rows.sort(key=lambda row: -number(row["total_s"]))
        total = self.syscall_time_total
        for row in rows:
            row["share"] = number(row["total_s"]) / total if total > 0 else None
        return rows

    @cached_property
    def syscall_time_total(self) -> float:
        """Sum of ``total_s`` over all syscalls (time summed over threads, not wall time)."""
        rows = self.report.get("syscalls")
        if not isinstance(rows, list):
            return 0.0
        return sum(number(row.get("total_s")) for row in rows if isinstance(row, dict))

    @cached_property
    def calls_total(self) -> int:
        return int(sum(number(row["calls"]) for row in self.syscalls))

    @cached_property
    def errors_total(self) -> int:
        return int(sum(number(row["errors"]) for row in self.syscalls))

    def top_syscalls(self, limit: int) -> list[dict[str, Any]]:
        return self.syscalls[:limit]

    # -- targets, errors, in-flight, tasks ----------------------------------------------

    @cached_property
    def targets(self) -> list[dict[str, Any]]:
        rows = keyed_rows(
            self.report.get("targets"),
            ("target", "target_kind", "calls", "total_s", "max_s", "syscalls"),
        )
        for row in rows:
            if not isinstance(row["syscalls"], list):
                row["syscalls"] = []
        rows.sort(key=lambda row: -number(row["total_s"]))
        return rows

    def top_targets(self, limit: int) -> list[dict[str, Any]]:
        return self.targets[:limit]

    @cached_property
    def errors(self) -> list[dict[str, Any]]:
        rows = keyed_rows(self.report.get("errors"), ("syscall", "errno", "count"))
        rows.sort(key=lambda row: -number(row["count"]))
        return rows

    @cached_property
    def in_flight(self) -> list[dict[str, Any]]:
        rows = keyed_rows(
            self.report.get("in_flight"), ("tid", "syscall", "start", "waited_s", "target", "line")
        )
        rows.sort(key=lambda row: -number(row["waited_s"]))
        return rows

    @cached_property
    def no_return(self) -> dict[str, Any]:
        raw = self.report.get("no_return")
        raw = raw if isinstance(raw, dict) else {}
        by_syscall = raw.get("by_syscall")
        pairs = sorted(
            (by_syscall if isinstance(by_syscall, dict) else {}).items(),
            key=lambda pair: (-number(pair[1]), pair[0]),
        )
        return {"count": raw.get("count") or 0, "by_syscall": pairs}

    @cached_property
    def tasks(self) -> dict[str, Any]:
        raw = self.report.get("tasks")
        merged: dict[str, Any] = {
            "processes": None,
            "threads": None,
            "peak_threads": None,
            "exited": None,
            "killed": [],
        }
        if isinstance(raw, dict):
            merged.update(raw)
        merged["killed"] = keyed_rows(merged["killed"], ("tid", "signal"))
        return merged

    # -- threads -------------------------------------------------------------------------

    @cached_property
    def thread_groups(self) -> list[dict[str, Any]]:
        """One entry per tid, ranked by total syscall time: the tid's totals and its rows."""
        rows = keyed_rows(
            self.report.get("syscalls_by_thread"), ("tid", "pid", "comm", "syscall", *STAT_KEYS)
        )
        groups: dict[object, dict[str, Any]] = {}
        for row in rows:
            group = groups.get(row["tid"])
            if group is None:
                group = {
                    "tid": row["tid"],
                    "pid": row["pid"],
                    "comm": row["comm"],
                    "calls": 0,
                    "errors": 0,
                    "total_s": 0.0,
                    "rows": [],
                }
                groups[row["tid"]] = group
            group["calls"] += int(number(row["calls"]))
            group["errors"] += int(number(row["errors"]))
            group["total_s"] += number(row["total_s"])
            group["rows"].append(row)
        ranked = sorted(groups.values(), key=lambda group: -group["total_s"])
        for group in ranked:
            group["rows"].sort(key=lambda row: -number(row["total_s"]))
            label = f"tid {group['tid']}"
            if group["pid"] is not None and group["pid"] != group["tid"]:
                label += f" (pid {group['pid']})"
            if group["comm"]:
                label += f" {group['comm']}"
            group["label"] = label
        return ranked

    def top_threads(self, limit: int, calls: int) -> list[dict[str, Any]]:
        """The `limit` busiest threads, each with only its `calls` most expensive syscalls."""
        return [
            {**group, "rows": group["rows"][:calls], "more": max(len(group["rows"]) - calls, 0)}
            for group in self.thread_groups[:limit]
        ]

    # -- strace's own summary table ------------------------------------------------------

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        """strace's ``-c``/``-C`` table read from the log, and how it compares with ours."""
        raw = self.report.get("strace_summary")
        if not isinstance(raw, dict):
            return None
        rows = keyed_rows(raw.get("rows"), ("syscall", "calls", "errors", "seconds"))
        rows.sort(key=lambda row: (-number(row["seconds"]), str(row["syscall"])))
        return {
            "rows": rows,
            "matches": bool(raw.get("matches")),
            "mismatches": keyed_rows(raw.get("mismatches"), ("syscall", "field", "ours", "theirs")),
            "summary_only": bool(raw.get("summary_only")),
        }

    # -- thread timeline -----------------------------------------------------------------

    @property
    def drawn_timelines(self) -> list[ThreadTimeline]:
        """The timelines the HTML and Markdown reports draw."""
        return self.timelines(TIMELINE_BUCKETS, TIMELINE_LANES)

    def timelines(self, buckets: int, lanes: int) -> list[ThreadTimeline]:
        """The thread timeline of each strace input that has timed calls (`buckets` time
        buckets, at most `lanes` thread lanes plus the collapsed rest), the findings of that
        input laid over it; their threads get lanes first."""
        key = (buckets, lanes)
        if key not in self._timelines:
            self._timelines[key] = self._build_timelines(buckets, lanes)
        return self._timelines[key]

    @cached_property
    def _timelines(self) -> dict[tuple[int, int], list[ThreadTimeline]]:
        return {}

    def _build_timelines(self, buckets: int, lanes: int) -> list[ThreadTimeline]:
        calls = self.view.tables.get("syscalls") if self.view.tables else None
        if calls is None or calls.num_rows == 0:
            return []
        if not set(calls.column_names) >= TIMELINE_COLUMNS:
            return []
        import pyarrow as pa
        import pyarrow.compute as pc

        from analyzer.derive.strace_timeline import timeline

        tasks = self.view.tables.get("tasks")
        found: list[ThreadTimeline] = []
        present = set(pc.unique(calls["input"]).to_pylist())
        table: pa.Table = calls
        # Only the columns the timeline reads, and not copied when one run has every call:
        # the calls of a long trace are a mapped file (1.8 GiB at 10M lines).
        needed = table.select([name for name in table.column_names if name in TIMELINE_COLUMNS])
        for group in self._run_groups(present):
            paths = pa.array(group, pa.string())
            mine = (
                needed
                if present <= set(group)
                else needed.filter(pc.is_in(needed["input"], value_set=paths))
            )
            theirs = None
            if tasks is not None and "input" in tasks.column_names:
                theirs = tasks.filter(pc.is_in(tasks["input"], value_set=paths))
            findings = [row for row in self.view.findings if row["input"] in (*group, None)]
            overlays = finding_overlays(findings)
            focus = sorted({tid for overlay in overlays for tid in overlay.tids})
            ends = [
                row["last_ts"]
                for row in self.view.inputs
                if row["path"] in group and isinstance(row["last_ts"], (int, float))
            ]
            end = max(ends) if ends else None
            key = (id(table), tuple(group), buckets, lanes, tuple(focus), end)
            cached = _TIMELINES.get(key)
            if cached is not None and cached[0]() is table:
                drawn = cached[1]
            else:
                drawn = timeline(mine, theirs, buckets=buckets, lanes=lanes, focus=focus, end_s=end)
                _TIMELINES.clear()  # one run's timelines at a time
                _TIMELINES[key] = (weakref.ref(table), drawn)
            if drawn is not None:
                name = display_name(group[0])
                if len(group) > 1:
                    name += f" and {len(group) - 1} more"
                found.append(ThreadTimeline(str(group[0]), name, drawn, overlays))
        return found

    def _run_groups(self, present: set[object]) -> list[list[str]]:
        """The strace inputs with calls, grouped into runs: inputs on the same clock whose
        spans overlap (the files of one ``strace -ff``, or traces of one incident taken
        together) share a timeline; the others get one each."""
        rows = [row for row in self.view.inputs if row["is_strace"] and row["path"] in present]
        if not rows:  # a report without its inputs' rows: one timeline per input
            return [[str(path)] for path in sorted(map(str, present))]
        groups: list[tuple[object, float, float, list[str]]] = []
        for row in sorted(rows, key=lambda r: number(r["first_ts"])):
            first, last = row["first_ts"], row["last_ts"]
            timed = isinstance(first, (int, float)) and isinstance(last, (int, float))
            if timed and groups:
                clock, _start, end, members = groups[-1]
                if clock == row["clock"] and float(first) <= end:
                    groups[-1] = (clock, _start, max(end, float(last)), members)
                    members.append(str(row["path"]))
                    continue
            start = float(first) if timed else 0.0
            end = float(last) if timed else -1.0  # never joined by another
            groups.append((row["clock"], start, end, [str(row["path"])]))
        return [members for *_rest, members in groups]


def section_view(view: ReportView) -> StraceView:
    """The strace part of `view` (always there: its ``shown`` says whether to show it)."""
    return StraceView(view)
