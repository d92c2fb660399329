"""The asyncio part of a report laid out for display (``view.sections["asyncio"]``).

`asyncio_section` takes the raw (already display-safe) ``asyncio`` dict of the report and
returns the record counts by kind, the slow-callback groups by location and by coroutine
ranked by total time, and the misuse groups with their sample message, so the templates and
`analyzer.render.asyncio_text` stay free of logic. See docs/report-json.md for the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.view import display_name, keyed_rows, number

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["asyncio_section", "section_view"]

_SLOW_KEYS = ("count", "total_s", "max_s", "p95_s", "first_time_s", "last_time_s")
_MISUSE_KEYS = ("kind", "location", "count", "exception", "sample")


def asyncio_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``asyncio`` section normalised.

    ``by_kind`` is a list of (kind, count) pairs, largest first; slow-callback groups
    are ranked by total time; each misuse group has ``sample`` with ``input``, ``line``,
    ``text``, plus ``where`` (``name:line``) and ``first_line`` of the sample text.
    """
    by_kind = raw.get("by_kind")
    kinds = sorted(
        (by_kind if isinstance(by_kind, dict) else {}).items(),
        key=lambda pair: (-number(pair[1]), str(pair[0])),
    )
    slow = raw.get("slow_callbacks")
    slow = slow if isinstance(slow, dict) else {}
    by_location = keyed_rows(slow.get("by_location"), ("location", "callback", *_SLOW_KEYS))
    for row in by_location:
        if row["location"] is None and row["callback"]:
            row["location"] = f"{row['callback']} (no file:line)"
    by_coroutine = keyed_rows(slow.get("by_coroutine"), ("coro", *_SLOW_KEYS))
    for rows, key in ((by_location, "location"), (by_coroutine, "coro")):
        rows.sort(key=_by_total_then(key))
    misuse = keyed_rows(raw.get("misuse"), _MISUSE_KEYS)
    for row in misuse:
        sample: dict[str, Any] = {"input": None, "line": None, "text": None}
        if isinstance(row["sample"], dict):
            sample.update(row["sample"])
        text = "" if sample["text"] is None else str(sample["text"])
        sample["text"] = text
        row["sample"] = sample
        where = display_name(sample["input"])
        row["where"] = f"{where}:{sample['line']}" if sample["line"] is not None else where
        row["first_line"] = text.splitlines()[0] if text else ""
    misuse.sort(key=lambda row: (-number(row["count"]), str(row["kind"])))
    notes = raw.get("notes")
    return {
        "records": raw.get("records") or 0,
        "by_kind": kinds,
        "slow_count": slow.get("count") or 0,
        "slow_total_s": slow.get("total_s"),
        "by_location": by_location,
        "by_coroutine": by_coroutine,
        "misuse": misuse,
        "misuse_total": int(sum(number(row["count"]) for row in misuse)),
        "uvloop": bool(raw.get("uvloop")),
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    """The asyncio part of `view`, or None when the report has no ``asyncio`` section."""
    raw = view.report.get("asyncio")
    return asyncio_section(raw) if isinstance(raw, dict) else None


def _by_total_then(key: str) -> Callable[[dict[str, Any]], tuple[float, str]]:
    """Sort key: the largest total first, then by `key`'s text."""
    return lambda row: (-number(row["total_s"]), str(row[key]))
