"""The iostat part of the terminal summary: per device the mean and peak of each metric, and
the stretches in which it was saturated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from analyzer.render.text import print_hanging, titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

DEVICES = 4


def _number(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "—"


def print_section(console: Console, view: ReportView) -> None:
    section = view.sections["iostat"]
    if section is None:
        return
    console.print()
    console.print(Text.assemble(("iostat: ", "bold"), f"times are {section['clock_label']}"))
    for device in section["devices"][:DEVICES]:
        table = titled_table(f"Device {device['device']} ({device['reports']} reports)")
        for header in ("metric", "mean", "max", "at", "line"):
            table.add_column(header)
        for row in device["metrics"]:
            table.add_row(
                row["label"],
                _number(row["mean"]),
                _number(row["max"]),
                row["at"],
                Text(row["where"]),
            )
        console.print(table)
        for row in device["saturated"][:3]:
            print_hanging(
                console,
                f"saturated {row['first_text']} to {row['last_text']} ({row['reports']} "
                f"reports): await up to {_number(row['max_await_ms'])} ms, aqu-sz up to "
                f"{_number(row['max_aqu_sz'])}, %util up to {_number(row['max_util_pct'])} "
                f"({row['where']})",
                lead=2,
                hang=4,
                style="yellow",
            )
    for note in section["notes"]:
        print_hanging(console, f"Note: {note}", style="dim")
