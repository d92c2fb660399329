"""The asyncio part of the terminal summary (``--format text``), printed with Rich.

Called by `analyzer.render.text.TextRenderer`: the record counts by kind, the slow callbacks
by location and by coroutine (with their first and last UTC times on a wide terminal), the
misuse groups (their sample messages are left to the md/html reports) and the section's
notes. Trace text always goes in as `rich.text.Text`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from analyzer.render.formatting import count, duration, elide
from analyzer.render.text import titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_SLOW = 10
TOP_MISUSE = 10


def _clock_time(seconds: object) -> str | None:
    """Unix seconds as ``2024-05-01 14:03:07`` (UTC), or None when missing or invalid."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return None


def _when(first: object, last: object) -> str:
    """First and last Unix time of a group, compactly: ``2024-05-01 14:03:07–14:05:00``."""
    start, end = _clock_time(first), _clock_time(last)
    if start is None and end is None:
        return "—"
    if start is None or end is None or start == end:
        return start or end or "—"
    if start[:10] == end[:10]:
        return f"{start}–{end[11:]}"
    return f"{start}–{end}"


def _slow_table(console: Console, rows: list[dict[str, Any]], key: str, what: str) -> None:
    if not rows:
        return
    shown = rows[:TOP_SLOW]
    table = titled_table(f"Slow callbacks by {what} (top {len(shown)} of {len(rows)})")
    table.add_column(what, no_wrap=True)
    for header in ("count", "total", "max", "p95"):
        table.add_column(header, justify="right", no_wrap=True)
    wide = console.width >= 100
    room = max(console.width - (70 if wide else 40), 16)  # a path loses its middle
    if wide:
        table.add_column("first–last (UTC)", no_wrap=True)
    for row in shown:
        cells: list[str | Text] = [
            Text(elide(row[key], room)),
            count(row["count"]),
            duration(row["total_s"]),
            duration(row["max_s"]),
            duration(row["p95_s"]),
        ]
        if wide:
            cells.append(_when(row["first_time_s"], row["last_time_s"]))
        table.add_row(*cells)
    console.print(table)
    console.print()


def print_section(console: Console, view: ReportView) -> None:
    """The asyncio part of the summary, when the report has an ``asyncio`` section."""
    section = view.sections["asyncio"]
    if section is None:
        return
    console.print()
    kinds = ", ".join(f"{kind} {count(n)}" for kind, n in section["by_kind"])
    header = Text.assemble(("asyncio: ", "bold"), f"{count(section['records'])} records")
    if kinds:
        header.append(f" ({kinds})")
    if section["uvloop"]:
        header.append(", uvloop")
    console.print(header)
    if section["slow_count"]:
        console.print(
            Text(
                f"Slow callbacks: {count(section['slow_count'])}, "
                f"{duration(section['slow_total_s'])} in total"
            )
        )
    console.print()
    _slow_table(console, section["by_location"], "location", "location")
    _slow_table(console, section["by_coroutine"], "coro", "coroutine")
    misuse = section["misuse"]
    if misuse:
        shown = misuse[:TOP_MISUSE]
        table = titled_table(
            f"Misuse ({count(section['misuse_total'])} messages in {len(misuse)} groups)"
        )
        table.add_column("kind", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("exception", overflow="fold")
        table.add_column("location", no_wrap=True)
        room = max((console.width - 30) // 2, 16)
        for row in shown:
            table.add_row(
                Text(str(row["kind"]), "yellow"),
                count(row["count"]),
                Text(str(row["exception"] or "")),
                Text(elide(row["location"] or row["where"], room)),
            )
        console.print(table)
        if len(misuse) > len(shown):
            console.print(Text(f"  … and {len(misuse) - len(shown)} more groups", "dim"))
        console.print(Text("  (sample messages are in the md/html report)", "dim"))
        console.print()
    for note in section["notes"]:
        console.print(Text(f"Note: {note}", "dim"))
