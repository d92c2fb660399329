"""The CloudWatch part of the terminal summary: each metric's range, worst value and the
stretches past its limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from analyzer.render.formatting import duration
from analyzer.render.text import print_hanging, print_table_or_lines, titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_ROWS = 15


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else "—"


def print_section(console: Console, view: ReportView) -> None:
    section = view.sections["cloudwatch"]
    if section is None:
        return
    console.print()
    console.print(
        Text.assemble(("CloudWatch: ", "bold"), f"{len(section['metrics'])} series (UTC)")
    )
    rows = section["metrics"][:TOP_ROWS]
    if rows:
        table = titled_table("Metrics")
        for header in ("metric", "values", "min", "mean", "max", "worst at", "past limit"):
            table.add_column(header)
        lines = []
        for row in rows:
            past = "—" if row["past_limit"] is None else str(row["past_limit"])
            table.add_row(
                Text(row["label"]),
                str(row["values"]),
                _number(row["min"]),
                _number(row["mean"]),
                _number(row["max"]),
                row["worst_text"],
                past,
            )
            lines.append(
                f"{row['label']}: {row['values']} values, min {_number(row['min'])}, mean "
                f"{_number(row['mean'])}, max {_number(row['max'])}; worst at "
                f"{row['worst_text']}; past the limit: {past}"
            )
        print_table_or_lines(console, table, lines)
    for row in section["past_limit"]:
        for stretch in row["stretches"][:2]:
            print_hanging(
                console,
                f"{row['label']}: {row['limit_means']} from {stretch['first_text']} for "
                f"{duration(stretch['duration_s'])} (worst {_number(stretch['worst'])})",
                lead=2,
                hang=4,
                style="yellow",
            )
    for note in section["notes"]:
        print_hanging(console, f"Note: {note}", style="dim")
