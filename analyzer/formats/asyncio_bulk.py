"""The bulk path of the asyncio log parser: the commonest record read a chunk at a time.

Most lines of a debug-mode log are single-line ``Executing <Task ...> took N seconds`` records
in a ``%(asctime)s %(levelname)s %(name)s: `` envelope. `slow_records` tells the candidate
lines of a chunk that have exactly that shape with one RE2 pattern (`SLOW_LINE`, through
Arrow: no line object, no GIL) and cuts their `loop_events` columns out with numpy, so no
per-line Python runs for them. `key_lines` reads the exception handler's ``future: <...>``
lines likewise (`KEY_LINE`), into the `Line` values the assembler reads. Every other line
goes to the line parser (`asyncio_scan`) and the assembler as before.

The pattern is a *subset* of what the grammar reads, chosen so that where it matches, its
groups are the tokens Lark's lexer produces (each token is followed by a character it cannot
hold, so no other split of the line matches, and the paths, names and arguments it accepts are
the plain ones: ASCII names, one-colon paths, arguments without nested brackets or escapes);
anything else does not match and is read by the line parser. The values are those of
`asyncio_assemble._build` for a single-line ``slow_callback`` record. Tests check the two
against each other on every fixture line, on mutated lines and on generated logs.

Such a line always starts a record of one line, so it closes whatever record or aiomonitor
dump is open: the caller feeds the assembler the other lines and calls
`Assembler.boundary` where a bulk line stands between them (`asyncio.parse`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.formats.asyncio_record import Line
from analyzer.schema import LOOP_EVENTS

__all__ = [
    "KEY_CREATED",
    "KEY_HEAD",
    "KEY_LINE",
    "SLOW_LINE",
    "BulkRecords",
    "BulkRows",
    "bulk_table",
    "key_lines",
    "slow_records",
    "slow_rows",
    "time_seconds",
]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_QUALNAME = rf"(?:{_NAME}|<[A-Za-z0-9_]+>)(?:\.(?:{_NAME}|<[A-Za-z0-9_]+>))*"
_LOCATION = r"[^\s:<>]+:\d+"
"""LOCATION (``\\S+?:\\d+(?!\\d)``) where the path holds no colon and no angle bracket: the
lazy match ends at the one colon's digits, and the repr's next character (``>``, blank, ``,``,
``]``) must follow; a location ends before the next ``>``."""
_ARGS = r"""(?:\((?:[^()\[\]{}<>'"\\]|'[^'\\]*'|"[^"\\]*")*\))+"""
"""ARGS without nested brackets or escapes."""
_CALLBACK = rf"{_QUALNAME}(?:{_ARGS})?(?: at {_LOCATION})?"
_CALLBACKS = rf" cb=\[{_CALLBACK}(?:, {_CALLBACK})*\]"
_CLASS = r"(?:Task|Future|_GatheringFuture)"
"""CLASS_NAME, limited to names HANDLE_CLASS cannot start."""
_STATE = r"(?:pending|cancelling|cancelled|finished)"
_CORO_WHERE = (
    rf"(?: running, defined at {_LOCATION}| done, defined at {_LOCATION}"
    rf"| running at {_LOCATION}| running)?"
)
_INNER = (
    rf"<{_CLASS} {_STATE}(?: name='[^'\\]*')?(?: coro=<{_QUALNAME}\(\){_CORO_WHERE}>)?"
    rf"(?:{_CALLBACKS})?(?: created at {_LOCATION})?>"
)
"""A wait_for future: the outer shape without its own wait_for or outcome."""

SLOW_LINE = (
    r"^(?P<time>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,6})?) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) +(?P<logger>[A-Za-z0-9_.\-]+): "
    r"(?P<message>Executing <(?P<cls>" + _CLASS + r") (?P<state>" + _STATE + r")"
    r"(?P<name> name='[^'\\]*')?"
    r"(?: coro=<(?P<coro>" + _QUALNAME + r")\(\)"
    r"(?P<where> running, defined at "
    + _LOCATION
    + r"| done, defined at "
    + _LOCATION
    + r"| running at "
    + _LOCATION
    + r"| running)?>)?"
    r"(?: wait_for=" + _INNER + r")?"
    r"(?:" + _CALLBACKS + r")?"
    r"(?P<created> created at " + _LOCATION + r")?"
    r"> took (?P<took>\d{1,10}(?:\.\d+)?) seconds)$"
)
"""One enveloped ``Executing <future> took N seconds`` line of the plain shapes (see the
module docstring); a line holding ``Warning: `` is left out separately (WARNING_HEAD is tried
first at the start of such a line)."""


_STRING = r"'[^'\\]*'|" + r'"[^"\\]*"'
_VALUE = (
    r"""(?:[^\s()\[\]{}<>'"\\]|""" + _STRING + r"""|\((?:[^()\[\]{}<>'"\\]|""" + _STRING + r")*\))+"
)
"""VALUE without escapes and with parentheses one deep (``ConnectionResetError(104, 'x')``)."""

KEY_HEAD = (
    r"^(?:future|task): <(?P<cls>" + _CLASS + r") (?P<state>" + _STATE + r")"
    r"(?P<name> name='[^'\\]*')?"
    r"(?: coro=<(?P<coro>" + _QUALNAME + r")\(\)"
    r"(?P<where> running, defined at "
    + _LOCATION
    + r"| done, defined at "
    + _LOCATION
    + r"| running at "
    + _LOCATION
    + r"| running)?>)?"
)
"""`KEY_LINE` up to the coroutine: on a line `KEY_LINE` reads, its groups are KEY_LINE's
(each optional part starts with its own literal, so no choice in it depends on the rest)."""
KEY_CREATED = r" created at (?P<created>" + _LOCATION + r")>$"
"""The ``created`` group of `KEY_LINE` without its `` created at ``: on a line KEY_LINE reads,
this matches where that group does (a blank before the last ``>`` outside the created part
stands in quotes or parentheses, which do not end in a location's digits)."""
KEY_LINE = (
    KEY_HEAD + r"(?: wait_for=" + _INNER + r")?"
    r"(?P<outcome> result=" + _VALUE + r"| exception=" + _VALUE + r")?"
    r"(?:" + _CALLBACKS + r")?"
    r"(?P<created> created at " + _LOCATION + r")?>$"
)
"""The exception handler's ``future: <...>`` / ``task: <...>`` line of the plain shapes (a
line holding ``Warning: `` is left out separately)."""


def key_lines(
    block: bytes | bytearray, newlines: np.ndarray | None = None, skip: np.ndarray | None = None
) -> dict[str, Line]:
    """The ``future:`` and ``task:`` lines of a block that `KEY_LINE` reads, each with its
    `Line` (as `asyncio_lark.ToLine.key_future` makes it). The block must be valid UTF-8;
    `newlines`: where its newlines are, if known; `skip`: 0-based indexes of lines not to
    read (lines read elsewhere)."""
    if b"future: <" not in block and b"task: <" not in block:
        return {}
    raw = _Bytes(block)
    newlines = raw.positions("\n") if newlines is None else newlines
    starts = np.append(0, newlines + 1)
    if skip is not None and len(skip):
        keep = np.ones(len(starts), dtype=bool)
        keep[skip] = False
        starts = starts[keep]
    first = raw.at(starts)
    starts = starts[(first == ord("f")) | (first == ord("t"))]
    keyed = starts[raw.equals(starts, "future: <") | raw.equals(starts, "task: <")]
    if not len(keyed):
        return {}
    ends = np.append(newlines, len(block))[np.searchsorted(newlines, keyed)]
    lines = _slices(raw.buffer, keyed, ends).cast(pa.large_string())
    found = pc.extract_regex(lines, KEY_LINE)
    mask = pc.and_(found.is_valid(), pc.invert(pc.match_substring(lines, "Warning: ")))
    found = found.filter(mask)
    texts = lines.filter(mask).to_pylist()
    columns = {name: found.field(name).to_pylist() for name in _KEY_FIELDS}
    read: dict[str, Line] = {}
    for index, text in enumerate(texts):
        name, where, outcome = (
            columns["name"][index],
            columns["where"][index],
            columns["outcome"][index],
        )
        created, coro = columns["created"][index], columns["coro"][index]
        subject = {
            "class": columns["cls"][index],
            "state": columns["state"][index],
            "name": name[7:-1] if name else None,
            "coro": coro or None,
            "location": where.rsplit(" at ", 1)[1] if " at " in where else None,
            "exception": outcome[len(" exception=") :]
            if outcome.startswith(" exception=")
            else None,
            "created_at": created[len(" created at ") :] if created else None,
            "uvloop": None,
        }
        read[text] = Line("cont", {"type": "key", "subject": subject}, None, None)
    return read


FEW_LINES = 2000
"""Below this many lines, their ends are found one by one rather than from all newlines."""


def _line_end(block: bytes | bytearray, start: int) -> int:
    end = block.find(b"\n", start)
    return len(block) if end < 0 else end


_KEY_FIELDS = ("cls", "state", "name", "coro", "where", "outcome", "created")


@dataclass(frozen=True)
class BulkRecords:
    """The bulk lines of a chunk: their 0-based indexes in the chunk (ascending) and their
    `loop_events` rows (`LOOP_EVENTS` schema, same order)."""

    indexes: np.ndarray
    table: pa.Table


EMPTY = BulkRecords(np.zeros(0, dtype=np.int64), LOOP_EVENTS.schema.empty_table())

_IN_BLOCK = ("message", "text")
"""The `loop_events` columns `BulkRows` give as ranges of the block: most of a record's
bytes, copied once, straight into the table in line order (`bulk_table`)."""


@dataclass(frozen=True)
class BulkRows:
    """Records read from a block, before they are a table: the 0-based indexes of their
    first lines (ascending), their `loop_events` columns but ``input`` and `_IN_BLOCK`, and
    where ``message`` and ``text`` stand in the block (start and end offsets)."""

    indexes: np.ndarray
    columns: dict[str, pa.Array]
    message: tuple[np.ndarray, np.ndarray]
    text: tuple[np.ndarray, np.ndarray]
    buffer: pa.Buffer

    @staticmethod
    def empty(block: bytes | bytearray) -> BulkRows:
        none = np.zeros(0, dtype=np.int64)
        return BulkRows(none, {}, (none, none), (none, none), pa.py_buffer(block))


def bulk_table(parts: list[BulkRows], input_name: str) -> pa.Table:
    """The rows of the parts (all read from one block) as one `loop_events` table in line
    order. The ranges of the records of the parts must not overlap."""
    parts = [part for part in parts if len(part.indexes)]
    if not parts:
        return LOOP_EVENTS.schema.empty_table()
    count = sum(len(part.indexes) for part in parts)
    order = None
    if len(parts) > 1:
        order = np.argsort(np.concatenate([part.indexes for part in parts]), kind="stable")
    columns: dict[str, pa.Array] = {}
    for name in LOOP_EVENTS.schema.names:
        if name == "input":
            columns[name] = pa.array([input_name] * count, pa.string())
        elif name in _IN_BLOCK:
            bounds = [getattr(part, name) for part in parts]
            starts = np.concatenate([start for start, _ in bounds])
            ends = np.concatenate([end for _, end in bounds])
            if order is not None:
                starts, ends = starts[order], ends[order]
            columns[name] = _strings(parts[0].buffer, starts, ends)
        elif order is None:
            columns[name] = parts[0].columns[name]
        else:
            both = pa.concat_arrays([part.columns[name] for part in parts])
            columns[name] = both.take(pa.array(order))
    return pa.table(columns, schema=LOOP_EVENTS.schema)


def _slices(buffer: pa.Buffer, starts: np.ndarray, ends: np.ndarray) -> pa.LargeBinaryArray:
    """The byte ranges [start, end) of the buffer (ascending, not overlapping) as one binary
    array: the ranges alternate with null gaps, which `take` leaves out (one copy)."""
    count = len(starts)
    offsets = np.empty(2 * count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1::2] = starts
    offsets[2::2] = ends
    valid = np.zeros(2 * count, dtype=bool)
    valid[1::2] = True
    array = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        2 * count,
        [pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(offsets), buffer],
        null_count=count,
    )
    return array.take(pa.array(np.arange(1, 2 * count, 2, dtype=np.int64)))


def _strings(
    buffer: pa.Buffer, starts: np.ndarray, ends: np.ndarray, present: np.ndarray | None = None
) -> pa.Array:
    """`_slices` as UTF-8 strings; null where not `present`."""
    array = _slices(buffer, starts, np.maximum(ends, starts)).cast(pa.string())
    if present is None:
        return array
    return pc.if_else(pa.array(present), array, pa.scalar(None, pa.string()))


FEW_STEPS = 12
"""Steps `_Bytes.scan` takes one byte at a time before it searches as `next`/`last`."""
NEAR = 64
"""Bytes after (or before) a position in which `_Bytes.next` (`last`) looks first: most
fields of a line are shorter, so the block's positions of a byte are rarely needed."""


class _Bytes:
    """The block's bytes, and where given bytes stand in it (for "the next X after p")."""

    def __init__(self, block: bytes | bytearray | pa.Buffer) -> None:
        self.data = np.frombuffer(block, dtype=np.uint8)
        self.buffer = block if isinstance(block, pa.Buffer) else pa.py_buffer(block)
        self._positions: dict[int, np.ndarray] = {}
        self._windows: np.ndarray | None = None

    def positions(self, byte: str) -> np.ndarray:
        code = ord(byte)
        if code not in self._positions:
            self._positions[code] = np.flatnonzero(self.data == code)
        return self._positions[code]

    def _near(self, byte: str, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each start: the offset of the first `byte` in the `NEAR` bytes from it, and
        whether there is one (False also where the window would leave the block)."""
        code = ord(byte)
        inside = (starts >= 0) & (starts <= len(self.data) - NEAR)
        offset = np.zeros(len(starts), dtype=np.int64)
        found = np.zeros(len(starts), dtype=bool)
        if inside.any():
            if self._windows is None:
                self._windows = np.lib.stride_tricks.sliding_window_view(self.data, NEAR)
            rows = np.flatnonzero(inside)
            hits = self._windows[starts[rows]] == code
            first = hits.argmax(axis=1)
            offset[rows] = first
            found[rows] = hits[np.arange(len(rows)), first]
        return offset, found

    def next(self, byte: str, at: np.ndarray) -> np.ndarray:
        """Where `byte` first stands at or after each position (it must, in the line): in
        the `NEAR` bytes from it when there, else from all the block's positions of it."""
        offset, found = self._near(byte, at)
        result = at + offset
        if not found.all():
            where = self.positions(byte)
            far = ~found
            result[far] = where[np.minimum(np.searchsorted(where, at[far]), len(where) - 1)]
        return result

    def last(self, byte: str, before: np.ndarray) -> np.ndarray:
        """Where `byte` last stands before each position (it must, in the line): in the
        `NEAR` bytes before it when there, else from all the block's positions of it."""
        code = ord(byte)
        starts = before - NEAR
        inside = (starts >= 0) & (starts <= len(self.data) - NEAR)
        result = np.zeros(len(before), dtype=np.int64)
        found = np.zeros(len(before), dtype=bool)
        if inside.any():
            if self._windows is None:
                self._windows = np.lib.stride_tricks.sliding_window_view(self.data, NEAR)
            rows = np.flatnonzero(inside)
            hits = self._windows[starts[rows]][:, ::-1] == code
            back = hits.argmax(axis=1)
            result[rows] = before[rows] - 1 - back
            found[rows] = hits[np.arange(len(rows)), back]
        if not found.all():
            where = self.positions(byte)
            far = ~found
            result[far] = where[np.maximum(np.searchsorted(where, before[far]) - 1, 0)]
        return result

    def scan(self, byte: str, at: np.ndarray, step: int) -> np.ndarray:
        """Where `byte` first stands from each position going by `step` (1: as `next`,
        -1: at or before it); it must, in the line. Cheaper than `next` and `last` where
        it stands a few bytes away; beyond `FEW_STEPS` it is searched as they do."""
        code = ord(byte)
        at = at.copy()
        moving = np.flatnonzero(self.at(at) != code)
        for _ in range(FEW_STEPS):
            if not len(moving):
                return at
            at[moving] += step
            moving = moving[self.at(at[moving]) != code]
        if len(moving):
            far = at[moving]
            at[moving] = self.next(byte, far) if step > 0 else self.last(byte, far + 1)
        return at

    def skip(self, byte: str, at: np.ndarray) -> np.ndarray:
        """The first position from each one that does not hold `byte` (a few of them
        stand there at most)."""
        at = at.copy()
        moving = np.flatnonzero(self.at(at) == ord(byte))
        while len(moving):
            at[moving] += 1
            moving = moving[self.at(at[moving]) == ord(byte)]
        return at

    def at(self, positions: np.ndarray) -> np.ndarray:
        return self.data[np.minimum(positions, len(self.data) - 1)]

    def equals(self, positions: np.ndarray, text: str) -> np.ndarray:
        """Whether `text` stands at each position."""
        wanted = np.frombuffer(text.encode(), dtype=np.uint8)
        window = positions[:, None] + np.arange(len(wanted))
        return (self.data[np.minimum(window, len(self.data) - 1)] == wanted).all(axis=1)


def slow_records(
    block: bytes | bytearray,
    hits: tuple[list[int], list[int]],
    input_name: str,
    first_line_no: int,
    newlines: np.ndarray | None = None,
) -> BulkRecords:
    """The candidate lines of a block (`asyncio_scan.candidate_lines`: start offsets and
    indexes) that `SLOW_LINE` reads, as records (`slow_rows` as a table)."""
    rows = slow_rows(block, hits, first_line_no, newlines)
    return BulkRecords(rows.indexes, bulk_table([rows], input_name))


def slow_rows(
    block: bytes | bytearray,
    hits: tuple[list[int], list[int]],
    first_line_no: int,
    newlines: np.ndarray | None = None,
) -> BulkRows:
    """The candidate lines of a block (`asyncio_scan.candidate_lines`: start offsets and
    indexes) that `SLOW_LINE` reads, as rows. The block must be valid UTF-8; `newlines`:
    where its newlines are, if known.

    `SLOW_LINE` tells which lines are read; the fields are then cut out at the places that
    shape puts them (the envelope ends at the line's first ``": "``, the repr closes at its
    last ``">"``, ...), from the positions of a few bytes in those lines, with numpy."""
    offsets, indexes = hits
    if not offsets:
        return BulkRows.empty(block)
    starts = np.asarray(offsets, dtype=np.int64)
    if newlines is None and len(offsets) < FEW_LINES:
        ends = np.array([_line_end(block, start) for start in offsets], dtype=np.int64)
    else:
        if newlines is None:
            newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        ends = np.append(newlines, len(block))[np.searchsorted(newlines, starts)]
    buffer = pa.py_buffer(block)
    lines = _slices(buffer, starts, ends).cast(pa.large_string())
    mask = np.asarray(
        pc.match_substring_regex(lines, SLOW_LINE).to_numpy(zero_copy_only=False), dtype=bool
    )
    # Where the candidate lines are most of the block, a search of the whole block is
    # cheaper than one per line (and the matched lines are read in the block, not copied).
    dense = 2 * int((ends - starts).sum()) > len(block)
    # WARNING_HEAD may read a line that holds "Warning: ": such lines are the parser's
    if not dense or b"Warning: " in block:
        mask &= ~np.asarray(
            pc.match_substring(lines, "Warning: ").to_numpy(zero_copy_only=False), dtype=bool
        )
    if not mask.any():
        return BulkRows.empty(block)
    # From here on the matched lines only: read in the block itself when they are most of
    # it, else one after another in a copy of them. Each position searched for below is in
    # its line (the pattern puts the byte there), so both read the same.
    start, end = starts[mask], ends[mask]
    line_start, line_end = start, end  # (in the block)
    count = len(start)
    if not dense:
        matched = lines.filter(pa.array(mask))
        bounds = np.frombuffer(matched.buffers()[1], dtype=np.int64)[: count + 1]
        buffer = matched.buffers()[2]
        start, end = bounds[:-1], bounds[1:]
    raw = _Bytes(buffer)
    line_index = np.asarray(indexes, dtype=np.int64)[mask]

    # Where SLOW_LINE matched, each alternative below starts with its own byte at the
    # position tested, so one or two bytes tell which one stands there.
    time_end = raw.scan(" ", start + 19, 1)
    level_end = raw.scan(" ", time_end + 1, 1)
    logger_start = raw.skip(" ", level_end + 1)  # (PAD: one blank or more)
    colon = raw.scan(":", logger_start, 1)  # the logger's ": "
    message = colon + 2
    class_start = message + len("Executing <")
    class_end = raw.scan(" ", class_start, 1)
    state_start = class_end + 1
    first = raw.at(state_start)
    state_length = np.where(
        first == ord("p"),
        7,
        np.where(first == ord("f"), 8, np.where(raw.at(state_start + 7) == ord("i"), 10, 9)),
    )
    after = state_start + state_length
    has_name = raw.at(after + 1) == ord("n")  # " name='", not " coro=<", " cb=[", ...
    name_start = after + len(" name='")
    name_end = np.where(has_name, raw.next("'", after + 7), after)
    after = np.where(has_name, name_end + 1, after)
    has_coro = (raw.at(after + 1) == ord("c")) & (raw.at(after + 2) == ord("o"))
    coro_start = after + 7
    coro_end = np.where(has_coro, raw.next("(", coro_start), coro_start)
    where = coro_end + 2
    running = raw.at(where + 1) == ord("r")  # " running...", not " done, ..." or ">"
    location_start = np.where(
        running & (raw.at(where + 8) == ord(" ")),
        where + len(" running at "),
        np.where(
            running & (raw.at(where + 8) == ord(",")),
            where + len(" running, defined at "),
            where + len(" done, defined at "),
        ),
    )
    has_location = has_coro & (
        (running & np.isin(raw.at(where + 8), [ord(" "), ord(",")]))
        | (raw.at(where + 1) == ord("d"))
    )
    location_end = np.where(has_location, raw.next(">", location_start), location_start)
    close = raw.scan(" ", end - len("1 seconds") - 1, -1) - len("> took")  # (took: no blank)
    created_space = raw.last(" ", close)
    # the outer repr's own " created at f:l" ends in a digit; a wait_for's ends in ">"
    last = raw.at(close - 1)
    has_created = (
        (last >= ord("0")) & (last <= ord("9")) & raw.equals(created_space - 11, " created at ")
    )

    line_no = line_index + first_line_no
    times = _strings(buffer, start, time_end)
    none = pa.nulls(count, pa.string())
    columns = {
        "line_start": pa.array(line_no, pa.int64()),
        "line_end": pa.array(line_no, pa.int64()),
        "kind": pa.array(["slow_callback"] * count, pa.string()),
        "time": times,
        "time_s": time_seconds(times),
        "level": _strings(buffer, time_end + 1, level_end),
        "logger": _strings(buffer, logger_start, colon),
        "pid": pa.nulls(count, pa.int64()),
        "thread": none,
        "duration_s": _strings(buffer, close + len("> took "), end - len(" seconds")).cast(
            pa.float64()
        ),
        "repr_class": _strings(buffer, class_start, class_end),
        "task_name": _strings(buffer, name_start, name_end, has_name),
        "task_state": _strings(buffer, state_start, state_start + state_length),
        "coro": _strings(buffer, coro_start, coro_end, has_coro),
        "callback": none,
        "location": _strings(buffer, location_start, location_end, has_location),
        "created_at": _strings(buffer, created_space + 1, close, has_created),
        "exc_type": none,
        "exc_message": none,
        "uvloop": pa.nulls(count, pa.bool_()),
    }
    message_start = line_start + (message - start)  # (in the block)
    return BulkRows(
        line_index,
        columns,
        (message_start, line_end),
        (line_start, line_end),
        pa.py_buffer(block),
    )


_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def time_seconds(times: pa.Array) -> pa.Array:
    """``YYYY-MM-DD[ T]HH:MM:SS[.,]F{0,6}`` texts -> Unix seconds read as UTC, as
    `asyncio_assemble._time_seconds` gives them (``datetime(..., tzinfo=utc).timestamp()``:
    the exact microseconds over 10**6, correctly rounded); null where datetime refuses the
    date or time (month 13, February 30, second 60, year 0)."""
    count = len(times)
    if count == 0:
        return pa.array([], pa.float64())
    heads = pc.utf8_slice_codeunits(times, 0, 19)  # 19 ASCII characters each
    text = np.frombuffer(heads.buffers()[2], dtype=np.uint8)[: 19 * count]
    digits = text.reshape(count, 19).astype(np.int64) - 48

    def number(start: int, width: int) -> np.ndarray:
        value = np.zeros(count, dtype=np.int64)
        for position in range(start, start + width):
            value = value * 10 + digits[:, position]
        return value

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(times, 20), 6, "0")  # after [.,]
    micro = np.asarray(fraction.cast(pa.int64()).to_numpy(zero_copy_only=False))
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    safe_month = np.where(month_ok, month, 1)
    last_day = _MONTH_DAYS[safe_month] + ((safe_month == 2) & leap)
    valid = (
        month_ok
        & (year >= 1)
        & (day >= 1)
        & (day <= last_day)
        & (hour < 24)
        & (minute < 60)
        & (second < 60)
    )
    before = year - 1
    days = (
        before * 365
        + before // 4
        - before // 100
        + before // 400
        + _DAYS_BEFORE_MONTH[safe_month]
        + ((safe_month > 2) & leap)
        + day
        - 1
        - 719162  # days from 0001-01-01 to 1970-01-01
    )
    total = ((days * 24 + hour) * 60 + minute) * 60 + second
    seconds = (total * 1_000_000 + micro) / 1e6
    return pa.array(seconds, pa.float64(), mask=~valid)
