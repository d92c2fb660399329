"""The py-spy part of the terminal summary: per thread over the dumps, and the GIL holders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from analyzer.render.text import print_hanging, titled_table

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_ROWS = 12


def print_section(console: Console, view: ReportView) -> None:
    section = view.sections["pyspy"]
    if section is None:
        return
    console.print()
    dumps = section["dumps"]
    console.print(
        Text.assemble(
            ("py-spy: ", "bold"),
            f"{len(dumps)} dump{'s' if len(dumps) != 1 else ''}"
            + (f", {section['failed_dumps']} failed" if section["failed_dumps"] else "")
            + f" ({section['clock_label']})",
        )
    )
    rows = section["by_thread"][:TOP_ROWS]
    if rows:
        table = titled_table("Python threads over the dumps")
        for header in ("tid", "name", "dumps", "active", "GIL", "most often in"):
            table.add_column(header)
        for row in rows:
            table.add_row(
                str(row["tid"]),
                Text(str(row["name"] or "")),
                str(row["dumps"]),
                str(row["active"]),
                str(row["gil"]),
                Text(str(row["top"] or "")),
            )
        console.print(table)
    for dump in dumps[:TOP_ROWS]:
        if dump["gil_text"]:
            print_hanging(
                console, f"{dump['when']} GIL: {dump['gil_text']} ({dump['where']})", lead=2, hang=4
            )
    for note in section["notes"]:
        print_hanging(console, f"Note: {note}", style="dim")
