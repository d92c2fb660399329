"""The top part of the terminal summary (``--format text``), printed with Rich: the busiest
threads, the thread counts of the processes and the threads seen in D state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from analyzer.render.formatting import count
from analyzer.render.text import print_hanging, titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_ROWS = 10


def _pct(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "—"


def print_section(console: Console, view: ReportView) -> None:
    """The top part of the summary, when the report has a ``top`` section."""
    section = view.sections["top"]
    if section is None:
        return
    console.print()
    console.print(
        Text.assemble(
            ("top: ", "bold"),
            f"{count(section['iterations'])} iterations; times are {section['clock_label']}",
        )
    )
    threads = section["busiest_threads"][:TOP_ROWS]
    if threads:
        table = titled_table(
            f"Busiest threads (top {len(threads)}; %CPU is the mean, max the highest)"
        )
        # short headers, as pidstat's: the table fits 80 columns without cutting a cell
        for header in ("tid", "name", "%CPU", "max", "at", "states", "line"):
            numeric = header in ("%CPU", "max")
            table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
        for row in threads:
            table.add_row(
                str(row["tid"]),
                Text(str(row["command"] or "")),
                _pct(row["mean_cpu_pct"]),
                _pct(row["max_cpu_pct"]),
                row["max_at_text"],
                row["states_text"],
                Text(row["where"]),
            )
        console.print(table)
    counts = section["thread_counts"][:TOP_ROWS]
    if counts:
        table = titled_table("Threads per process")
        for header in ("process", "first", "last", "max", "at", "counted by"):
            table.add_column(header)
        for row in counts:
            table.add_row(
                Text(row["label"]),
                str(row["first"]),
                str(row["last"]),
                str(row["max"]),
                row["max_at_text"],
                str(row["counted_by"]),
            )
        console.print(table)
    for row in section["d_state"][:TOP_ROWS]:
        print_hanging(
            console,
            f"D state: tid {row['tid']} ({row['command'] or '?'}) in "
            f"{row['iterations']} iterations, wchan {row['wchan'] or '?'} ({row['where']})",
            lead=2,
            hang=4,
            style="yellow",
        )
    for note in section["notes"]:
        print_hanging(console, f"Note: {note}", style="dim")
