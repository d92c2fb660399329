"""The ps part of a report laid out for display (``view.sections["ps_threads"]``): the
report's ``ps_threads`` section with its times as text. See docs/sources/ps_threads.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import clock_kind, clock_label, when
from analyzer.render.view import display_name, keyed_rows

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["ps_section", "section_view"]

_PROCESS_KEYS = (
    "input",
    "pid",
    "command",
    "counted_by",
    "snapshots",
    "first",
    "last",
    "min",
    "max",
    "growth",
    "first_at",
    "max_at",
    "first_line",
    "max_line",
    "series",
)
_D_KEYS = ("input", "tid", "pid", "command", "snapshots", "wchan", "lines")


def ps_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    kind = clock_kind(raw)
    processes = keyed_rows(raw.get("processes"), _PROCESS_KEYS)
    for row in processes:
        row["label"] = f"pid {row['pid']} {(row['command'] or '')[:40]}".strip()
        row["first_text"] = when(row["first_at"], kind)
        row["max_at_text"] = when(row["max_at"], kind)
        row["where"] = f"{display_name(row['input'])}:{row['first_line']}→{row['max_line']}"
    d_state = keyed_rows(raw.get("d_state"), _D_KEYS)
    for row in d_state:
        lines = row["lines"] if isinstance(row["lines"], list) else []
        row["where"] = f"{display_name(row['input'])}:{','.join(str(n) for n in lines)}"
    snapshots = keyed_rows(raw.get("snapshots"), ("input", "snapshot", "time", "rows", "line"))
    notes = raw.get("notes")
    return {
        "clock": kind,
        "clock_label": clock_label(kind),
        "snapshots": len(snapshots),
        "first_text": when(snapshots[0]["time"], kind) if snapshots else None,
        "last_text": when(snapshots[-1]["time"], kind) if snapshots else None,
        "processes": processes,
        "thread_counts": processes,
        "busiest_threads": [],
        "d_state": d_state,
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    raw = view.report.get("ps_threads")
    return ps_section(raw) if isinstance(raw, dict) else None
