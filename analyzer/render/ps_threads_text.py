"""The ps part of the terminal summary: each process's thread count over the snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from analyzer.render.text import print_hanging, titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_ROWS = 10


def print_section(console: Console, view: ReportView) -> None:
    section = view.sections["ps_threads"]
    if section is None:
        return
    console.print()
    console.print(
        Text.assemble(
            ("ps: ", "bold"),
            f"{section['snapshots']} snapshots from {section['first_text']} to "
            f"{section['last_text']} ({section['clock_label']})",
        )
    )
    rows = section["processes"][:TOP_ROWS]
    if rows:
        table = titled_table("Threads per process (NLWP)")
        for header in ("process", "first", "last", "max", "growth", "max at", "lines"):
            table.add_column(header)
        for row in rows:
            table.add_row(
                Text(row["label"]),
                str(row["first"]),
                str(row["last"]),
                str(row["max"]),
                f"{row['growth']:+d}",
                row["max_at_text"],
                Text(row["where"]),
            )
        console.print(table)
    for row in section["d_state"][:TOP_ROWS]:
        print_hanging(
            console,
            f"D state: tid {row['tid']} ({row['command'] or '?'}) in {row['snapshots']} "
            f"snapshots, wchan {row['wchan'] or '?'} ({row['where']})",
            lead=2,
            hang=4,
            style="yellow",
        )
    for note in section["notes"]:
        print_hanging(console, f"Note: {note}", style="dim")
