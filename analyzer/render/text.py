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
import re
import textwrap
from typing import IO, ClassVar

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.formatting import count, duration, elide
from analyzer.render.sections import section_modules
from analyzer.render.view import ReportView, number

__all__ = [
    "TextRenderer",
    "print_hanging",
    "print_table_or_lines",
    "print_wrapped",
    "titled_table",
    "wrap",
]

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


_GLUE = "\x00"
_UNITS = re.compile(
    r"(?<=\d) (?=(?:s|ms|µs|ns|min|h|%|B|KiB|MiB|GiB|TiB|calls?|threads?|lines?|times)\b)"
)
_CODE = re.compile(r"`[^`]*`")
_LEADING = re.compile(r"\b(tid|pid|line|fd|futex|peer|port) (?=\S)", re.IGNORECASE)


def wrap(text: str, width: int, *, indent: int = 0, first: str = "") -> list[str]:
    """`text` wrapped to `width` columns at spaces, never between a number and its unit
    (``412 ms``) nor inside a word, a path or a short `code` span; a path longer than a line
    is shortened in its middle. The first line starts with `first` (padded to `indent`), the
    others with `indent` spaces: a hanging indent."""
    room = max(width - indent, 16)
    glued = _LEADING.sub(rf"\1{_GLUE}", _UNITS.sub(_GLUE, " ".join(text.split())))
    glued = _CODE.sub(
        lambda m: m.group().replace(" ", _GLUE) if len(m.group()) <= room else m.group(), glued
    )
    words = [elide(word, room) if len(word) > room else word for word in glued.split(" ")]
    lines = textwrap.wrap(
        " ".join(words), room, break_long_words=False, break_on_hyphens=False
    ) or [""]
    pad = " " * indent
    return [
        (first.ljust(indent) if index == 0 else pad) + line.replace(_GLUE, " ")
        for index, line in enumerate(lines)
    ]


def print_wrapped(
    console: Console, text: str, *, indent: int = 0, first: str = "", style: str = ""
) -> None:
    """`wrap` `text` to the console's width and print it, lines unbroken by Rich."""
    for line in wrap(text, console.width, indent=indent, first=first):
        rendered = Text(line, style)
        if first and line.startswith(first) and style != "dim":
            rendered.stylize("bold", 0, len(first))
        console.print(rendered, no_wrap=True, overflow="ignore", crop=False)


def print_hanging(
    console: Console, text: str, *, lead: int = 0, hang: int = 6, style: str = ""
) -> None:
    """Print `text` wrapped like `wrap`, its first line `lead` columns in, the others `hang`
    columns in (a note or a bullet under a table)."""
    lines = wrap(text, console.width, indent=hang)
    lines[0] = " " * lead + lines[0][hang:]
    for line in lines:
        console.print(Text(line, style), no_wrap=True, overflow="ignore", crop=False)


def print_table_or_lines(console: Console, table: Table, lines: list[str]) -> None:
    """Print `table` when it fits the console's width uncut; else its title and `lines`, one
    per row, each wrapped with a hanging indent (a narrow terminal cuts no cell that way)."""
    unbounded = console.options.update_width(10_000)  # the width it needs, not what it gets
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    console.print(Text(str(table.title or ""), "bold"))
    for line in lines:
        print_hanging(console, line, lead=0, hang=4)


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


class _StripTrailing:
    """A text stream that writes whole lines to `out` without their trailing spaces (Rich pads
    table and wrapped lines to the console width; piped output should not carry them)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            lines = self.pending.split("\n")
            self.pending = lines.pop()
            self.out.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.out.write(self.pending.rstrip(" "))
            self.pending = ""
        self.out.flush()

    def isatty(self) -> bool:
        return False


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
            file=out if color else _StripTrailing(out),  # type: ignore[arg-type]
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
        try:
            self._render(console, view)
        finally:
            if isinstance(console.file, _StripTrailing):
                console.file.flush()

    def _render(self, console: Console, view: ReportView) -> None:
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
                    f"  [{row['code']}{_cost(row['cost_s'])}]",
                ),
            )
            console.print(head)
            print_wrapped(console, str(row["message"] or ""), indent=5)
            fix = f"as for {row['fix_as']}." if row["fix_as"] else str(row["fix"] or "")
            print_wrapped(console, fix, indent=10, first="     Fix:")
        for limit in view.verdict["limits"]:
            print_wrapped(console, limit, indent=15, first="  Cannot tell:", style="dim")

    def _findings(self, console: Console, view: ReportView) -> None:
        if not view.findings:
            return
        console.print()
        console.print(Text(f"Findings ({len(view.findings)})", "bold"))
        for row in view.findings:
            severity = str(row["severity"] or "info")
            head = Table.grid()
            head.add_column(width=10, no_wrap=True)
            head.add_column()
            head.add_row(
                Text.assemble("  ", (f"{severity:<7}", _SEVERITY_STYLE.get(severity, ""))),
                Text.assemble((f"{row['code'] or ''}", "bold"), " ", str(row["title"] or "")),
            )
            console.print(head)
            # wrapped lines hang under the finding's text, not at column 0
            if row["message"]:
                print_wrapped(console, str(row["message"]), indent=10, style="dim")
            if row["citations"]:
                lines = f"lines: {', '.join(row['citations'][:5])}"
                print_wrapped(console, lines, indent=10, style="dim")


def _cost(cost_s: object) -> str:
    """`, cost 1.2 s` after a conclusion's code; nothing when no wait was measured (a
    CloudWatch-only slow volume has no calls to time)."""
    return f", cost {duration(cost_s)}" if number(cost_s) > 0 else ""
