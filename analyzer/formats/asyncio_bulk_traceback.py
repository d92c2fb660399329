"""The bulk path for whole exception-handler records: ``never retrieved`` with a traceback.

After the one-line ``Executing <...> took N seconds`` records (`asyncio_bulk.slow_records`)
the commonest record of a debug-mode log is the exception handler's

    2023-11-14 22:13:21,817 ERROR asyncio: Task exception was never retrieved
    future: <Task finished name='Task-9' coro=<fetch() done, defined at /srv/c.py:12> ...>
    Traceback (most recent call last):
      File "/srv/c.py", line 14, in fetch
        data = await reader.read(65536)
    ConnectionResetError: [Errno 104] Connection reset by peer

`traceback_records` reads such records a chunk at a time into `loop_events` rows, so the
assembler sees none of their lines. A record is read here only when every line has the
reading the assembler would close it with:

- the first line is `HEAD_LINE` (the plain asctime envelope and ``Task|Future exception was
  never retrieved``: a subset of the grammar's ``envelope NEVER_RETRIEVED``);
- the second is a ``future:``/``task:`` line that `asyncio_bulk.KEY_LINE` reads (the subject);
- then ``Traceback (most recent call last):``, frame and indented lines, and one exception
  line (not the tracemalloc hint), as the line parser itself reads them (`ContinuationKinds`
  asks `asyncio_scan.parse_line_lazy` once per distinct text);
- the line after the exception line starts with a plain ``YYYY-MM-DD HH:MM:SS`` time and a
  blank, so it has no journal prefix and is neither blank nor a chained-exception header:
  the assembler closes the record there.

Any other record (a blank line or ``During handling ...`` after it, a source traceback, a
second exception, a record at the end of the chunk) is left to the assembler. As for the
one-line records, the first line acts as `Assembler.boundary` where the assembler wants it.
The values are those of `asyncio_assemble._build` for these lines; tests check the two
against each other on every fixture, on generated records and on mutated ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.formats.asyncio_bulk import (
    KEY_CREATED,
    KEY_HEAD,
    KEY_LINE,
    BulkRows,
    _Bytes,
    _slices,
    _strings,
    bulk_table,
    time_seconds,
)
from analyzer.formats.asyncio_record import Line
from analyzer.formats.asyncio_scan import parse_line_lazy
from analyzer.schema import LOOP_EVENTS

__all__ = [
    "HEAD_LINE",
    "ContinuationKinds",
    "TracebackRecords",
    "traceback_records",
    "traceback_rows",
]

HEAD_LINE = (
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,6})? "
    r"(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) +[A-Za-z0-9_.\-]+: "
    r"(?:Task|Future) exception was never retrieved$"
)
"""A never-retrieved record's first line in the envelope `asyncio_bulk.SLOW_LINE` reads."""

_NEXT_LINE = r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)? "
"""A line that closes a record after its exception line: no JOURNAL_ISO (a zone would follow
the time) or COMPOSE prefix (a ``|`` would follow the first word) can start it, so it is
not blank, and it is no CHAIN."""

_HINT = "Enable tracemalloc to get the object allocation traceback"
MAX_LINES = 200
"""Records longer than this are left to the assembler."""

OTHER, TRACEBACK, FRAME, UVLOOP_FRAME, INDENTED, EXCEPTION = range(6)


class ContinuationKinds:
    """What the line parser reads a continuation text as, remembered per distinct text: one
    of the codes above (`OTHER`: anything this path does not read), and for `EXCEPTION` the
    exception type and message. Shared by the reader threads (each entry is computed from
    the text alone, so a race computes it twice)."""

    LIMIT = 65536

    def __init__(self) -> None:
        self._kinds: dict[str, tuple[int, str | None, str | None]] = {}

    def kinds(self, texts: list[str]) -> list[tuple[int, str | None, str | None]]:
        known = self._kinds
        if len(known) > self.LIMIT:
            known.clear()
        found = []
        for text in texts:
            kind = known.get(text)
            if kind is None:
                kind = known[text] = _kind(text)
            found.append(kind)
        return found


def _kind(text: str) -> tuple[int, str | None, str | None]:
    line = parse_line_lazy(text)
    if not isinstance(line, Line) or line.role != "cont" or line.journal is not None:
        return OTHER, None, None
    data = line.data
    kind = data["type"]
    if kind == "traceback":
        return TRACEBACK, None, None
    if kind == "frame":
        return (UVLOOP_FRAME if data.get("uvloop") else FRAME), None, None
    if kind == "indented":
        return INDENTED, None, None
    if kind == "exc" and (data.get("exc_message") or "") != _HINT:
        return EXCEPTION, data["exc_type"], data["exc_message"]
    return OTHER, None, None


@dataclass(frozen=True)
class TracebackRecords:
    """The records read in a chunk: the 0-based indexes of their first lines (ascending),
    of all their lines, and their `loop_events` rows (in line order)."""

    heads: np.ndarray
    lines: np.ndarray
    table: pa.Table


EMPTY = TracebackRecords(
    np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), LOOP_EVENTS.schema.empty_table()
)


def _texts(buffer: pa.Buffer, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    return _slices(buffer, starts, ends).cast(pa.large_string())


def _matches(array: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.match_substring_regex(array, pattern).to_numpy(zero_copy_only=False))


def _after(values: pa.Array, pattern: str) -> pa.Array:
    """The group ``v`` of `pattern` in each value; null where it does not match."""
    return pc.struct_field(pc.extract_regex(values, pattern), "v")


def traceback_records(
    block: bytes | bytearray,
    newlines: np.ndarray,
    candidates: list[int],
    input_name: str,
    first_line_no: int,
    kinds: ContinuationKinds,
) -> TracebackRecords:
    """`traceback_rows` as a table."""
    rows, lines = traceback_rows(block, newlines, candidates, first_line_no, kinds)
    return TracebackRecords(rows.indexes, lines, bulk_table([rows], input_name))


def traceback_rows(
    block: bytes | bytearray,
    newlines: np.ndarray,
    candidates: list[int],
    first_line_no: int,
    kinds: ContinuationKinds,
) -> tuple[BulkRows, np.ndarray]:
    """The records of the block (valid UTF-8 without CR) that start at one of the
    `candidates` (ascending 0-based line indexes: lines with a marker) and have the shape
    of the module docstring, and the 0-based indexes of all their lines."""
    nothing = (BulkRows.empty(block), np.zeros(0, dtype=np.int64))
    if not candidates:
        return nothing
    count = len(newlines) + 1
    starts = np.empty(count, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    ends = np.append(newlines, len(block)).astype(np.int64)
    buffer = pa.py_buffer(block)
    lines = np.asarray(candidates, dtype=np.int64)
    heads = lines[_matches(_texts(buffer, starts[lines], ends[lines]), HEAD_LINE)]
    heads = heads[heads + 4 < count]  # key, traceback, exception and the line after
    if not len(heads):
        return nothing
    keys = _texts(buffer, starts[heads + 1], ends[heads + 1])
    keyed = _matches(keys, KEY_LINE) & ~_matches(keys, "Warning: ")
    keys = keys.filter(pa.array(keyed))
    heads = heads[keyed]

    # Walk the records' lines from the traceback header on, all records a step at a time.
    total = len(heads)
    last = np.full(total, -1, dtype=np.int64)
    exc_types: list[str | None] = [None] * total
    exc_messages: list[str | None] = [None] * total
    uvloop = np.zeros(total, dtype=bool)
    walking = np.arange(total)
    at = heads + 2
    for step in range(MAX_LINES - 2):
        inside = at < count
        walking, at = walking[inside], at[inside]
        if not len(walking):
            break
        codes = np.empty(len(at), dtype=np.int8)
        texts = _texts(buffer, starts[at], ends[at]).to_pylist()
        read = kinds.kinds(texts)
        for index, (code, _, _) in enumerate(read):
            codes[index] = code
        if step == 0:
            going = codes == TRACEBACK
        else:
            uvloop[walking[codes == UVLOOP_FRAME]] = True
            going = (codes == FRAME) | (codes == UVLOOP_FRAME) | (codes == INDENTED)
            for index in np.flatnonzero(codes == EXCEPTION).tolist():
                record = int(walking[index])
                last[record] = at[index]
                _, exc_types[record], exc_messages[record] = read[index]
        walking, at = walking[going], at[going] + 1
    closed = np.flatnonzero(last >= 0)
    after = last[closed] + 1
    inside = after < count
    closed, after = closed[inside], after[inside]
    closed = closed[_matches(_texts(buffer, starts[after], ends[after]), _NEXT_LINE)]
    if not len(closed):
        return nothing

    heads, last, keys = heads[closed], last[closed], keys.take(pa.array(closed))
    found = pc.extract_regex(keys, KEY_HEAD)  # (KEY_LINE's groups, several times faster)
    number = len(heads)
    head_start, head_end = starts[heads], ends[heads]
    raw = _Bytes(buffer)
    # the envelope: time, one blank, level, blanks (PAD), logger, ": "
    time_end = raw.next(" ", head_start + 19)
    level_end = raw.next(" ", time_end + 1)
    message = head_end - len("Task exception was never retrieved")
    message = np.where(raw.at(message) == ord("t"), message - 2, message)  # "Future"
    colon = message - 2
    logger_start = raw.last(" ", colon) + 1
    times = _strings(buffer, head_start, time_end)
    name = found.field("name")
    line_no = heads + first_line_no
    none = pa.nulls(number, pa.string())
    columns = {
        "line_start": pa.array(line_no, pa.int64()),
        "line_end": pa.array(last + first_line_no, pa.int64()),
        "kind": pa.array(["never_retrieved"] * number, pa.string()),
        "time": times,
        "time_s": time_seconds(times),
        "level": _strings(buffer, time_end + 1, level_end),
        "logger": _strings(buffer, logger_start, colon),
        "pid": pa.nulls(number, pa.int64()),
        "thread": none,
        "duration_s": pa.nulls(number, pa.float64()),
        "repr_class": found.field("cls").cast(pa.string()),
        "task_name": _after(name, r"^ name='(?P<v>.*)'$").cast(pa.string()),
        "task_state": found.field("state").cast(pa.string()),
        "coro": _after(found.field("coro"), r"^(?P<v>.+)$").cast(pa.string()),
        "callback": none,
        "location": _after(found.field("where"), r" at (?P<v>.*)$").cast(pa.string()),
        "created_at": pc.struct_field(pc.extract_regex(keys, KEY_CREATED), "created").cast(
            pa.string()
        ),
        "exc_type": pa.array([exc_types[i] for i in closed], pa.string()),
        "exc_message": pa.array([exc_messages[i] for i in closed], pa.string()),
        "uvloop": pa.array(uvloop[closed], pa.bool_(), mask=~uvloop[closed]),
    }
    spans = last - heads + 1
    covered = np.repeat(heads - np.cumsum(np.append(0, spans[:-1])), spans) + np.arange(
        int(spans.sum())
    )
    rows = BulkRows(heads, columns, (message, head_end), (head_start, ends[last]), buffer)
    return rows, covered
