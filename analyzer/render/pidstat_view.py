"""The pidstat part of a report laid out for display (``view.sections["pidstat"]``): the
report's ``pidstat`` section with its times as text. See docs/sources/pidstat.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import clock_kind, clock_label, when
from analyzer.render.view import display_name, keyed_rows

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["pidstat_section", "section_view"]

_THREAD_KEYS = (
    "input",
    "pid",
    "tid",
    "command",
    "intervals",
    "mean_cpu_pct",
    "usr_pct",
    "system_pct",
    "wait_pct",
    "cswch_s",
    "nvcswch_s",
    "max_cpu_pct",
    "max_at",
    "max_line",
    "first_line",
    "series",
)
_COUNT_KEYS = (
    "input",
    "pid",
    "command",
    "counted_by",
    "first",
    "last",
    "min",
    "max",
    "max_at",
    "max_line",
    "first_line",
    "series",
)


def pidstat_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    kind = clock_kind(raw)
    threads = keyed_rows(raw.get("busiest_threads"), _THREAD_KEYS)
    for row in threads:
        row["where"] = f"{display_name(row['input'])}:{row['max_line']}"
        row["max_at_text"] = when(row["max_at"], kind)
    counts = keyed_rows(raw.get("thread_counts"), _COUNT_KEYS)
    for row in counts:
        row["where"] = f"{display_name(row['input'])}:{row['max_line']}"
        row["max_at_text"] = when(row["max_at"], kind)
        row["label"] = f"pid {row['pid']} {row['command'] or ''}".strip()
    intervals = keyed_rows(raw.get("intervals"), ("input", "time"))
    notes = raw.get("notes")
    return {
        "clock": kind,
        "clock_label": clock_label(kind),
        "intervals": len(intervals),
        "first_text": when(intervals[0]["time"], kind) if intervals else None,
        "last_text": when(intervals[-1]["time"], kind) if intervals else None,
        "busiest_threads": threads,
        "waiting_for_cpu": keyed_rows(raw.get("waiting_for_cpu"), _THREAD_KEYS),
        "thread_counts": counts,
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    raw = view.report.get("pidstat")
    return pidstat_section(raw) if isinstance(raw, dict) else None
