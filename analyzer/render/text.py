"""Terminal summary (``--format text``): a compact Rich rendering of the report.

It shows the inputs (line counts, unparsed lines), the top syscalls by total time, errors,
calls still in flight at the end of the trace, tasks and the titles of any findings. Colour is
off when ``NO_COLOR`` is set or the output is not a terminal. Trace text is always passed to
Rich as `rich.text.Text`, never as markup, so ``[bold]`` in a file name is printed as it is.
The CLI, not this renderer, prints where the other reports were written.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import IO, Any, ClassVar

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.formatting import count, duration, percent, short
from analyzer.render.perf_text import titled_table
from analyzer.render.view import ReportView

__all__ = ["TextRenderer"]

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


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
    description: ClassVar[str] = "terminal summary (Rich); colour unless NO_COLOR or not a TTY"

    top_syscalls: ClassVar[int] = 15
    top_in_flight: ClassVar[int] = 10
    top_errors: ClassVar[int] = 5
    top_slow: ClassVar[int] = 10
    top_misuse: ClassVar[int] = 10
    top_stacks: ClassVar[int] = 10

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
        if view.has_strace:
            self._syscalls(console, view)
            self._errors(console, view)
            self._in_flight(console, view)
            self._tasks(console, view)
        self._asyncio(console, view)
        self._perf(console, view)
        self._findings(console, view)

    def _inputs(self, console: Console, view: ReportView) -> None:
        for row in view.inputs:
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

    def _syscalls(self, console: Console, view: ReportView) -> None:
        rows = view.top_syscalls(self.top_syscalls)
        summary = view.strace_summary
        if not rows and summary is not None and summary["summary_only"]:
            self._strace_table(console, summary["rows"])  # strace's count stands in for ours
            return
        if not rows:
            console.print(Text("\nNo completed syscalls.", "dim"))
            return
        table = Table(
            title=(
                f"Top {len(rows)} of {len(view.syscalls)} syscalls by total time "
                f"({count(view.calls_total)} calls, {duration(view.syscall_time_total)})"
            ),
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        # Narrow terminals lose the two columns that other columns imply (share, avg).
        headers = ["calls", "errors", "total", "share", "avg", "p95", "max"]
        if console.width < 76:
            headers = [header for header in headers if header not in {"share", "avg"}]
        table.add_column("syscall", no_wrap=True)
        for header in headers:
            table.add_column(header, justify="right", no_wrap=True)
        for row in rows:
            cells: dict[str, str | Text] = {
                "calls": count(row["calls"]),
                "errors": Text(count(row["errors"]), "red" if row["errors"] else "dim"),
                "total": duration(row["total_s"]),
                "share": percent(row["share"]),
                "avg": duration(row["avg_s"]),
                "p95": duration(row["p95_s"]),
                "max": duration(row["max_s"]),
            }
            table.add_row(Text(str(row["syscall"])), *(cells[header] for header in headers))
        console.print()
        console.print(table)
        console.print()

    def _errors(self, console: Console, view: ReportView) -> None:
        if not view.errors:
            return
        shown = view.errors[: self.top_errors]
        text = Text("Errors: ", "bold")
        for index, row in enumerate(shown):
            if index:
                text.append(", ")
            text.append(f"{row['errno']} ×{count(row['count'])} ({row['syscall']})", "red")
        if len(view.errors) > len(shown):
            text.append(f", and {len(view.errors) - len(shown)} more")
        console.print(text)

    def _in_flight(self, console: Console, view: ReportView) -> None:
        rows = view.in_flight
        if not rows:
            return
        table = Table(
            title=f"In flight at the end of the trace ({len(rows)})",
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        table.add_column("tid", justify="right", no_wrap=True)
        table.add_column("syscall", no_wrap=True)
        table.add_column("waited", justify="right", no_wrap=True)
        table.add_column("since", no_wrap=True)
        table.add_column("target", overflow="fold")
        for row in rows[: self.top_in_flight]:
            table.add_row(
                Text(str(row["tid"])),
                Text(str(row["syscall"])),
                duration(row["waited_s"]),
                view.ts(row["start"]),
                Text(short(row["target"] or "", 80)),
            )
        console.print()
        console.print(table)
        if len(rows) > self.top_in_flight:
            console.print(Text(f"  … and {len(rows) - self.top_in_flight} more", "dim"))
        console.print()

    def _tasks(self, console: Console, view: ReportView) -> None:
        summary = view.strace_summary
        if summary is not None and summary["summary_only"]:
            return  # no call lines: no tasks to count, and the table is shown above
        tasks = view.tasks
        text = Text.assemble(
            ("Tasks: ", "bold"),
            f"processes {count(tasks['processes'])}, threads {count(tasks['threads'])} "
            f"(peak {count(tasks['peak_threads'])}), exited {count(tasks['exited'])}",
        )
        if tasks["killed"]:
            killed = ", ".join(f"{row['tid']} by {row['signal']}" for row in tasks["killed"][:5])
            more = len(tasks["killed"]) - 5
            text.append(f", killed {len(tasks['killed'])} ({killed}", "red")
            text.append(f", and {more} more)" if more > 0 else ")", "red")
        console.print(text)
        no_return = view.no_return
        if no_return["count"]:
            names = ", ".join(f"{name} {count(n)}" for name, n in no_return["by_syscall"][:5])
            console.print(Text(f"Never returned: {count(no_return['count'])} ({names})"))
        summary = view.strace_summary
        if summary is not None:
            if summary["matches"]:
                console.print(Text("strace -c/-C summary: matches our totals", "green"))
            else:
                console.print(
                    Text(
                        f"strace -c/-C summary differs from our totals in "
                        f"{len(summary['mismatches'])} field(s) (see the md/html report)",
                        "yellow",
                    )
                )

    def _strace_table(self, console: Console, rows: list[dict[str, Any]]) -> None:
        """strace's own -c table, for an input that is nothing else."""
        shown = rows[: self.top_syscalls]
        table = titled_table(f"strace -c table, top {len(shown)} of {len(rows)} by time")
        for column in ("syscall", "calls", "errors", "seconds", "avg"):
            table.add_column(column, justify="left" if column == "syscall" else "right")
        for row in shown:
            seconds = row["seconds"]
            calls = row["calls"] or 0
            average = seconds / calls if isinstance(seconds, (int, float)) and calls else None
            table.add_row(
                str(row["syscall"]),
                count(row["calls"]),
                count(row["errors"]),
                duration(seconds),
                duration(average),
            )
        console.print(table)

    def _slow_table(
        self, console: Console, rows: list[dict[str, Any]], key: str, what: str
    ) -> None:
        if not rows:
            return
        shown = rows[: self.top_slow]
        table = titled_table(f"Slow callbacks by {what} (top {len(shown)} of {len(rows)})")
        table.add_column(what, overflow="fold")
        for header in ("count", "total", "max", "p95"):
            table.add_column(header, justify="right", no_wrap=True)
        wide = console.width >= 100
        if wide:
            table.add_column("first–last (UTC)", no_wrap=True)
        for row in shown:
            cells: list[str | Text] = [
                Text(str(row[key])),
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

    def _asyncio(self, console: Console, view: ReportView) -> None:
        section = view.asyncio
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
        self._slow_table(console, section["by_location"], "location", "location")
        self._slow_table(console, section["by_coroutine"], "coro", "coroutine")
        misuse = section["misuse"]
        if misuse:
            shown = misuse[: self.top_misuse]
            table = titled_table(
                f"Misuse ({count(section['misuse_total'])} messages in {len(misuse)} groups)"
            )
            table.add_column("kind", no_wrap=True)
            table.add_column("count", justify="right", no_wrap=True)
            table.add_column("exception", overflow="fold")
            table.add_column("location", overflow="fold")
            for row in shown:
                table.add_row(
                    Text(str(row["kind"]), "yellow"),
                    count(row["count"]),
                    Text(str(row["exception"] or "")),
                    Text(str(row["location"] or row["where"])),
                )
            console.print(table)
            if len(misuse) > len(shown):
                console.print(Text(f"  … and {len(misuse) - len(shown)} more groups", "dim"))
            console.print(Text("  (sample messages are in the md/html report)", "dim"))
            console.print()
        for note in section["notes"]:
            console.print(Text(f"Note: {note}", "dim"))

    def _perf(self, console: Console, view: ReportView) -> None:
        from analyzer.render import perf_text

        section = view.perf
        if section is None:
            return
        console.print()
        events = ", ".join(f"{event} {count(n)}" for event, n in section["events"])
        header = Text.assemble(("perf: ", "bold"), f"{count(section['samples'])} samples")
        if events:
            header.append(f" ({events})")
        if section["span"]["span_s"] is not None:
            header.append(f", over {duration(section['span']['span_s'])}")
        console.print(header)
        perf_text.print_events(console, section["by_event"])
        stacks = section["top_stacks"]
        if stacks:
            shown = stacks[: self.top_stacks]
            table = titled_table(
                f"Top {len(shown)} of the folded stacks "
                f"(total count {count(section['folded_total'])}; leaf last)"
            )
            table.add_column("count", justify="right", no_wrap=True)
            table.add_column("share", justify="right", no_wrap=True)
            table.add_column("stack", overflow="fold")
            for row in shown:
                table.add_row(count(row["count"]), percent(row["share"]), Text(row["short"]))
            console.print()
            console.print(table)
        elif not (section["block_io"] or section["off_cpu"] or section["syscall_latency"]):
            console.print(Text("No folded stacks.", "dim"))
        perf_text.print_block_io(console, section["block_io"])
        perf_text.print_off_cpu(console, section["off_cpu"])
        perf_text.print_syscall_latency(console, section["syscall_latency"])
        console.print()

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
