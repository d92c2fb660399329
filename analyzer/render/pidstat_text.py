"""The pidstat part of the terminal summary: the busiest threads and the threads per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from analyzer.render.text import print_hanging, print_table_or_lines, titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_ROWS = 10


def _number(value: object, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "—"


def print_section(console: Console, view: ReportView) -> None:
    section = view.sections["pidstat"]
    if section is None:
        return
    console.print()
    console.print(
        Text.assemble(
            ("pidstat: ", "bold"),
            f"{section['intervals']} report times from {section['first_text']} to "
            f"{section['last_text']} ({section['clock_label']})",
        )
    )
    rows = section["busiest_threads"][:TOP_ROWS]
    if rows:
        table = titled_table(f"Busiest threads (top {len(rows)})")
        for header in (
            "pid",
            "tid",
            "name",
            "%CPU",
            "max",
            "%wait",
            "cswch/s",
            "nvcswch/s",
            "line",
        ):
            table.add_column(header)
        lines = []
        for row in rows:
            tid = str(row["tid"] if row["tid"] is not None else "—")
            table.add_row(
                str(row["pid"]),
                tid,
                Text(str(row["command"] or "")),
                _number(row["mean_cpu_pct"]),
                _number(row["max_cpu_pct"]),
                _number(row["wait_pct"]),
                _number(row["cswch_s"]),
                _number(row["nvcswch_s"]),
                Text(row["where"]),
            )
            lines.append(
                f"pid {row['pid']} tid {tid} {row['command'] or ''}: %CPU "
                f"{_number(row['mean_cpu_pct'])} (max {_number(row['max_cpu_pct'])}), %wait "
                f"{_number(row['wait_pct'])}, cswch/s {_number(row['cswch_s'])}, nvcswch/s "
                f"{_number(row['nvcswch_s'])} ({row['where']})"
            )
        print_table_or_lines(console, table, lines)
    counts = section["thread_counts"][:TOP_ROWS]
    if counts:
        table = titled_table("Threads per process")
        for header in ("process", "first", "last", "max", "at"):
            table.add_column(header)
        for row in counts:
            table.add_row(
                Text(row["label"]),
                str(row["first"]),
                str(row["last"]),
                str(row["max"]),
                row["max_at_text"],
            )
        console.print(table)
    for note in section["notes"]:
        print_hanging(console, f"Note: {note}", style="dim")
