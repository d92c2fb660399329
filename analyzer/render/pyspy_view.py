"""The py-spy part of a report laid out for display (``view.sections["pyspy"]``): the dumps,
each thread's state and innermost frames, and per thread over the dumps. See
docs/sources/pyspy.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import clock_kind, clock_label, when
from analyzer.render.view import display_name, keyed_rows

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["pyspy_section", "section_view"]

_DUMP_KEYS = (
    "input",
    "dump",
    "time",
    "time_text",
    "line",
    "pid",
    "python_version",
    "threads",
    "active",
    "idle",
    "gil_holder",
    "error",
)
_THREAD_KEYS = ("input", "dump", "line", "tid", "name", "state", "top", "stack")
_BY_THREAD_KEYS = ("input", "pid", "tid", "name", "dumps", "active", "gil", "top", "lines")


def pyspy_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    kind = clock_kind(raw)
    dumps = keyed_rows(raw.get("dumps"), _DUMP_KEYS)
    threads = keyed_rows(raw.get("threads"), _THREAD_KEYS)
    by_dump: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for row in threads:
        row["where"] = f"{display_name(row['input'])}:{row['line']}"
        row["stack"] = row["stack"] if isinstance(row["stack"], list) else []
        by_dump.setdefault((row["input"], row["dump"]), []).append(row)
    for dump in dumps:
        dump["name"] = display_name(dump["input"])
        dump["when"] = when(dump["time"], kind) if dump["time"] is not None else "—"
        dump["where"] = f"{dump['name']}:{dump['line']}"
        holder = dump["gil_holder"] if isinstance(dump["gil_holder"], dict) else None
        dump["gil_text"] = (
            f"{holder.get('tid')} {holder.get('name') or ''} in {holder.get('top') or '?'}"
            if holder
            else ""
        )
        dump["thread_rows"] = by_dump.get((dump["input"], dump["dump"]), [])
    by_thread = keyed_rows(raw.get("by_thread"), _BY_THREAD_KEYS)
    notes = raw.get("notes")
    return {
        "clock": kind,
        "clock_label": clock_label(kind),
        "dumps": dumps,
        "by_thread": by_thread,
        "failed_dumps": raw.get("failed_dumps") or 0,
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    raw = view.report.get("pyspy")
    return pyspy_section(raw) if isinstance(raw, dict) else None
