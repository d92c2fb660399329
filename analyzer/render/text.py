"""Terminal summary (``--format text``): a compact Rich rendering of the report.

It shows the inputs (line counts, unparsed lines), the verdict, each source's part (printed by
``analyzer/render/<source>_text.py`` in the order of `analyzer.render.sections`: for strace
the top syscalls by total time, errors, calls still in flight at the end of the trace and
tasks) and the titles of any findings. Colour is off when ``NO_COLOR`` is set or the output is
not a terminal. Trace text is always passed to Rich as `rich.text.Text`, never as markup, so
``[bold]`` in a file name is printed as it is. The CLI, not this renderer, prints where the
other reports were written.
"""

from __future__ import annotations

import os
from typing import IO, ClassVar

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.formatting import count, duration
from analyzer.render.sections import section_modules
from analyzer.render.view import ReportView

__all__ = ["TextRenderer", "titled_table"]

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def titled_table(title: str) -> Table:
    """A report table in the terminal style: left-aligned bold title, a rule under the head."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )


def _is_tty(out: IO[str]) -> bool:
    isatty = getattr(out, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


class _Console(Console):
    """rich's Console, except that a closed output pipe (``| head``) raises BrokenPipeError
    instead of exiting the process, so the caller decides (the CLI still writes the
    reports)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("the reader of the text report went away")


class TextRenderer(Renderer):
    """Compact terminal summary rendered with Rich."""

    name: ClassVar[str] = "text"
    extensions: ClassVar[tuple[str, ...]] = (".txt",)

    def __init__(self, width: int | None = None, color: bool | None = None) -> None:
        """`width`: columns (default: the terminal's, else ``COLUMNS``, else 100).
        `color`: force colour on or off (default: on only for a TTY without ``NO_COLOR``)."""
        self.width = width
        self.color = color

    def _console(self, out: IO[str]) -> Console:
        tty = _is_tty(out)
        color = self.color
        if color is None:
            color = tty and not os.environ.get("NO_COLOR")
        width = self.width
        if width is None and not tty:
            columns = os.environ.get("COLUMNS", "")
            width = int(columns) if columns.isdigit() and int(columns) > 0 else 100
        return _Console(
            file=out,
            width=width,
            no_color=not color,
            color_system="auto" if color else None,
            force_terminal=color,
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=False,
        )

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        view = ReportView(result)
        console = self._console(out)
        version = view.tool["version"] or "?"
        console.print(Text.assemble((view.title, "bold"), f"  (iodiag {version}, {view.schema})"))
        self._inputs(console, view)
        self._verdict(console, view)
        for _name, module in section_modules("text"):
            module.print_section(console, view)
        self._findings(console, view)

    def _inputs(self, console: Console, view: ReportView) -> None:
        for row in view.inputs:
            if row["error"]:
                console.print(
                    Text.assemble(
                        "  ",
                        (str(row["name"]), "bold"),
                        (f": not read: {row['error']}", "bold red"),
                    )
                )
                continue
            details = [str(row["format"] or "?")]
            if row["compression"]:
                details.append(str(row["compression"]))
            if row["span_s"] is not None:
                details.append(f"spans {duration(row['span_s'])}")
            # asyncio_lines is left to the md/html reports to keep this line short.
            extra = "".join(f"{item}, " for item in row["counts"] if "asyncio lines" not in item)
            line = Text.assemble(
                "  ",
                (str(row["name"]), "bold"),
                f" ({', '.join(details)}): {count(row['lines'])} lines, {extra}",
                (
                    f"{count(row['unparsed_lines'])} unparsed",
                    "yellow" if row["unparsed_lines"] else "",
                ),
            )
            if row["non_utf8_lines"]:
                line.append(f", {count(row['non_utf8_lines'])} not UTF-8", "yellow")
            if row["truncated"]:
                line.append(f"; TRUNCATED: {row['truncated']}; read up to there", "bold red")
            console.print(line)

    def _verdict(self, console: Console, view: ReportView) -> None:
        conclusions = view.verdict["conclusions"]
        console.print()
        if not conclusions:
            console.print(
                Text(
                    "Verdict: no problem found."
                    if not view.findings
                    else "Verdict: nothing here costs time (informational findings below).",
                    "bold",
                )
            )
        else:
            console.print(Text("Verdict", "bold"))
        for row in conclusions:
            severity = str(row["severity"] or "info")
            head = Table.grid()
            head.add_column(width=5, no_wrap=True)
            head.add_column()
            head.add_row(
                f"  {row['rank']}.",
                Text.assemble(
                    (str(row["headline"] or ""), _SEVERITY_STYLE.get(severity, "bold")),
                    f"  [{row['code']}, cost {duration(row['cost_s'])}]",
                ),
            )
            console.print(head)
            console.print(Padding(Text(str(row["message"] or "")), (0, 0, 0, 5), expand=False))
            fix = f"as for {row['fix_as']}." if row["fix_as"] else str(row["fix"] or "")
            console.print(
                Padding(Text.assemble(("Fix: ", "bold"), fix), (0, 0, 0, 5), expand=False)
            )
        for limit in view.verdict["limits"]:
            console.print(Padding(Text(f"Cannot tell: {limit}", "dim"), (0, 0, 0, 2), expand=False))

    def _findings(self, console: Console, view: ReportView) -> None:
        if not view.findings:
            return
        console.print()
        console.print(Text(f"Findings ({len(view.findings)})", "bold"))
        for row in view.findings:
            severity = str(row["severity"] or "info")
            console.print(
                Text.assemble(
                    "  ",
                    (f"{severity:<7}", _SEVERITY_STYLE.get(severity, "")),
                    " ",
                    (f"{row['code'] or ''}", "bold"),
                    " ",
                    str(row["title"] or ""),
                )
            )
            if row["message"]:
                console.print(Text(f"          {row['message']}", "dim"))
            if row["citations"]:
                console.print(Text(f"          lines: {', '.join(row['citations'][:5])}", "dim"))
