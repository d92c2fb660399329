"""The perf part of the terminal summary (``--format text``), printed with Rich.

Called by `analyzer.render.text.TextRenderer` (`print_section`): the samples per event, then
per sampling event the heaviest symbols and DSOs (self and total samples) and the samples per
thread; the top folded stacks; then block I/O per device with BCC biolatency's
histogram, off-CPU time by state and thread, and syscall latency in ``perf trace -s``'s
layout. Tracepoint events get no symbol tables here (the md/html reports have them). The
histogram and the ``perf trace -s`` lines are printed as they are (never wrapped), so they
can be pasted next to the peers' own output. Trace text always goes in as `rich.text.Text`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from analyzer.render.formatting import count, duration, percent, short, timestamp
from analyzer.render.text import titled_table
from analyzer.sections.perf_histograms import perf_trace_summary_lines

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = [
    "print_block_io",
    "print_events",
    "print_off_cpu",
    "print_section",
    "print_syscall_latency",
]

TOP_STACKS = 10
TOP_SYMBOLS = 10
TOP_DSOS = 5
TOP_THREADS = 10
TOP_OFF_CPU = 10
TRACE_THREADS = 5


def _verbatim(console: Console, lines: list[str], indent: str = "") -> None:
    for line in lines:
        console.print(Text(indent + line), soft_wrap=True)


def _notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(Text(f"  Note: {note}", "dim"))


def _shares(table: Table) -> None:
    for header in ("self", "self %", "total", "total %"):
        table.add_column(header, justify="right", no_wrap=True)


def print_events(console: Console, events: list[dict[str, Any]]) -> None:
    """Symbols, DSOs and threads of each sampling (non-tracepoint) event."""
    for event in events:
        if event["tracepoint"]:
            continue
        name = event["event"]
        if event["symbols"]:
            symbols = event["symbols"][:TOP_SYMBOLS]
            table = titled_table(
                f"Top symbols, {name} ({count(event['with_stack'])} samples with stacks; "
                "self = leaf frame, total = anywhere in the stack)"
            )
            _shares(table)
            table.add_column("symbol", overflow="fold")
            table.add_column("dso", overflow="fold")
            for row in symbols:
                table.add_row(
                    count(row["self_samples"]),
                    percent(row["self_share"]),
                    count(row["total_samples"]),
                    percent(row["total_share"]),
                    Text(short(row["name"], 60)),
                    Text(short(row["dso_name"], 40)),
                )
            console.print()
            console.print(table)
        if event["dsos"]:
            table = titled_table(f"Top DSOs, {name}")
            _shares(table)
            table.add_column("dso", overflow="fold")
            for row in event["dsos"][:TOP_DSOS]:
                table.add_row(
                    count(row["self_samples"]),
                    percent(row["self_share"]),
                    count(row["total_samples"]),
                    percent(row["total_share"]),
                    Text(short(row["dso_name"], 60)),
                )
            console.print()
            console.print(table)
        threads = event["by_thread"][:TOP_THREADS]
        if threads:
            total = int(event["threads"] or 0)
            timed = any(row["first_s"] is not None for row in threads)
            title = f"Samples by thread, {name} ({count(total)} thread{'' if total == 1 else 's'}"
            if total > len(threads):
                title += f", the busiest {len(threads)} shown"
            table = titled_table(title + ")")
            table.add_column("thread", overflow="fold")
            table.add_column("samples", justify="right", no_wrap=True)
            table.add_column("share", justify="right", no_wrap=True)
            if event["has_cpu"]:
                table.add_column("cpu", justify="right", no_wrap=True)
            if timed:
                table.add_column("first–last (perf clock)", no_wrap=True)
            for row in threads:
                cells: list[str | Text] = [
                    Text(row["label"]),
                    count(row["samples"]),
                    percent(row["share"]),
                ]
                if event["has_cpu"]:
                    cells.append(duration(row["cpu_s"]))
                if timed:
                    cells.append(f"{timestamp(row['first_s'])}–{timestamp(row['last_s'])}")
                table.add_row(*cells)
            console.print()
            console.print(table)


def print_block_io(console: Console, block: dict[str, Any] | None) -> None:
    """Per device: latency summary, read/write/flush split, queue depth, biolatency lines."""
    if block is None:
        return
    console.print()
    if not block["devices"]:
        console.print(Text.assemble(("Block I/O: ", "bold"), "no request could be paired."))
    for device in block["devices"]:
        console.print(
            Text.assemble(
                ("Block I/O ", "bold"),
                (str(device["dev"]), "bold"),
                f": {count(device['count'])} requests, {device['bytes_text']}; "
                f"p50 {duration(device['p50_s'])}, p95 {duration(device['p95_s'])}, "
                f"p99 {duration(device['p99_s'])}, max {duration(device['max_s'])}",
            )
        )
        ops = ", ".join(
            f"{row['op']} {count(row['count'])} (p50 {duration(row['p50_s'])}, "
            f"max {duration(row['max_s'])})"
            for row in device["by_op"]
        )
        if ops:
            console.print(Text(f"  {ops}"))
        depth = device["queue_depth"]
        if depth:
            parts = [f"peak {count(depth['peak'])} at {timestamp(depth['peak_at'])}"]
            if depth["mean"] is not None:
                parts.append(f"mean {depth['mean']:.2f}")
            if depth["busy_share"] is not None:
                span = (depth["last_s"] or 0.0) - (depth["first_s"] or 0.0)
                parts.append(f"busy {percent(depth['busy_share'])} of {duration(span)}")
            console.print(Text(f"  In flight: {', '.join(parts)}"))
        if device["histogram_lines"]:
            console.print()
            _verbatim(console, [f"disk = {device['dev']}", *device["histogram_lines"]])
    _notes(console, block["notes"])


def print_off_cpu(console: Console, off_cpu: dict[str, Any] | None) -> None:
    """Off-CPU time by state, then the threads and states that waited longest."""
    if off_cpu is None:
        return
    console.print()
    states = ", ".join(
        f"{row['state']} {duration(row['total_s'])} ×{count(row['count'])}"
        for row in off_cpu["by_state"]
    )
    header = Text.assemble(
        ("Off-CPU: ", "bold"),
        f"{duration(off_cpu['total_s'])} over {count(off_cpu['threads'])} "
        f"thread{'' if off_cpu['threads'] == 1 else 's'}",
    )
    if states:
        header.append(f" ({states})")
    console.print(header)
    rows = off_cpu["by_thread"][:TOP_OFF_CPU]
    if rows:
        table = titled_table(f"Longest off-CPU time by thread and state (top {len(rows)})")
        table.add_column("thread", overflow="fold")
        table.add_column("state", no_wrap=True)
        for header_text in ("count", "total", "avg", "max", "share"):
            table.add_column(header_text, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(
                Text(row["label"]),
                Text(f"{row['state']} {row['meaning']}".strip()),
                count(row["count"]),
                duration(row["total_s"]),
                duration(row["avg_s"]),
                duration(row["max_s"]),
                percent(row["share"]),
            )
        console.print(table)
    _notes(console, off_cpu["notes"])


def print_syscall_latency(console: Console, syscalls: dict[str, Any] | None) -> None:
    """The ``perf trace -s`` table of the busiest threads."""
    if syscalls is None:
        return
    console.print()
    threads = syscalls["by_thread"][:TRACE_THREADS]
    pairs = syscalls["pairs"]
    title = Text.assemble(
        ("Syscall latency", "bold"),
        f" ({count(pairs)} calls paired enter to exit; layout of perf trace -s",
    )
    more = int(syscalls["threads"] or 0) - len(threads)
    if more > 0:
        title.append(f"; the busiest {len(threads)} of {count(syscalls['threads'])} threads")
    title.append(")")
    console.print(title)
    if threads:
        text = "\n".join(perf_trace_summary_lines(threads)).strip("\n")
        _verbatim(console, text.splitlines())
    _notes(console, syscalls["notes"])


def print_section(console: Console, view: ReportView) -> None:
    """The perf part of the summary, when the report has a ``perf`` section."""
    section = view.sections["perf"]
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
    print_events(console, section["by_event"])
    stacks = section["top_stacks"]
    if stacks:
        shown = stacks[:TOP_STACKS]
        weight = section["folded_weight"]
        table = titled_table(
            f"Top {len(shown)} of the folded stacks by {weight['noun']} "
            f"(in all {weight['total_text']}; leaf last)"
        )
        table.add_column(weight["noun"], justify="right", no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
        table.add_column("stack", overflow="fold")
        for row in shown:
            table.add_row(row["weight"], percent(row["share"]), Text(row["short"]))
        console.print()
        console.print(table)
    elif not (section["block_io"] or section["off_cpu"] or section["syscall_latency"]):
        console.print(Text("No folded stacks.", "dim"))
    print_block_io(console, section["block_io"])
    print_off_cpu(console, section["off_cpu"])
    print_syscall_latency(console, section["syscall_latency"])
    console.print()
