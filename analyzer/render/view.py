"""`ReportView`: the report of one run normalised once for display, and the evidence layout.

Templates and the text renderer read the report only through a `ReportView`, so they stay
free of logic: every documented key is present (absent ones None), strings are display-safe
(`analyzer.clean`), rows are ranked. This module holds what every report shows whatever its
inputs (identity, inputs, verdict, findings with their evidence laid out as tables, the parse
report); each source's own part is built by ``analyzer/render/<source>_view.py`` and found
in `ReportView.sections` under the source's name (see `analyzer.render.sections`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import PurePath
from typing import Any

from analyzer.clean import clean
from analyzer.model import AnalysisResult
from analyzer.render import formatting
from analyzer.render.sections import section_modules

__all__ = [
    "EVIDENCE_LABELS",
    "EVIDENCE_ROWS",
    "SEVERITY_ORDER",
    "ReportView",
    "display_name",
    "evidence_items",
    "evidence_label",
    "evidence_text",
    "keyed_rows",
    "number",
]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

_INPUT_KEYS = (
    "path",
    "format",
    "compression",
    "lines",
    "parsed_lines",
    "unparsed_lines",
    "non_utf8_lines",
    "truncated",
    "unparsed_samples",
    "clock",
    "first_ts",
    "last_ts",
    "wall_s",
    "has_durations",
    "line_kinds",
    "samples",
    "asyncio_records",
    "asyncio_lines",
    "application_lines",
    "error",
)
_FINDING_KEYS = (
    "code",
    "kind",
    "severity",
    "title",
    "message",
    "pid",
    "tid",
    "start",
    "duration_s",
    "evidence",
    "fix",
    "input",
    "lines",
    "cost_s",
)
_CONCLUSION_KEYS = (
    "rank",
    "finding",
    "code",
    "kind",
    "severity",
    "headline",
    "message",
    "cost_s",
    "fix",
)
EVIDENCE_ROWS = 12
"""Rows of a list-valued evidence item shown in a report table (the JSON keeps them all)."""


def keyed_rows(items: object, keys: Iterable[str]) -> list[dict[str, Any]]:
    """Each mapping in `items` as a dict that has every key in `keys` (missing ones None)."""
    if not isinstance(items, list):
        return []
    wanted = tuple(keys)
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            row: dict[str, Any] = dict.fromkeys(wanted)
            row.update(item)
            rows.append(row)
    return rows


def number(value: object) -> float:
    """`value` as a float for sorting and summing; missing values count as 0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0


def display_name(path: object) -> str:
    """The file name of an input path; ``stdin`` for ``-`` and ``input`` when unknown."""
    text = "" if path is None else str(path)
    if text in {"", "-"}:
        return "stdin" if text == "-" else "input"
    return PurePath(text).name or text


def _input_counts(row: Mapping[str, Any]) -> list[str]:
    """The counts an input adds for its own format: ``11 samples``, ``4 asyncio records``..."""
    labels = (
        ("samples", "samples"),
        ("asyncio_records", "asyncio records"),
        ("asyncio_lines", "asyncio lines"),
        ("application_lines", "application lines"),
    )
    return [
        f"{formatting.count(row[key])} {label}" for key, label in labels if row.get(key) is not None
    ]


class ReportView:
    """The report of one `AnalysisResult`, normalised for display.

    Every list is a list of dicts holding all documented keys (absent ones are None), strings
    are display-safe (``clean(..., text=True)``), and rankings are computed here once.
    Templates receive it as ``view``; a source's part is ``view.sections[<source>]``.
    """

    def __init__(self, result: AnalysisResult) -> None:
        report = clean(result.report, text=True)
        self.report: dict[str, Any] = report if isinstance(report, dict) else {}
        self.tables = result.tables
        """The run's Arrow tables (the thread timeline is drawn from its calls)."""

    @cached_property
    def sections(self) -> dict[str, Any]:
        """Source name -> what ``analyzer/render/<source>_view.py``'s ``section_view`` made of
        this report (None when the report has nothing of that source), in section order."""
        return {name: module.section_view(self) for name, module in section_modules("view")}

    # -- identity ------------------------------------------------------------------------

    @cached_property
    def schema(self) -> str:
        return str(self.report.get("schema") or "iodiag.report/1")

    @cached_property
    def tool(self) -> dict[str, Any]:
        tool = self.report.get("tool")
        merged: dict[str, Any] = {"name": "iodiag", "version": None}
        if isinstance(tool, dict):
            merged.update(tool)
        return merged

    @cached_property
    def inputs(self) -> list[dict[str, Any]]:
        rows = keyed_rows(self.report.get("inputs"), _INPUT_KEYS)
        for row in rows:
            row["name"] = display_name(row["path"])
            if not isinstance(row["line_kinds"], dict):
                row["line_kinds"] = {}
            row["unparsed_samples"] = keyed_rows(
                row["unparsed_samples"], ("line", "text", "reason")
            )
            row["is_strace"] = row["format"] == "strace" and not row["error"]
            row["counts"] = _input_counts(row)
            span = row["wall_s"]
            first, last = row["first_ts"], row["last_ts"]
            if (
                span is None
                and isinstance(first, (int, float))
                and isinstance(last, (int, float))
                and not row["is_strace"]
            ):
                span = max(float(last) - float(first), 0.0)
            row["span_s"] = span
        return rows

    @cached_property
    def input_names(self) -> list[str]:
        return [row["name"] for row in self.inputs]

    @cached_property
    def title(self) -> str:
        """``iodiag report: a.log, b.log`` (at most three names, then ``and N more``)."""
        names = self.input_names
        if not names:
            return "iodiag report"
        shown = ", ".join(names[:3])
        if len(names) > 3:
            shown += f" and {len(names) - 3} more"
        return f"iodiag report: {shown}"

    @cached_property
    def clock(self) -> str | None:
        """The clock shared by all strace inputs, or None when they differ or none is known.

        perf and asyncio inputs have no ``clock``; their times are shown on their own terms."""
        clocks = {row["clock"] for row in self.inputs if row["is_strace"]}
        return clocks.pop() if len(clocks) == 1 else None

    def ts(self, seconds: object) -> str:
        """Format a ``start``-like value on the inputs' clock."""
        return formatting.timestamp(seconds, self.clock)

    # -- totals --------------------------------------------------------------------------

    @cached_property
    def unparsed_total(self) -> int:
        return int(sum(number(row["unparsed_lines"]) for row in self.inputs))

    @cached_property
    def wall_s(self) -> float | None:
        """The longest wall-clock span of any input."""
        walls = [row["span_s"] for row in self.inputs if isinstance(row["span_s"], (int, float))]
        return max(walls) if walls else None

    # -- parse report, findings, verdict ------------------------------------------------

    @cached_property
    def unparsed_samples(self) -> list[dict[str, Any]]:
        """Every input's unparsed samples, each with the input's ``name`` for ``file:line``."""
        return [
            {**sample, "name": row["name"], "path": row["path"]}
            for row in self.inputs
            for sample in row["unparsed_samples"]
        ]

    @cached_property
    def findings(self) -> list[dict[str, Any]]:
        """Findings ordered by severity (error first), then by cost, then by start time.

        Each row gains ``citations`` (``input:line`` for its source lines) and
        ``evidence_items``: the evidence laid out for a report (see `evidence_items`)."""
        rows = keyed_rows(self.report.get("findings"), _FINDING_KEYS)
        for index, row in enumerate(rows):
            row["index"] = index
            if not isinstance(row["evidence"], dict):
                row["evidence"] = {}
            lines = row["lines"] if isinstance(row["lines"], list) else []
            name = PurePath(str(row["input"])).name if row["input"] else ""
            row["citations"] = [f"{name}:{line}" if name else f"line {line}" for line in lines]
            row["evidence_items"] = evidence_items(row["evidence"], self.ts)
        rows.sort(
            key=lambda row: (
                SEVERITY_ORDER.get(str(row["severity"]), 3),
                -number(row["cost_s"]),
                number(row["start"]),
            )
        )
        return rows

    @cached_property
    def verdict(self) -> dict[str, Any]:
        """The ranked conclusions (``conclusions``) and what the data cannot decide (``limits``)."""
        raw = self.report.get("verdict")
        raw = raw if isinstance(raw, dict) else {}
        limits = raw.get("limits")
        conclusions = keyed_rows(raw.get("conclusions"), _CONCLUSION_KEYS)
        first_with_fix: dict[str, object] = {}
        for row in conclusions:
            # Several traces of one incident often share a cause: say a repeated fix once.
            fix = str(row["fix"] or "")
            row["fix_as"] = first_with_fix.get(fix) if fix else None
            first_with_fix.setdefault(fix, row["rank"])
        return {
            "conclusions": conclusions,
            "limits": [str(item) for item in limits] if isinstance(limits, list) else [],
        }

    @cached_property
    def severity_counts(self) -> dict[str, int]:
        counts = {"error": 0, "warning": 0, "info": 0}
        for row in self.findings:
            key = str(row["severity"])
            counts[key] = counts.get(key, 0) + 1
        return counts


# --------------------------------------------------------------------------- evidence

EVIDENCE_LABELS: dict[str, str] = {
    "loop_tid": "event-loop thread",
    "episodes": "episodes",
    "causes": "blocked time by cause",
    "episode_count": "episodes",
    "episodes_listed": "episodes listed",
    "blocked_total_s": "blocked in total",
    "blocked_share": "share of the loop's time blocked",
    "longest_s": "longest",
    "cpu_total_s": "CPU time outside syscalls",
    "cpu_bound_s": "CPU-bound time",
    "cpu_s": "CPU time outside syscalls",
    "share_of_wall": "share of the traced time",
    "share_of_thread_time": "share of the threads' time",
    "share_of_time_waiting": "share of the threads' time waiting",
    "share_of_time_sleeping": "share of the threads' time sleeping",
    "share_behind_waiters": "share waited behind other waiters",
    "share_woken_by_waiters": "share of wake-ups by other waiters",
    "holder_share_parked": "share the holder was parked",
    "threshold_s": "threshold",
    "threshold_threads": "threshold (threads)",
    "threshold_waiters": "threshold (waiters)",
    "target": "resource",
    "target_kind": "resource kind",
    "count": "calls",
    "total_s": "total time",
    "p95_s": "p95 of one call",
    "max_s": "longest call",
    "slow_calls": "calls at or over the threshold",
    "errors": "failed calls",
    "threads": "threads",
    "thread_count": "threads",
    "outliers": "slowest calls",
    "start": "start",
    "end": "end",
    "duration_s": "duration",
    "tid": "thread",
    "pid": "process",
    "line": "line",
    "lines": "lines",
    "peak_threads": "most threads at once",
    "peak_waiters": "most waiters at once",
    "peak_sleepers": "most sleepers at once",
    "peak_in_flight": "most calls in flight at once",
    "peak_at": "peak at",
    "peak_held_s": "time at the peak",
    "held_s": "time at or over the threshold",
    "threads_at_peak": "threads at the peak",
    "threads_using": "threads that made such calls",
    "process_threads": "threads of the process",
    "saturated": "whole pool stuck",
    "stretches": "stretches",
    "blocked_calls": "blocked calls",
    "mean_call_s": "mean call",
    "max_call_s": "longest call",
    "wait_total_s": "waiting in total",
    "max_wait_s": "longest wait",
    "mean_wait_s": "mean wait",
    "p95_wait_s": "p95 of one wait",
    "waits": "waits",
    "wakes": "wake-ups",
    "wakes_that_woke": "wake-ups that woke a thread",
    "waker_count": "threads that woke others",
    "wakers": "wakers",
    "futex": "futex",
    "futex_words": "futex words",
    "condition_variable": "condition variable",
    "eagain": "EAGAIN returns",
    "timeouts": "timeouts",
    "operations": "operations",
    "loop_waits": "loop waits",
    "listening": "listening on",
    "runtime": "runtime",
    "sleeps": "sleeps",
    "sleep_total_s": "sleeping in total",
    "max_sleep_s": "longest sleep",
    "escalations": "escalations",
    "escalating": "escalating",
    "first_at": "first at",
    "last_at": "last at",
    "top_calls": "top calls",
    "between_calls_s": "between calls",
    "with_gaps_s": "with the gaps",
    "creation_rate_per_s": "threads created per second",
    "creation_window_s": "creation window",
    "created_in_window": "created in the window",
    "failed_call": "failed call",
    "failing_tids": "failing threads",
    "threads_alive": "threads alive",
    "tasks_created": "tasks created",
    "tasks_alive_in_trace": "tasks alive in the trace",
    "stack_bytes": "thread stack size",
    "limits_seen": "limits read",
    "limit_clues": "limit clues",
    "timeline_label": "timeline",
    "timeline_scope": "timeline scope",
    "how_to_check": "how to check",
    "loop_threads_excluded": "event-loop threads left out",
    "waiting_threads": "waiting threads",
    "top_files": "top files",
    "perf_aligned": "perf samples aligned",
    "on_step": "connects on a retransmission step",
    "gave_up": "connects that gave up",
}
"""Readable names of the evidence keys (docs/report-json.md); others are spelled out from the
key (``share_of_wall`` -> ``share of wall``)."""

_WORDS = {"tid": "thread", "tids": "threads", "cpu": "CPU", "dns": "DNS", "io": "I/O", "gil": "GIL"}


def evidence_label(key: str) -> str:
    """The readable name of an evidence key: `EVIDENCE_LABELS`, else the key spelled out
    (underscores to spaces, the ``_s`` unit suffix dropped: the value carries its unit)."""
    if key in EVIDENCE_LABELS:
        return EVIDENCE_LABELS[key]
    words = key.split("_")
    if len(words) > 1 and words[-1] == "s":
        words = words[:-1]
    return " ".join(_WORDS.get(word, word) for word in words) or key


def evidence_items(
    evidence: Mapping[str, Any], timestamp: Callable[[object], str] | None = None
) -> list[dict[str, Any]]:
    """Evidence laid out for a report, in the pass's key order.

    Scalars and lists of scalars become ``{"key", "label", "type": "value", "text"}``; a list
    of objects (episodes, outliers, threads...) becomes ``{"key", "label", "type": "table",
    "columns", "labels", "rows", "more"}`` with every cell already formatted as text, at most
    `EVIDENCE_ROWS` rows. Values carry their units (see `evidence_text`); ``timeline`` lists
    are left to plots.
    """

    def text(key: str, value: Any) -> str:
        return evidence_text(key, value, timestamp)

    items: list[dict[str, Any]] = []
    for key, value in evidence.items():
        if key in ("timeline", "timeline_label", "timeline_scope"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns: list[str] = []
            for row in value:
                columns += [column for column in row if column not in columns]
            rows = [
                [text(column, row.get(column)) for column in columns]
                for row in value[:EVIDENCE_ROWS]
            ]
            items.append(
                {
                    "key": key,
                    "label": evidence_label(key),
                    "type": "table",
                    "columns": columns,
                    "labels": [evidence_label(column) for column in columns],
                    "rows": rows,
                    "more": max(0, len(value) - EVIDENCE_ROWS),
                }
            )
        else:
            items.append(
                {
                    "key": key,
                    "label": evidence_label(key),
                    "type": "value",
                    "text": text(key, value),
                }
            )
    return items


_TIME_KEYS = re.compile(r"^(?:start|end|first|last|time|log_time|strace_start)$|_at$")
_DURATION_KEYS = re.compile(r"(?:_s|^duration|^total|^max|^min|^p\d\d|^mean|^avg)$")
_DURATION_MAPS = frozenset({"causes", "strace", "lookup_s"})
"""Evidence objects whose numbers are all durations (seconds by cause, by kind...)."""


def evidence_text(key: str, value: Any, timestamp: Callable[[object], str] | None = None) -> str:
    """One evidence value as short text with its unit: durations (keys ending in ``_s``) as
    ``412 ms``, shares as percentages, times on the trace's clock, bytes in binary units,
    counts with thousands separators, lists joined, objects as ``name value`` pairs."""
    if value is None:
        return formatting.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if timestamp is not None and _TIME_KEYS.search(key):
            return timestamp(value)
        if "share" in key:
            return formatting.percent(value)
        if key.endswith("_per_s"):
            return f"{value:,.3g}/s"
        if _DURATION_KEYS.search(key):
            return formatting.duration(value)
        if "bytes" in key:
            return _bytes(value)
        if isinstance(value, int) and not _ID_KEYS.search(key):
            return formatting.count(value)
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)
    if isinstance(value, list):
        shown = [evidence_text(key, item, timestamp) for item in value[:EVIDENCE_ROWS]]
        more = f" … (+{len(value) - EVIDENCE_ROWS})" if len(value) > EVIDENCE_ROWS else ""
        return ", ".join(shown) + more
    if isinstance(value, dict):
        durations = key in _DURATION_MAPS
        parts = []
        for k, v in value.items():
            child = f"{k}_s" if durations and isinstance(v, (int, float)) else str(k)
            parts.append(f"{k.replace('_', ' ')} {evidence_text(child, v, timestamp)}")
        return "; ".join(parts) if key in _DURATION_MAPS else ", ".join(parts)
    return str(value)


_ID_KEYS = re.compile(
    r"(?:^|_)(?:tid|tids|pid|pids|line|lines|fd|fds|futex|rank|index|threads|writers|holder)$"
)
"""Integers that are names (thread ids, line numbers), not amounts: no thousands separator."""


def _bytes(value: float) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 9.95 else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)  # pragma: no cover
