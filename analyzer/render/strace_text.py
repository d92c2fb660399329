"""The strace part of the terminal summary (``--format text``), printed with Rich.

Called by `analyzer.render.text.TextRenderer` when the report shows strace
(`StraceView.shown`): the top syscalls by total time (strace's own ``-c`` table for an input
that is nothing else), the errors, the calls still in flight at the end of the trace, the tasks
and whether strace's own summary table agrees with ours. Trace text always goes in as
`rich.text.Text`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from analyzer.render.formatting import count, duration, elide, percent
from analyzer.render.text import titled_table

if TYPE_CHECKING:
    from analyzer.render.strace_view import StraceView
    from analyzer.render.view import ReportView

__all__ = ["print_section"]

TOP_SYSCALLS = 15
TOP_IN_FLIGHT = 10
TOP_ERRORS = 5


def print_section(console: Console, view: ReportView) -> None:
    """The strace part of the summary, when the report shows strace."""
    strace: StraceView = view.sections["strace"]
    if not strace.shown:
        return
    _timeline(console, strace, view)
    _syscalls(console, strace)
    _errors(console, strace)
    _in_flight(console, strace, view)
    _tasks(console, strace)


TIMELINE_LANES = 12
"""Thread lanes of the terminal's timeline; the other threads share one more lane."""
_STATE_STYLES = {
    "running": "green",
    "file": "yellow",
    "net": "blue",
    "pipe": "magenta",
    "lock": "red",
    "sleep": "bright_magenta",
    "idle": "bright_black",
    "syscall": "white",
}


def _timeline(console: Console, strace: StraceView, view: ReportView) -> None:
    """The thread timeline as a text lane chart, one line per thread."""
    from analyzer.render.strace_timeline import lane_chart_lines

    timelines = strace.timelines(200, TIMELINE_LANES)
    for tt in timelines:
        runs: list[list[tuple[int, int, str]]] = []
        lines = lane_chart_lines(
            tt, console.width, origin_label=view.ts(tt.timeline.start_s), runs=runs
        )
        title = "Thread timeline" + (f" of {tt.name}" if len(timelines) > 1 else "")
        console.print()
        console.print(Text(title, "bold"))
        for index, line in enumerate(lines):
            text = Text(line)
            for start, end, state in runs[index] if index < len(runs) else []:
                text.stylize(_STATE_STYLES[state], start, min(end, len(line)))
            console.print(text, no_wrap=True, overflow="ignore", crop=False)


def _syscalls(console: Console, strace: StraceView) -> None:
    rows = strace.top_syscalls(TOP_SYSCALLS)
    summary = strace.summary
    if not rows and summary is not None and summary["summary_only"]:
        _strace_table(console, summary["rows"])  # strace's count stands in for ours
        return
    if not rows:
        console.print(Text("\nNo completed syscalls.", "dim"))
        return
    table = titled_table(
        f"Top {len(rows)} of {len(strace.syscalls)} syscalls by total time "
        f"({count(strace.calls_total)} calls, {duration(strace.syscall_time_total)})"
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


def _errors(console: Console, strace: StraceView) -> None:
    if not strace.errors:
        return
    shown = strace.errors[:TOP_ERRORS]
    text = Text("Errors: ", "bold")
    for index, row in enumerate(shown):
        if index:
            text.append(", ")
        text.append(f"{row['errno']} ×{count(row['count'])} ({row['syscall']})", "red")
    if len(strace.errors) > len(shown):
        text.append(f", and {len(strace.errors) - len(shown)} more")
    console.print(text)


def _in_flight(console: Console, strace: StraceView, view: ReportView) -> None:
    rows = strace.in_flight
    if not rows:
        return
    table = titled_table(f"In flight at the end of the trace ({len(rows)})")
    table.add_column("tid", justify="right", no_wrap=True)
    table.add_column("syscall", no_wrap=True)
    table.add_column("waited", justify="right", no_wrap=True)
    table.add_column("since", no_wrap=True)
    table.add_column("target", no_wrap=True)
    room = max(console.width - 50, 16)  # what the other columns leave; paths lose their middle
    for row in rows[:TOP_IN_FLIGHT]:
        table.add_row(
            Text(str(row["tid"])),
            Text(str(row["syscall"])),
            duration(row["waited_s"]),
            view.ts(row["start"]),
            Text(elide(row["target"] or "", room)),
        )
    console.print()
    console.print(table)
    if len(rows) > TOP_IN_FLIGHT:
        console.print(Text(f"  … and {len(rows) - TOP_IN_FLIGHT} more", "dim"))
    console.print()


def _tasks(console: Console, strace: StraceView) -> None:
    summary = strace.summary
    if summary is not None and summary["summary_only"]:
        return  # no call lines: no tasks to count, and the table is shown above
    tasks = strace.tasks
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
    no_return = strace.no_return
    if no_return["count"]:
        names = ", ".join(f"{name} {count(n)}" for name, n in no_return["by_syscall"][:5])
        console.print(Text(f"Never returned: {count(no_return['count'])} ({names})"))
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


def _strace_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """strace's own -c table, for an input that is nothing else."""
    shown = rows[:TOP_SYSCALLS]
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
