"""The top part of a report laid out for display (``view.sections["top"]``): the report's
``top`` section with its times as text (`analyzer.render.evidence_view`) and its rows in
the order they are shown. See docs/sources/top.md for the keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import clock_kind, clock_label, when
from analyzer.render.view import display_name, keyed_rows

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["section_view", "top_section"]

_THREAD_KEYS = (
    "input",
    "tid",
    "pid",
    "command",
    "iterations",
    "mean_cpu_pct",
    "max_cpu_pct",
    "max_at",
    "max_line",
    "cpu_time_s",
    "states",
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
_D_KEYS = ("input", "tid", "pid", "command", "iterations", "first_at", "last_at", "wchan", "lines")
_SUMMARY_KEYS = (
    "input",
    "iteration",
    "time",
    "line",
    "load1",
    "threads_total",
    "running",
    "d_rows",
    "us",
    "sy",
    "wa",
    "st",
    "id",
)


def states_text(states: object) -> str:
    """``R 5, S 1`` from a ``{state: count}`` object."""
    if not isinstance(states, Mapping):
        return ""
    return ", ".join(f"{state} {count}" for state, count in sorted(states.items()))


def top_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    kind = clock_kind(raw)
    threads = keyed_rows(raw.get("busiest_threads"), _THREAD_KEYS)
    for row in threads:
        row["where"] = f"{display_name(row['input'])}:{row['max_line']}"
        row["max_at_text"] = when(row["max_at"], kind)
        row["states_text"] = states_text(row["states"])
    counts = keyed_rows(raw.get("thread_counts"), _COUNT_KEYS)
    for row in counts:
        row["where"] = f"{display_name(row['input'])}:{row['max_line']}"
        row["max_at_text"] = when(row["max_at"], kind)
        row["label"] = (
            f"pid {row['pid']} {row['command'] or ''}".strip()
            if row["pid"] is not None
            else "all rows shown"
        )
    d_state = keyed_rows(raw.get("d_state"), _D_KEYS)
    for row in d_state:
        row["first_text"] = when(row["first_at"], kind)
        row["last_text"] = when(row["last_at"], kind)
        lines = row["lines"] if isinstance(row["lines"], list) else []
        row["where"] = f"{display_name(row['input'])}:{','.join(str(n) for n in lines)}"
    summary = keyed_rows(raw.get("summary"), _SUMMARY_KEYS)
    for row in summary:
        row["time_text"] = when(row["time"], kind)
    inputs = keyed_rows(raw.get("inputs"), ("input", "iterations", "first", "last", "delay_s"))
    for row in inputs:
        row["name"] = display_name(row["input"])
        row["first_text"] = when(row["first"], kind)
        row["last_text"] = when(row["last"], kind)
    notes = raw.get("notes")
    return {
        "clock": kind,
        "clock_label": clock_label(kind),
        "inputs": inputs,
        "iterations": sum(int(row["iterations"] or 0) for row in inputs),
        "summary": summary,
        "busiest_threads": threads,
        "thread_counts": counts,
        "d_state": d_state,
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    """The top part of `view`, or None when the report has no ``top`` section."""
    raw = view.report.get("top")
    return top_section(raw) if isinstance(raw, dict) else None
