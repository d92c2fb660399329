"""The fastest strace tier: byte arithmetic on the common line shapes, no regex captures.

Extracting regex groups costs about a microsecond per line and group; a trace of millions
of lines cannot afford it. Nearly every line of a real `strace -f -tt -T -o` trace has one of a
few simple shapes, though, and one capture-free regex (`SIMPLE_LINE`, a DFA match) can say
which lines do. For those, every field sits at a position that a few substring searches and
numpy operations on the raw bytes find:

    [PID +][TS ](name(|<... name resumed>)ARGS(<unfinished ...>| += RET[ ERRNO (MSG)][ <DUR>])

ARGS of a complete or resumed line contain no `` = `` (checked by the same regex), so the first
`` = `` of the line is the one before the return value. Everything else -- ``[pid N]``
prefixes, `-Y` comms, `-r`, `-n`/`-i`, fd decorations on the return value, aux text -- is left
to the regex tier (`strace_scan`). Both tiers produce the grammar's records; tests compare them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.schema import STRACE_LINES

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TIMESTAMP = r"(?:\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6}|\.\d{9})? |\d{7,11}\.(?:\d{6}|\d{9}) )"
# Any text without the substring " = " (a DFA over: after a space, after " =").
_ARGS_WITHOUT_EQUALS = r"(?:[^ ]| +(?:[^ =]|=[^ ]))*(?: +=?)?"
_RETURN = r"(?:-?\d{1,18}|0x[0-9a-f]{1,16}|\?)"

SIMPLE_LINE = (
    rf"^(?:\d{{1,9}} {{1,8}})?{_TIMESTAMP}?"
    rf"(?:{_NAME}\(.* <unfinished \.\.\.>"
    rf"|(?:<\.\.\. {_NAME} resumed>|{_NAME}\(){_ARGS_WITHOUT_EQUALS}"
    rf"\) += {_RETURN}(?: E[A-Z0-9_]+ \([^()]*\))?(?: <\d{{1,9}}\.\d{{1,9}}>)?)$"
)

_UNFINISHED = " <unfinished ...>"
_KINDS = pa.array(["syscall", "unfinished", "resumed"], pa.string())
_TS_KINDS = pa.array(["clock", "epoch"], pa.string())


def int64_array(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """An int64 Arrow array from numpy values and a validity mask, without copying values.

    (``pa.array(values, mask=...)`` takes a slow per-element path: ~0.5 µs a value.)
    """
    values = np.ascontiguousarray(values, dtype=np.int64)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.int64(), len(values), [validity, pa.py_buffer(values)])


def _pick(choices: pa.Array, codes: np.ndarray, valid: np.ndarray) -> pa.Array:
    """choices[codes] per row (null where not valid), as a plain string array."""
    return pc.take(choices, int64_array(codes, valid))


_ZERO, _NINE = ord("0"), ord("9")


class _Bytes:
    """The raw bytes of a string array, with bounds-safe probes at arbitrary positions."""

    def __init__(self, lines: pa.StringArray) -> None:
        count = len(lines)
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        self.offsets = offsets[lines.offset : lines.offset + count + 1]
        buffer = lines.buffers()[2]
        self.buffer = buffer if buffer is not None else pa.py_buffer(b"")
        self.data = np.frombuffer(self.buffer, dtype=np.uint8)
        self.start = self.offsets[:-1].astype(np.int64)
        self.end = self.offsets[1:].astype(np.int64)

    def at(self, position: np.ndarray) -> np.ndarray:
        """The byte at each position (positions outside the data are clipped to it)."""
        if len(self.data) == 0:
            return np.zeros(len(position), np.uint8)
        return self.data.take(position, mode="clip")

    def is_digit(self, position: np.ndarray) -> np.ndarray:
        byte = self.at(position)
        return (byte >= _ZERO) & (byte <= _NINE)

    def number(self, start: np.ndarray, end: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The decimal number in bytes [start, end) of each valid row (0 when empty)."""
        width = np.where(valid, np.clip(end - start, 0, 18), 0)
        most = int(width.max(initial=0))
        if most == 0:
            return np.zeros(len(start), dtype=np.int64)
        # All digits in one gather, right-aligned so that column k has weight 10**(most-1-k).
        columns = np.arange(most, dtype=np.int64)
        positions = (start + width - most)[:, None] + columns
        digits = self.at(positions).astype(np.int64) - _ZERO
        digits[columns < (most - width)[:, None]] = 0
        return digits @ (10 ** columns[::-1])

    def fraction_ns(self, start: np.ndarray, end: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Digits after a decimal point, as nanoseconds (``"5"`` is 500000000)."""
        width = np.maximum(end - start, 0)
        scale = np.power(10, np.clip(9 - width, 0, 9)).astype(np.int64)
        return self.number(start, np.minimum(end, start + 9), valid) * scale

    def seek(
        self, start: np.ndarray, step: int, stop_at: bytes, limit: int, active: np.ndarray
    ) -> np.ndarray:
        """From `start`, walk `step` (+1 or -1) bytes at a time until the byte `stop_at`,
        staying inside the row and within `limit` steps; the position found, or -1.

        Only rows still walking are touched at each step, so the cost follows the distance
        actually walked, not the limit.
        """
        found = np.full(len(start), -1, dtype=np.int64)
        rows = np.flatnonzero(active)
        position = start[rows]
        low, high = self.start[rows], self.end[rows]
        (stop,) = stop_at
        for _ in range(limit):
            inside = (position >= low) & (position < high)
            hit = inside & (self.at(position) == stop)
            found[rows[hit]] = position[hit]
            walking = np.flatnonzero(inside & ~hit)
            if len(walking) == 0:
                break
            rows, position = rows[walking], position[walking] + step
            low, high = low[walking], high[walking]
        return found

    def spans(self, start: np.ndarray, end: np.ndarray, valid: np.ndarray) -> pa.Array:
        """Bytes [start, end) of each valid row as a string array (null elsewhere).

        The spans lie in row order inside their rows, so they and the gaps between them tile
        the data: view that tiling as one string array without copying, then `take` every
        other element (one memcpy per span, in C).
        """
        count = len(start)
        first = self.start[0] if count else 0
        span_start = np.where(valid, start, self.start)
        span_end = np.where(valid, np.maximum(end, start), self.start)
        bounds = np.empty(2 * count + 1, dtype=np.int32)
        bounds[0:-1:2] = span_start
        bounds[1:-1:2] = span_end
        bounds[-1] = self.end[-1] if count else first
        tiling = pa.Array.from_buffers(
            pa.string(), 2 * count, [None, pa.py_buffer(bounds), self.buffer]
        )
        return pc.take(tiling, int64_array(np.arange(0, 2 * count, 2), valid))


def simple_mask(lines: pa.StringArray) -> np.ndarray:
    """Which lines have one of the shapes this tier reads."""
    return pc.fill_null(pc.match_substring_regex(lines, SIMPLE_LINE), False).to_numpy(
        zero_copy_only=False
    )


def _first(lines: pa.StringArray, pattern: str) -> np.ndarray:
    """Offset of the first occurrence of `pattern` in each line (-1 when absent)."""
    return pc.fill_null(pc.find_substring(lines, pattern), -1).to_numpy().astype(np.int64)


def scan_simple(lines: pa.StringArray, line_numbers: pa.Int64Array, simple: np.ndarray) -> pa.Table:
    """Records (schema `strace_lines`) for the rows where `simple` is true."""
    raw = _Bytes(lines)
    line_start, line_end = raw.start, raw.end
    count = len(lines)
    space, dot_byte = b" ", b"."

    # PID: the digits before the first space. SIMPLE_LINE lets a line start with digits only
    # as a pid (at most 9 digits), a clock (':' third) or an epoch time (a '.' after 7+ digits).
    first_space = line_start + _first(lines, " ")
    has_pid = (
        simple
        & raw.is_digit(line_start)
        & (first_space - line_start <= 9)
        & (raw.at(line_start + 2) != ord(":"))
    )
    pid = raw.number(line_start, first_space, has_pid)
    cursor = np.where(has_pid, first_space, line_start)
    for _ in range(8):  # "%-5u " pads short pids; SIMPLE_LINE allows at most 8 spaces
        cursor = np.where(has_pid & (raw.at(cursor) == ord(" ")), cursor + 1, cursor)

    # Timestamp: HH:MM:SS[.frac] (clock) or seconds.frac (epoch).
    has_ts = simple & raw.is_digit(cursor)
    clock = has_ts & (raw.at(cursor + 2) == ord(":"))
    epoch = has_ts & ~clock
    ts_space = raw.seek(cursor, 1, space, 22, has_ts)
    dot = np.where(clock, cursor + 8, raw.seek(cursor, 1, dot_byte, 12, epoch))
    has_fraction = has_ts & (raw.at(dot) == ord("."))
    fraction = np.where(has_fraction, raw.fraction_ns(dot + 1, ts_space, has_fraction), 0)
    seconds = np.where(
        clock,
        raw.number(cursor, cursor + 2, clock) * 3600
        + raw.number(cursor + 3, cursor + 5, clock) * 60
        + raw.number(cursor + 6, cursor + 8, clock),
        raw.number(cursor, dot, epoch),
    )
    ts_ns = seconds * 1_000_000_000 + fraction
    body = np.where(has_ts, ts_space + 1, cursor)

    # Call head: "name(" or "<... name resumed>".
    resumed = simple & (raw.at(body) == ord("<"))
    name_start = np.where(resumed, body + len("<... "), body)
    resumed_space = raw.seek(name_start, 1, space, 64, resumed)
    paren = line_start + _first(lines, "(")
    name_end = np.where(resumed, resumed_space, paren)
    args_start = np.where(resumed, resumed_space + len(" resumed>"), paren + 1)

    unfinished = (
        simple
        & ~resumed
        & pc.fill_null(pc.ends_with(lines, _UNFINISHED), False).to_numpy(zero_copy_only=False)
    )
    returned = simple & ~unfinished

    # Tail, read from the right: [ <DUR>], then [ ERRNO (MSG)], then RET, " = ", padding, ")".
    has_duration = returned & (raw.at(line_end - 1) == ord(">"))
    duration_open = raw.seek(line_end - 1, -1, b"<", 24, has_duration)
    duration_dot = raw.seek(duration_open, 1, dot_byte, 12, has_duration)
    duration_ns = raw.number(
        duration_open + 1, duration_dot, has_duration
    ) * 1_000_000_000 + raw.fraction_ns(duration_dot + 1, line_end - 1, has_duration)
    before_duration = np.where(has_duration, duration_open - 1, line_end)  # exclusive

    has_errno = returned & (raw.at(before_duration - 1) == ord(")"))
    message_open = raw.seek(before_duration - 1, -1, b"(", 256, has_errno)
    errno_start = raw.seek(message_open - 2, -1, space, 40, has_errno) + 1
    ret_end = np.where(has_errno, errno_start - 1, before_duration)
    ret_start = raw.seek(ret_end - 1, -1, space, 24, returned) + 1
    close = raw.seek(ret_start - 3, -1, b")", 64, returned)
    args_end = np.where(unfinished, line_end - len(_UNFINISHED), close)

    ret = raw.spans(ret_start, ret_end, returned)
    columns = {
        "line_no": line_numbers,
        "kind": _pick(_KINDS, np.where(unfinished, 1, np.where(resumed, 2, 0)), simple),
        "pid": int64_array(pid, has_pid),
        "ts_ns": int64_array(ts_ns, has_ts),
        "ts_kind": _pick(_TS_KINDS, np.where(clock, 0, 1), has_ts),
        "syscall": raw.spans(name_start, name_end, simple),
        "args": raw.spans(args_start, args_end, simple),
        "ret": ret,
        "retval": parse_retval(ret),
        "errno": raw.spans(errno_start, message_open - 1, has_errno),
        "errmsg": raw.spans(message_open + 1, before_duration - 1, has_errno),
        "duration_ns": int64_array(duration_ns, has_duration),
    }
    arrays = [
        columns[column.name] if column.name in columns else pa.nulls(count, column.type)
        for column in STRACE_LINES.columns
    ]
    table = pa.Table.from_arrays(arrays, schema=STRACE_LINES.schema)
    return table.filter(pa.array(simple, pa.bool_()))


def parse_retval(retnum: pa.Array) -> pa.Array:
    """Return values as int64, read as the grammar reads them: ``0x`` hex, a leading ``0``
    octal (``umask`` prints ``022``), otherwise decimal; ``?`` is null. pyarrow casts only
    decimal, so the rare hex and octal values are converted in Python."""
    special = pc.fill_null(pc.match_substring_regex(retnum, r"^0(?:x[0-9a-f]+|[0-7]+)$"), False)
    decimal_text = pc.if_else(
        pc.or_(special, pc.fill_null(pc.equal(retnum, "?"), False)),
        pa.scalar(None, pa.string()),
        retnum,
    )
    decimal = pc.cast(decimal_text, pa.int64())
    if not pc.any(special).as_py():
        return decimal
    texts = pc.filter(retnum, special).to_pylist()
    values = pa.array([_wrap_int64(int(text, 0 if text[1] == "x" else 8)) for text in texts])
    return pc.replace_with_mask(decimal, special, pc.cast(values, pa.int64()))


def _wrap_int64(value: int) -> int:
    """Two's complement view of an unsigned 64-bit value (addresses above 2**63)."""
    return value - (1 << 64) if value >= 1 << 63 else value
