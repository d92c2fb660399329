"""The Arrow schemas of every table iodiag builds: the single source of truth.

Each field carries a ``doc`` (and, where it has one, a ``unit``) in its metadata, and each
schema carries its name and version. `docs/schema.md` is rendered from this module by
``python -m analyzer.schema_doc > docs/schema.md`` (with the tables later sources declare
themselves); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    unit: str | None = None

    def field(self) -> pa.Field:
        metadata = {"doc": self.doc}
        if self.unit:
            metadata["unit"] = self.unit
        return pa.field(self.name, self.type, nullable=True, metadata=metadata)


@dataclass(frozen=True)
class TableSpec:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [column.field() for column in self.columns],
            metadata={"iodiag.schema": f"{self.name}/{SCHEMA_VERSION}", "doc": self.doc},
        )

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")

STRACE_LINES = TableSpec(
    "strace_lines",
    "One row per parsed strace line, exactly as the line parsers produce it "
    "(see analyzer/formats/strace_record.py for the field rules).",
    (
        Column("line_no", pa.int64(), "1-based line number in the input."),
        Column(
            "kind",
            pa.string(),
            "syscall, unfinished, resumed, detached, signal, exit, "
            "frame, dump, summary, message or output (the traced program's output).",
        ),
        Column("pid", pa.int64(), "Pid/tid from the line prefix; null when the line has none."),
        Column("comm", pa.string(), "Command name from `-Y`."),
        Column(
            "ts_ns",
            pa.int64(),
            "Timestamp as printed: since midnight (clock), since the "
            "epoch (epoch) or since the previous line (relative).",
            "ns",
        ),
        Column("ts_kind", pa.string(), "clock (-t/-tt), epoch (-ttt) or relative (-r)."),
        Column("rel_ns", pa.int64(), "The `(+ rel)` delta printed with `-t -r`.", "ns"),
        Column("scno", pa.int64(), "Syscall number printed by `-n`."),
        Column("ip", pa.string(), "Instruction pointer printed by `-i` (hex text)."),
        Column("syscall", pa.string(), "Syscall name."),
        Column("args", pa.string(), "Raw argument text of this line's half of the call."),
        Column("ret", pa.string(), "Return value as printed (`3</etc/passwd>`, `?`, `0x1`)."),
        Column("retval", pa.int64(), "Return value as an integer (null for `?`)."),
        Column("ret_target", pa.string(), "The `-y` decoration of the returned fd or pid."),
        Column("errno", pa.string(), "Error name: ENOENT, ERESTARTSYS, or `errno N`."),
        Column("errmsg", pa.string(), "Error description printed after the errno name."),
        Column("aux", pa.string(), "Parenthesised text after a return: Timeout, flags ..."),
        Column("duration_ns", pa.int64(), "The `-T` time spent in the call.", "ns"),
        Column("signal", pa.string(), "Signal name of signal lines and `killed by` exits."),
        Column("exit_code", pa.int64(), "Status of `+++ exited with N +++`."),
        Column("core_dumped", pa.bool_(), "True for `(core dumped)`."),
        Column("other_pid", pa.int64(), "The pid of `superseded by execve in pid N`."),
        Column(
            "text",
            pa.string(),
            "Body of frame, dump, summary and message lines; the program output on an output "
            "line, or printed into a write call's line.",
        ),
    ),
)

UNPARSED = TableSpec(
    "unparsed",
    "Lines that are not strace output (or are broken), with the reason; never dropped.",
    (
        _INPUT,
        Column("line_no", pa.int64(), "1-based line number in the input."),
        Column("text", pa.string(), "The line as read (invalid UTF-8 shown as \\xNN)."),
        Column("reason", pa.string(), "Why the line was not parsed."),
    ),
)


def unparsed_table(input_name: str, rejected: Sequence[tuple[int, str, str]]) -> pa.Table:
    """The `UNPARSED` table of one input from its ``(line_no, text, reason)`` rows."""
    return pa.table(
        {
            "input": [input_name] * len(rejected),
            "line_no": [line_no for line_no, _, _ in rejected],
            "text": [text for _, text, _ in rejected],
            "reason": [reason for _, _, reason in rejected],
        },
        schema=UNPARSED.schema,
    )


SYSCALLS = TableSpec(
    "syscalls",
    "One row per system call: complete lines and paired unfinished/resumed halves, plus "
    "calls that never returned or were still in flight when the trace ended.",
    (
        _INPUT,
        Column("tid", pa.int64(), "Thread that made the call (after execve re-attribution)."),
        Column("pid", pa.int64(), "Process (thread group) of the thread, when known."),
        Column("syscall", pa.string(), "Syscall name."),
        Column(
            "start_s",
            pa.float64(),
            "Entry time on the trace clock: seconds since the first "
            "day's midnight (-t/-tt, rollover inferred), the epoch (-ttt) or the first "
            "line (-r).",
            "s",
        ),
        Column("end_s", pa.float64(), "Exit time (null when the call did not return).", "s"),
        Column(
            "duration_s",
            pa.float64(),
            "Time in the call from `-T` (null without -T or when the call did not return).",
            "s",
        ),
        Column("args", pa.string(), "Full raw argument text (both halves joined)."),
        Column(
            "fd",
            pa.int64(),
            "The call's file descriptor: the first argument of fd-taking calls, or the one fd "
            "a poll/select waited on (see `wait_fds` for sets of several).",
        ),
        Column("target", pa.string(), "What the fd refers to: path, socket, pipe..."),
        Column("target_kind", pa.string(), "file, socket, pipe, device, anon, fd or null."),
        Column("ret", pa.string(), "Return value as printed."),
        Column("retval", pa.int64(), "Return value as an integer."),
        Column("errno", pa.string(), "Error name, null on success."),
        Column(
            "aux",
            pa.string(),
            "Parenthesised text after the return value: `Timeout`, the ready fds of "
            "poll/select, flags.",
        ),
        Column(
            "status",
            pa.string(),
            "complete, no-return (`= ?` without error, e.g. exit), "
            "in-flight (still unfinished when the trace ended) or detached.",
        ),
        Column("line_start", pa.int64(), "Line of the entry half (or the complete line)."),
        Column("line_end", pa.int64(), "Line of the resumed half (null if none)."),
    ),
)

WAIT_FDS = TableSpec(
    "wait_fds",
    "One row per fd in the sets of a poll, ppoll, select or pselect6 call: what the call "
    "waited on (see analyzer/derive/strace_waits.py).",
    (
        _INPUT,
        Column(
            "row",
            pa.int64(),
            "Row of the call among the `syscalls` rows of the same trace (input or -ff set).",
        ),
        Column("tid", pa.int64(), "Thread that made the call."),
        Column("fd", pa.int64(), "The file descriptor in the set."),
        Column("want", pa.string(), "What the call waited for: in, out, inout, exc or other."),
        Column("ready", pa.bool_(), "The fd was among those the call returned as ready."),
        Column("target", pa.string(), "What the fd referred to at the call."),
        Column("target_kind", pa.string(), "file, socket, pipe, device, anon or null."),
        Column(
            "own_pipe",
            pa.bool_(),
            "The fd is a pipe whose other end the waiting process held too (a self-pipe: it "
            "waits for its own signal handler or threads, not for another process).",
        ),
    ),
)

SIGNALS = TableSpec(
    "signals",
    "Signals delivered to traced tasks (`--- SIG... ---`).",
    (
        _INPUT,
        Column("tid", pa.int64(), "Receiving thread."),
        Column("time_s", pa.float64(), "Delivery time on the trace clock.", "s"),
        Column("signal", pa.string(), "Signal name."),
        Column("info", pa.string(), "The siginfo text, or `stopped` for group-stops."),
        Column("line_no", pa.int64(), "Source line."),
    ),
)

EXITS = TableSpec(
    "exits",
    "Task ends (`+++ ... +++`).",
    (
        _INPUT,
        Column("tid", pa.int64(), "Task that ended."),
        Column("time_s", pa.float64(), "Time on the trace clock.", "s"),
        Column("how", pa.string(), "exited, killed or superseded (by execve in another thread)."),
        Column("exit_code", pa.int64(), "Exit status for `exited`."),
        Column("signal", pa.string(), "Killing signal for `killed`."),
        Column("core_dumped", pa.bool_(), "Core dumped."),
        Column("line_no", pa.int64(), "Source line."),
    ),
)

TASKS = TableSpec(
    "tasks",
    "Every task (thread or process) seen, built from clone/fork/vfork and the lines it printed.",
    (
        _INPUT,
        Column("tid", pa.int64(), "Task id."),
        Column("pid", pa.int64(), "Process (thread group leader) it belongs to."),
        Column("parent", pa.int64(), "Task that created it (null if it predates the trace)."),
        Column("comm", pa.string(), "Command name when known (`-Y`)."),
        Column("is_thread", pa.bool_(), "Created with CLONE_THREAD."),
        Column("created_s", pa.float64(), "Time the creating call returned.", "s"),
        Column("exited_s", pa.float64(), "Time of its `+++` line or last line.", "s"),
        Column("exit_status", pa.string(), "`exited N`, `killed SIG`, `superseded` or null."),
        Column("first_line", pa.int64(), "First line printed by the task."),
        Column("last_line", pa.int64(), "Last line printed by the task."),
    ),
)

LOOP_EVENTS = TableSpec(
    "loop_events",
    "One row per asyncio record of an application log (a message and its continuation "
    "lines); see analyzer/formats/asyncio_record.py for the field rules.",
    (
        _INPUT,
        Column("line_start", pa.int64(), "First line of the record (1-based)."),
        Column("line_end", pa.int64(), "Last line of the record."),
        Column(
            "kind",
            pa.string(),
            "slow_callback, exception, task_destroyed_pending, never_retrieved, "
            "never_awaited, resource_warning, poll_timing, getaddrinfo or other.",
        ),
        Column("time", pa.string(), "Timestamp text of the envelope, as printed."),
        Column("time_s", pa.float64(), "The timestamp as Unix time (zone-less read as UTC).", "s"),
        Column("level", pa.string(), "Log level from the envelope."),
        Column("logger", pa.string(), "Logger name from the envelope."),
        Column(
            "pid",
            pa.int64(),
            "Process id from the envelope (gunicorn, journald, a generic envelope's `18917`, "
            "`[18917]` or `pid=18917`, JSON's pid/process/_PID).",
        ),
        Column(
            "thread",
            pa.string(),
            "Thread name from the envelope (`MainThread`, `Thread-3 (worker)`, `asyncio_0`; "
            "bare, in brackets or parentheses, `thread=...`, JSON's thread/threadName).",
        ),
        Column("message", pa.string(), "First message line, without envelope."),
        Column("duration_s", pa.float64(), "Time the callback, step or poll took.", "s"),
        Column("repr_class", pa.string(), "Class of the subject repr: Task, Handle, Future..."),
        Column("task_name", pa.string(), "The task's name='...'."),
        Column("task_state", pa.string(), "pending, cancelling, cancelled or finished."),
        Column("coro", pa.string(), "Coroutine qualname."),
        Column("callback", pa.string(), "Handle callback, without arguments."),
        Column("location", pa.string(), "file:line of the coroutine, callback or warning."),
        Column("created_at", pa.string(), "file:line of the repr's `created at`."),
        Column("exc_type", pa.string(), "Exception type (or warning category)."),
        Column("exc_message", pa.string(), "Exception message (or warning text)."),
        Column("uvloop", pa.bool_(), "True when the record has a uvloop-only shape."),
        Column("text", pa.string(), "The record's lines as printed."),
    ),
)

STACK_FRAME = pa.struct(
    [
        pa.field("file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("function", pa.string()),
        pa.field("code", pa.string()),
    ]
)

TASKS_SNAPSHOT = TableSpec(
    "tasks_snapshot",
    "One row per task of an aiomonitor `ps` / `ps-terminated` table and per stack of a "
    "`where` / `where-terminated` output found in an asyncio input (a saved aiomonitor "
    "console session); see analyzer/formats/asyncio_record.py (TaskSnapshot) for the rules.",
    (
        _INPUT,
        Column(
            "snapshot",
            pa.int64(),
            "First line of the dump the row belongs to (its `monitor >>>` prompt line when "
            "there is one); rows of one dump share it.",
        ),
        Column("command", pa.string(), "ps, ps-terminated, where or where-terminated."),
        Column("line_no", pa.int64(), "Line of the table row, or of the stack's header."),
        Column("line_end", pa.int64(), "Last line of the row or stack."),
        Column(
            "task_id",
            pa.string(),
            "ps: `id(task)` as printed; ps-terminated: the trace id; where: the id given to "
            "`where`, on the task's own stack only.",
        ),
        Column("state", pa.string(), "PENDING, CANCELLED or FINISHED (ps, where-terminated)."),
        Column("name", pa.string(), "Task name."),
        Column("coro", pa.string(), "Coroutine qualname, without `()`."),
        Column(
            "created_at",
            pa.string(),
            "Created Location as printed (`<cwd>/app.py:45`; aiomonitor shortens paths).",
        ),
        Column(
            "since_s",
            pa.float64(),
            "ps: running for (Since); ps-terminated: Since Started.",
            "s",
        ),
        Column("terminated_s", pa.float64(), "ps-terminated: Since Terminated.", "s"),
        Column(
            "section",
            pa.string(),
            "where: root (creation of the chain's first task), creator (the named task when "
            "it created the next one) or task (the task's own stack).",
        ),
        Column("exception", pa.string(), "where-terminated: the `exc=` repr."),
        Column("note", pa.string(), "Text printed instead of frames (`No stack available ...`)."),
        Column(
            "frames",
            pa.list_(STACK_FRAME),
            "where: the stack, outermost first: file, line, function and the source line.",
        ),
    ),
)

PERF_SAMPLES = TableSpec(
    "perf_samples",
    "One row per sample header line of `perf script` output (see "
    "analyzer/formats/perf_record.py for how each field is read).",
    (
        Column("line_no", pa.int64(), "1-based line number of the sample's header line."),
        Column(
            "time_ns", pa.int64(), "Sample time as printed by perf (null if not printed).", "ns"
        ),
        Column("tod", pa.string(), "Wall-clock time printed by `-F +tod`."),
        Column("pid", pa.int64(), "Process id (only with `-F +pid`; null otherwise)."),
        Column("tid", pa.int64(), "Thread id (null in layouts without it)."),
        Column("comm", pa.string(), "Command name of the thread, spaces kept (`io worker 1`)."),
        Column("cpu", pa.int64(), "CPU number from `[001]` (null when not sampled)."),
        Column("event", pa.string(), "Event name without the trailing colon (`cycles:u`)."),
        Column("period", pa.int64(), "Sample period printed before the event (null if absent)."),
        Column("payload", pa.string(), "Text after the event: tracepoint fields or inline frame."),
        Column(
            "stack_id",
            pa.int64(),
            "The sample's callchain in the `perf_stacks` table; null without any frame. A "
            "sample without callchain lines whose payload is a frame has a one-frame stack.",
        ),
        Column(
            "cut",
            pa.bool_(),
            "True when the sample's callchain was not ended by a blank line (the input "
            "stops inside it), so its stack may be incomplete.",
        ),
    ),
)

PERF_STACKS = TableSpec(
    "perf_stacks",
    "Distinct callchains, each a list of frame ids, leaf (innermost, printed first) first.",
    (
        Column("stack_id", pa.int64(), "Stack id (0-based, in order of first appearance)."),
        Column("frame_ids", pa.list_(pa.int64()), "Frame ids, leaf first as perf prints them."),
        Column("depth", pa.int64(), "Number of frames."),
    ),
)

PERF_FRAMES = TableSpec(
    "perf_frames",
    "Distinct callchain frames: one row per distinct (address, symbol, offset, DSO, srcline).",
    (
        Column("frame_id", pa.int64(), "Frame id (0-based, in order of first appearance)."),
        Column("addr", pa.string(), "Instruction address as printed (hex, no 0x)."),
        Column("symbol", pa.string(), "Symbol without the `+0x` offset (null when unknown)."),
        Column("offset", pa.string(), "The `0x..` offset into the symbol, when printed."),
        Column(
            "dso",
            pa.string(),
            "DSO: the text in the final parentheses (`[kernel.kallsyms]`, `inlined`, "
            "`/tmp/perf-123.map`); null when not printed.",
        ),
        Column("srcline", pa.string(), "Source location from `-F +srcline` (`malloc.c:4140`)."),
        Column(
            "inlined",
            pa.bool_(),
            "True for inlined frames: DSO `(inlined)`, or `(inlined)` after the srcline.",
        ),
    ),
)

PERF_SIDEBAND = TableSpec(
    "perf_sideband",
    "Side-band records (`PERF_RECORD_COMM`, `_MMAP2`, `_SWITCH`, ...) printed by "
    "`--show-task-events`, `--show-mmap-events`, `--show-switch-events`.",
    (
        Column("line_no", pa.int64(), "1-based line number."),
        Column("time_ns", pa.int64(), "Time as printed.", "ns"),
        Column("pid", pa.int64(), "Process id (with `-F +pid`)."),
        Column("tid", pa.int64(), "Thread id."),
        Column("comm", pa.string(), "Command name."),
        Column("cpu", pa.int64(), "CPU number, when printed."),
        Column("record", pa.string(), "The record type: `PERF_RECORD_SWITCH` ..."),
        Column("payload", pa.string(), "The record's text (`OUT preempt`, `exec: x:1/1`)."),
    ),
)

PERF_FOLDED = TableSpec(
    "perf_folded",
    "Folded stacks of perf samples, one row per distinct stack, as stackcollapse-perf.pl "
    "prints them (root first, frames joined by ';'), with the run's collapse options.",
    (
        _INPUT,
        Column("stack", pa.string(), "The folded stack: root (comm) first, leaf last."),
        Column("count", pa.int64(), "Samples (or summed periods) with this stack."),
    ),
)


PERF_BLOCK_IO = TableSpec(
    "perf_block_io",
    "Block I/O requests: `block:block_rq_issue` paired with the next `block:block_rq_complete` "
    "on the same device and sector (BCC biolatency's key), with the matching "
    "`block:block_rq_insert` when it was recorded. Only paired requests are rows; unmatched "
    "issues and completions (and flushes among them) are counted by "
    "`analyzer.derive.perf_tracepoints.block_io`.",
    (
        Column("dev", pa.string(), "Device as `major,minor` (`254,0`)."),
        Column("sector", pa.int64(), "Start sector of the request (512-byte units)."),
        Column("nr_sectors", pa.int64(), "Size in sectors, from the issue record."),
        Column(
            "bytes",
            pa.int64(),
            "Request size: the bytes field of the issue record, else nr_sectors * 512.",
            "bytes",
        ),
        Column("rwbs", pa.string(), "RWBS flags of the issue (`WS`, `RA`, `FF` ...)."),
        Column("ioprio", pa.string(), "The `class,hint,level` field (2024+ kernels), as printed."),
        Column(
            "flush",
            pa.bool_(),
            "True when the issue is a flush: RWBS starting with `F`, or a data-less (0-sector) "
            "request.",
        ),
        Column("insert_ns", pa.int64(), "Time of the matching `block_rq_insert`, if any.", "ns"),
        Column("issue_ns", pa.int64(), "Time of the issue (`block_rq_issue`).", "ns"),
        Column("complete_ns", pa.int64(), "Time of the completion.", "ns"),
        Column("queue_ns", pa.int64(), "issue - insert (null without an insert).", "ns"),
        Column("latency_ns", pa.int64(), "complete - issue: the device latency.", "ns"),
        Column("error", pa.int64(), "The `[error]` of the completion (0 = success)."),
        Column("comm", pa.string(), "Command of the issuing thread (issue header)."),
        Column("pid", pa.int64(), "Pid of the issuing thread (only with `-F +pid`)."),
        Column("tid", pa.int64(), "Issuing thread."),
        Column("issue_cpu", pa.int64(), "CPU of the issue record."),
        Column("complete_cpu", pa.int64(), "CPU of the completion record."),
        Column("issue_stack_id", pa.int64(), "Callchain of the issue in `perf_stacks`."),
        Column("issue_line", pa.int64(), "Line of the issue header."),
        Column("complete_line", pa.int64(), "Line of the completion header."),
    ),
)

PERF_OFF_CPU = TableSpec(
    "perf_off_cpu",
    "Off-CPU intervals from `sched:sched_switch` (complete only for a system-wide `-a` "
    "recording): from the switch-out of a thread (`prev_pid`) to its next switch-in "
    "(`next_pid`). The idle "
    "task (pid 0) is left out; switch-outs never followed by a switch-in are counted by "
    "`analyzer.derive.perf_tracepoints.off_cpu`.",
    (
        Column("tid", pa.int64(), "The thread switched out (`prev_pid`)."),
        Column("pid", pa.int64(), "Its process id, when the header printed one (`-F +pid`)."),
        Column("comm", pa.string(), "Its command (`prev_comm`, spaces kept)."),
        Column(
            "state",
            pa.string(),
            "`prev_state` as printed: S (sleep), D (uninterruptible, often I/O), R/R+ "
            "(preempted, waiting for a CPU), I, T, t, X, Z, P or a `|`-joined set.",
        ),
        Column("start_ns", pa.int64(), "Switch-out time.", "ns"),
        Column("end_ns", pa.int64(), "Switch-in time.", "ns"),
        Column("duration_ns", pa.int64(), "end - start: time off CPU.", "ns"),
        Column("cpu_out", pa.int64(), "CPU it left."),
        Column("cpu_in", pa.int64(), "CPU it came back on."),
        Column("stack_id", pa.int64(), "Callchain at switch-out (where it blocked), if recorded."),
        Column("out_line", pa.int64(), "Line of the switch-out record."),
        Column("in_line", pa.int64(), "Line of the switch-in record."),
    ),
)

PERF_SYSCALL_LATENCY = TableSpec(
    "perf_syscall_latency",
    "System calls from `raw_syscalls:sys_enter`/`sys_exit` or `syscalls:sys_enter_NAME`/"
    "`sys_exit_NAME`, each enter paired with the next exit of the same thread (and source). "
    "Calls without both halves are counted by `analyzer.derive.perf_tracepoints.syscall_latency`.",
    (
        Column("tid", pa.int64(), "Thread that made the call."),
        Column("pid", pa.int64(), "Process id, when printed (`-F +pid`)."),
        Column("comm", pa.string(), "Command of the thread (enter header)."),
        Column("source", pa.string(), "`raw_syscalls` or `syscalls` (the named tracepoints)."),
        Column("nr", pa.int64(), "x86-64 syscall number (raw NR, or looked up from the name)."),
        Column("syscall", pa.string(), "Syscall name (x86-64 table for raw NR; null if unknown)."),
        Column("enter_ns", pa.int64(), "Time of the enter record.", "ns"),
        Column("exit_ns", pa.int64(), "Time of the exit record.", "ns"),
        Column("duration_ns", pa.int64(), "exit - enter.", "ns"),
        Column("ret", pa.int64(), "Return value, signed (u64 hex of named exits converted)."),
        Column("error", pa.bool_(), "True when ret is a negative errno (-4095..-1)."),
        Column("args", pa.string(), "Argument text of the enter record, as printed."),
        Column("cpu", pa.int64(), "CPU of the enter record."),
        Column("stack_id", pa.int64(), "Callchain of the enter record, if recorded."),
        Column("enter_line", pa.int64(), "Line of the enter record."),
        Column("exit_line", pa.int64(), "Line of the exit record."),
    ),
)


TABLES: tuple[TableSpec, ...] = (
    STRACE_LINES,
    UNPARSED,
    SYSCALLS,
    WAIT_FDS,
    SIGNALS,
    EXITS,
    TASKS,
    LOOP_EVENTS,
    TASKS_SNAPSHOT,
    PERF_SAMPLES,
    PERF_STACKS,
    PERF_FRAMES,
    PERF_SIDEBAND,
    PERF_FOLDED,
    PERF_BLOCK_IO,
    PERF_OFF_CPU,
    PERF_SYSCALL_LATENCY,
)


def render_markdown(specs: Sequence[TableSpec] = TABLES) -> str:
    """The text of docs/schema.md for these tables (`analyzer.schema_doc` gives every table:
    these and those the other sources declare)."""
    out = [
        "# iodiag table schemas",
        "",
        f"Schema version {SCHEMA_VERSION}. Generated from `analyzer/schema.py` and the "
        "sources' own table specs by `python -m analyzer.schema_doc > docs/schema.md`; do "
        "not edit by hand.",
        "Each Parquet file written by `--format parquet` carries these schemas, with the "
        "docs below as field metadata (the dataset's layout and its `manifest.json`: "
        "docs/parquet.md).",
        "",
    ]
    for spec in specs:
        out += [f"## `{spec.name}/{SCHEMA_VERSION}`", "", spec.doc, ""]
        out += ["| column | type | unit | meaning |", "|---|---|---|---|"]
        for column in spec.columns:
            doc = column.doc.replace("|", "\\|")
            out.append(f"| `{column.name}` | {column.type} | {column.unit or ''} | {doc} |")
        out.append("")
    return "\n".join(out)
