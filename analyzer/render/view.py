"""`ReportView`: the report of one run normalised once for display, and the evidence layout.

Templates and the text renderer read the report only through a `ReportView`, so they stay
free of logic: every documented key is present (absent ones None), strings are display-safe
(`analyzer.clean`), rows are ranked and per-thread groups built. `evidence_items` lays a
finding's evidence out as values and tables.
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

__all__ = [
    "EVIDENCE_ROWS",
    "SEVERITY_ORDER",
    "ReportView",
    "evidence_items",
    "evidence_text",
    "short_stack",
]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

_STAT_KEYS = ("calls", "errors", "total_s", "min_s", "avg_s", "p50_s", "p95_s", "p99_s", "max_s")
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
)
_NON_STRACE_FORMATS = frozenset({"perf", "asyncio"})
_SLOW_KEYS = ("count", "total_s", "max_s", "p95_s", "first_time_s", "last_time_s")
_MISUSE_KEYS = ("kind", "location", "count", "exception", "sample")
STACK_HEAD = 2
"""Frames kept at the root end of a shortened stack."""
STACK_TAIL = 5
"""Frames kept at the leaf end of a shortened stack."""
STACK_FRAME_CHARS = 60
"""A frame longer than this is cut (with ``…``) in the short form of a stack."""
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


def _rows(items: object, keys: Iterable[str]) -> list[dict[str, Any]]:
    """Each mapping in `items` as a dict that has every key in `keys` (missing ones None)."""
    if not isinstance(items, list):
        return []
    wanted = tuple(keys)
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            row = {key: None for key in wanted}
            row.update(item)
            rows.append(row)
    return rows


def _number(value: object) -> float:
    """`value` as a float for sorting and summing; missing values count as 0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0


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


def short_stack(
    frames: list[str],
    head: int = STACK_HEAD,
    tail: int = STACK_TAIL,
    frame_chars: int = STACK_FRAME_CHARS,
) -> str:
    """A folded stack (frames root first) for a table cell: ``;``-joined, leaf last.

    A stack deeper than ``head + tail + 1`` frames keeps its `head` root frames and its `tail`
    leaf frames around ``…N…`` (N frames left out); each frame is cut to `frame_chars`.
    """
    if len(frames) > head + tail + 1:
        hidden = len(frames) - head - tail
        frames = [*frames[:head], f"…{hidden}…", *frames[len(frames) - tail :]]
    return ";".join(formatting.short(frame, frame_chars) for frame in frames)


def _basename(path: object) -> str:
    text = "" if path is None else str(path)
    if text in {"", "-"}:
        return "stdin" if text == "-" else "input"
    return PurePath(text).name or text


class ReportView:
    """The report of one `AnalysisResult`, normalised for display.

    Every list is a list of dicts holding all documented keys (absent ones are None), strings
    are display-safe (``analyzer.clean.clean(..., text=True)``), and rankings are computed here
    once. Templates receive it as ``view``.
    """

    def __init__(self, result: AnalysisResult) -> None:
        report = clean(result.report, text=True)
        self.report: dict[str, Any] = report if isinstance(report, dict) else {}

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
        rows = _rows(self.report.get("inputs"), _INPUT_KEYS)
        for row in rows:
            row["name"] = _basename(row["path"])
            if not isinstance(row["line_kinds"], dict):
                row["line_kinds"] = {}
            row["unparsed_samples"] = _rows(row["unparsed_samples"], ("line", "text", "reason"))
            row["is_strace"] = row["format"] not in _NON_STRACE_FORMATS
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
    def formats(self) -> list[str]:
        """The input formats present, sorted (``inputs[].format``)."""
        return sorted({str(row["format"]) for row in self.inputs if row["format"] is not None})

    @cached_property
    def has_strace(self) -> bool:
        """Show the strace sections: some input is strace (or of no known format), there are
        no inputs at all, or the report has strace data anyway."""
        if not self.inputs or any(row["is_strace"] for row in self.inputs):
            return True
        return bool(self.report.get("syscalls") or self.report.get("in_flight"))

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
    def lines_total(self) -> int:
        return int(sum(_number(row["lines"]) for row in self.inputs))

    @cached_property
    def unparsed_total(self) -> int:
        return int(sum(_number(row["unparsed_lines"]) for row in self.inputs))

    @cached_property
    def wall_s(self) -> float | None:
        """The longest wall-clock span of any input."""
        walls = [row["span_s"] for row in self.inputs if isinstance(row["span_s"], (int, float))]
        return max(walls) if walls else None

    # -- syscalls ------------------------------------------------------------------------

    @cached_property
    def syscalls(self) -> list[dict[str, Any]]:
        rows = _rows(self.report.get("syscalls"), ("syscall", *_STAT_KEYS))
        rows.sort(key=lambda row: -_number(row["total_s"]))
        total = self.syscall_time_total
        for row in rows:
            row["share"] = _number(row["total_s"]) / total if total > 0 else None
        return rows

    @cached_property
    def syscall_time_total(self) -> float:
        """Sum of ``total_s`` over all syscalls (time summed over threads, not wall time)."""
        rows = self.report.get("syscalls")
        if not isinstance(rows, list):
            return 0.0
        return sum(_number(row.get("total_s")) for row in rows if isinstance(row, dict))

    @cached_property
    def calls_total(self) -> int:
        return int(sum(_number(row["calls"]) for row in self.syscalls))

    @cached_property
    def errors_total(self) -> int:
        return int(sum(_number(row["errors"]) for row in self.syscalls))

    def top_syscalls(self, limit: int) -> list[dict[str, Any]]:
        return self.syscalls[:limit]

    # -- targets, errors, in-flight, tasks ----------------------------------------------

    @cached_property
    def targets(self) -> list[dict[str, Any]]:
        rows = _rows(
            self.report.get("targets"),
            ("target", "target_kind", "calls", "total_s", "max_s", "syscalls"),
        )
        for row in rows:
            if not isinstance(row["syscalls"], list):
                row["syscalls"] = []
        rows.sort(key=lambda row: -_number(row["total_s"]))
        return rows

    def top_targets(self, limit: int) -> list[dict[str, Any]]:
        return self.targets[:limit]

    @cached_property
    def errors(self) -> list[dict[str, Any]]:
        rows = _rows(self.report.get("errors"), ("syscall", "errno", "count"))
        rows.sort(key=lambda row: -_number(row["count"]))
        return rows

    @cached_property
    def in_flight(self) -> list[dict[str, Any]]:
        rows = _rows(
            self.report.get("in_flight"), ("tid", "syscall", "start", "waited_s", "target", "line")
        )
        rows.sort(key=lambda row: -_number(row["waited_s"]))
        return rows

    @cached_property
    def no_return(self) -> dict[str, Any]:
        raw = self.report.get("no_return")
        raw = raw if isinstance(raw, dict) else {}
        by_syscall = raw.get("by_syscall")
        pairs = sorted(
            (by_syscall if isinstance(by_syscall, dict) else {}).items(),
            key=lambda pair: (-_number(pair[1]), pair[0]),
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
        merged["killed"] = _rows(merged["killed"], ("tid", "signal"))
        return merged

    # -- threads -------------------------------------------------------------------------

    @cached_property
    def thread_groups(self) -> list[dict[str, Any]]:
        """One entry per tid, ranked by total syscall time: the tid's totals and its rows."""
        rows = _rows(
            self.report.get("syscalls_by_thread"), ("tid", "pid", "comm", "syscall", *_STAT_KEYS)
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
            group["calls"] += int(_number(row["calls"]))
            group["errors"] += int(_number(row["errors"]))
            group["total_s"] += _number(row["total_s"])
            group["rows"].append(row)
        ranked = sorted(groups.values(), key=lambda group: -group["total_s"])
        for group in ranked:
            group["rows"].sort(key=lambda row: -_number(row["total_s"]))
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

    # -- parse report, strace summary, findings -----------------------------------------

    @cached_property
    def unparsed_samples(self) -> list[dict[str, Any]]:
        """Every input's unparsed samples, each with the input's ``name`` for ``file:line``."""
        return [
            {**sample, "name": row["name"], "path": row["path"]}
            for row in self.inputs
            for sample in row["unparsed_samples"]
        ]

    @cached_property
    def strace_summary(self) -> dict[str, Any] | None:
        raw = self.report.get("strace_summary")
        if not isinstance(raw, dict):
            return None
        rows = _rows(raw.get("rows"), ("syscall", "calls", "errors", "seconds"))
        rows.sort(key=lambda row: (-_number(row["seconds"]), str(row["syscall"])))
        return {
            "rows": rows,
            "matches": bool(raw.get("matches")),
            "mismatches": _rows(raw.get("mismatches"), ("syscall", "field", "ours", "theirs")),
            "summary_only": bool(raw.get("summary_only")),
        }

    # -- asyncio and perf ----------------------------------------------------------------

    @cached_property
    def asyncio(self) -> dict[str, Any] | None:
        """The ``asyncio`` section normalised, or None when the report has none.

        ``by_kind`` is a list of (kind, count) pairs, largest first; slow-callback groups
        are ranked by total time; each misuse group has ``sample`` with ``input``, ``line``,
        ``text``, plus ``where`` (``name:line``) and ``first_line`` of the sample text.
        """
        raw = self.report.get("asyncio")
        if not isinstance(raw, dict):
            return None
        by_kind = raw.get("by_kind")
        kinds = sorted(
            (by_kind if isinstance(by_kind, dict) else {}).items(),
            key=lambda pair: (-_number(pair[1]), str(pair[0])),
        )
        slow = raw.get("slow_callbacks")
        slow = slow if isinstance(slow, dict) else {}
        by_location = _rows(slow.get("by_location"), ("location", "callback", *_SLOW_KEYS))
        for row in by_location:
            if row["location"] is None and row["callback"]:
                row["location"] = f"{row['callback']} (no file:line)"
        by_coroutine = _rows(slow.get("by_coroutine"), ("coro", *_SLOW_KEYS))
        for rows, key in ((by_location, "location"), (by_coroutine, "coro")):
            rows.sort(key=lambda row, key=key: (-_number(row["total_s"]), str(row[key])))
        misuse = _rows(raw.get("misuse"), _MISUSE_KEYS)
        for row in misuse:
            sample = {"input": None, "line": None, "text": None}
            if isinstance(row["sample"], dict):
                sample.update(row["sample"])
            text = "" if sample["text"] is None else str(sample["text"])
            sample["text"] = text
            row["sample"] = sample
            where = _basename(sample["input"])
            row["where"] = f"{where}:{sample['line']}" if sample["line"] is not None else where
            row["first_line"] = text.splitlines()[0] if text else ""
        misuse.sort(key=lambda row: (-_number(row["count"]), str(row["kind"])))
        notes = raw.get("notes")
        return {
            "records": raw.get("records") or 0,
            "by_kind": kinds,
            "slow_count": slow.get("count") or 0,
            "slow_total_s": slow.get("total_s"),
            "by_location": by_location,
            "by_coroutine": by_coroutine,
            "misuse": misuse,
            "misuse_total": int(sum(_number(row["count"]) for row in misuse)),
            "uvloop": bool(raw.get("uvloop")),
            "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
        }

    @cached_property
    def perf(self) -> dict[str, Any] | None:
        """The ``perf`` section normalised, or None when the report has none.

        ``events`` is a list of (event, samples) pairs, largest first. Each top stack has
        ``frames`` (root first), ``depth``, ``leaf``, ``short`` (see `short_stack`) and
        ``shortened`` (whether ``short`` differs from the full ``stack``) and ``folded`` (the
        ``stack count`` line of ``--format folded``). ``span``, ``by_event``, ``block_io``,
        ``off_cpu`` and ``syscall_latency`` are laid out by `analyzer.render.perf_view`.
        """
        from analyzer.render.perf_view import perf_details

        raw = self.report.get("perf")
        if not isinstance(raw, dict):
            return None
        events = raw.get("events")
        pairs = sorted(
            (events if isinstance(events, dict) else {}).items(),
            key=lambda pair: (-_number(pair[1]), str(pair[0])),
        )
        stacks = _rows(raw.get("top_stacks"), ("stack", "count", "share"))
        for row in stacks:
            full = "" if row["stack"] is None else str(row["stack"])
            row["stack"] = full
            frames = full.split(";") if full else []
            row["frames"] = frames
            row["depth"] = len(frames)
            row["leaf"] = frames[-1] if frames else ""
            row["short"] = short_stack(frames)
            row["shortened"] = row["short"] != full
            row["folded"] = f"{full} {row['count']}"
        return {
            "samples": raw.get("samples") or 0,
            "events": pairs,
            "folded_total": raw.get("folded_total"),
            "top_stacks": stacks,
            "any_shortened": any(row["shortened"] for row in stacks),
            **perf_details(raw),
        }

    @cached_property
    def findings(self) -> list[dict[str, Any]]:
        """Findings ordered by severity (error first), then by cost, then by start time.

        Each row gains ``citations`` (``input:line`` for its source lines) and
        ``evidence_items``: the evidence laid out for a report (see `evidence_items`)."""
        rows = _rows(self.report.get("findings"), _FINDING_KEYS)
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
                -_number(row["cost_s"]),
                _number(row["start"]),
            )
        )
        return rows

    @cached_property
    def verdict(self) -> dict[str, Any]:
        """The ranked conclusions (``conclusions``) and what the data cannot decide (``limits``)."""
        raw = self.report.get("verdict")
        raw = raw if isinstance(raw, dict) else {}
        limits = raw.get("limits")
        conclusions = _rows(raw.get("conclusions"), _CONCLUSION_KEYS)
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


def evidence_items(
    evidence: Mapping[str, Any], timestamp: Callable[[object], str] | None = None
) -> list[dict[str, Any]]:
    """Evidence laid out for a report, in the pass's key order.

    Scalars and lists of scalars become ``{"key", "type": "value", "text"}``; a list of
    objects (episodes, outliers, threads...) becomes ``{"key", "type": "table", "columns",
    "rows", "more"}`` with every cell already formatted as text, at most `EVIDENCE_ROWS`
    rows. Keys ending in ``_s`` are durations, ``start``/``*_at``/``first``/``last`` are
    times (shown with `timestamp`); ``timeline`` lists are left to plots.
    """

    def text(key: str, value: Any) -> str:
        return evidence_text(key, value, timestamp)

    items: list[dict[str, Any]] = []
    for key, value in evidence.items():
        if key == "timeline":
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
                    "type": "table",
                    "columns": columns,
                    "rows": rows,
                    "more": max(0, len(value) - EVIDENCE_ROWS),
                }
            )
        else:
            items.append({"key": key, "type": "value", "text": text(key, value)})
    return items


_TIME_KEYS = re.compile(r"^(?:start|end|first|last|time|log_time|strace_start)$|_at$")


def evidence_text(key: str, value: Any, timestamp: Callable[[object], str] | None = None) -> str:
    """One evidence value as short text: durations with units, lists joined, objects inline."""
    if value is None:
        return formatting.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if timestamp is not None and _TIME_KEYS.search(key):
            return timestamp(value)
        if key.endswith("_s") or key in ("duration", "total", "max"):
            return formatting.duration(value)
        if key.startswith("share"):
            return formatting.percent(value)
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)
    if isinstance(value, list):
        shown = [evidence_text(key, item, timestamp) for item in value[:EVIDENCE_ROWS]]
        more = f" … (+{len(value) - EVIDENCE_ROWS})" if len(value) > EVIDENCE_ROWS else ""
        return ", ".join(shown) + more
    if isinstance(value, dict):
        return " ".join(evidence_text(k, v, timestamp) for k, v in value.items())
    return str(value)
