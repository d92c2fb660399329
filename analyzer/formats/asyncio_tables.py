"""Arrow table specs of the asyncio log input (to be moved into `analyzer.schema`).

`LOOP_EVENTS` has one row per `AsyncioRecord` (field rules in
`analyzer.formats.asyncio_record`), plus the input name.
"""

from __future__ import annotations

import pyarrow as pa

from analyzer.schema import Column, TableSpec

_INPUT = Column("input", pa.string(), "Path of the input the row came from (`-` for stdin).")

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
        Column("pid", pa.int64(), "Process id from the envelope (gunicorn, journald, JSON)."),
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

ASYNCIO_UNPARSED = TableSpec(
    "asyncio_unparsed",
    "Lines that look like asyncio messages but that the grammar rejects, with the reason.",
    (
        _INPUT,
        Column("line_no", pa.int64(), "1-based line number in the input."),
        Column("text", pa.string(), "The line as read."),
        Column("reason", pa.string(), "Why the line was not parsed."),
    ),
)

TABLES: tuple[TableSpec, ...] = (LOOP_EVENTS, ASYNCIO_UNPARSED)
