"""The strace part of a report laid out for display (``view.sections["strace"]``).

`StraceView` normalises the strace keys of the report (``syscalls``, ``syscalls_by_thread``,
``targets``, ``errors``, ``in_flight``, ``no_return``, ``tasks``, ``strace_summary``) once:
every row holds all its documented keys (absent ones None), rows are ranked, per-thread
groups are built, so the templates and `analyzer.render.strace_text` stay free of logic.
See docs/report-json.md for the keys it reads.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from analyzer.render.view import keyed_rows, number

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["STAT_KEYS", "StraceView", "section_view"]

STAT_KEYS = ("calls", "errors", "total_s", "min_s", "avg_s", "p50_s", "p95_s", "p99_s", "max_s")
"""The statistics of a syscall row, as ``strace -c -w`` and beyond."""


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


def section_view(view: ReportView) -> StraceView:
    """The strace part of `view` (always there: its ``shown`` says whether to show it)."""
    return StraceView(view)
