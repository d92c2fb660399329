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

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.schema import STRACE_LINES

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# An epoch time is at most 10 digits, 9e9 s excluded: 9e9 s and up may be 2^63 ns or more (as
# in `wide_numbers.SUSPECT`), the only field of this tier that can overflow its int64 column (a
# pid has 9 digits at most, a return value 18 or 16 hex digits, a duration 9). Such a line is
# left to the other tiers, which check it (`wide_numbers`).
_TIMESTAMP = (
    r"(?:\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6}|\.\d{9})? |(?:\d{7,9}|[0-8]\d{9})\.(?:\d{6}|\d{9}) )"
)
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
_INTERRUPTED = "^C" + _UNFINISHED
_MESSAGE_LOOKBACK = 256
_LONG_MESSAGE = rf"\([^()]{{{_MESSAGE_LOOKBACK - 2},}}\)(?: <[0-9.]+>)?$"
_KINDS = pa.array(["syscall", "unfinished", "resumed"], pa.string())
_TS_KINDS = pa.array(["clock", "epoch"], pa.string())


def int64_array(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """An int64 Arrow array from numpy values and a validity mask, without copying values.

    (``pa.array(values, mask=...)`` takes a slow per-element path: ~0.5 µs a value.)
    """
    values = np.ascontiguousarray(values, dtype=np.int64)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.int64(), len(values), [validity, pa.py_buffer(values)])


def null_arrays(count: int) -> Callable[[pa.DataType], pa.Array]:
    """All-null arrays of `count` rows (int64, bool or string) that share one zeroed buffer.

    A chunk of lines fills only a few of the `strace_lines` columns; `pa.nulls` would
    allocate and zero a buffer for each of the others (55 MB per million lines). The shared
    buffer is calloc'ed by numpy, so its pages cost nothing until something reads them.
    """
    zeros = pa.py_buffer(np.zeros(8 * count + 8, dtype=np.uint8))

    def null(kind: pa.DataType) -> pa.Array:
        buffers = [zeros, zeros, zeros] if pa.types.is_string(kind) else [zeros, zeros]
        return pa.Array.from_buffers(kind, count, buffers, null_count=count)

    return null


def _pick(choices: pa.Array, codes: np.ndarray, valid: np.ndarray) -> pa.Array:
    """choices[codes] per row (null where not valid), as a plain string array."""
    if len(codes) and valid.all() and (codes == codes[0]).all():
        # One text on every row (the timestamps' kind, usually): its bytes repeated.
        text = choices[int(codes[0])].as_py().encode()
        offsets = np.arange(len(codes) + 1, dtype=np.int32) * np.int32(len(text))
        data = pa.py_buffer(text * len(codes))
        return pa.Array.from_buffers(pa.string(), len(codes), [None, pa.py_buffer(offsets), data])
    return pc.take(choices, int64_array(codes, valid))


_ZERO, _NINE = ord("0"), ord("9")


class LineBytes:
    """The raw bytes of a string array, with bounds-safe probes at arbitrary positions."""

    def __init__(self, lines: pa.StringArray) -> None:
        count = len(lines)
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        self.offsets = offsets[lines.offset : lines.offset + count + 1]
        buffer = lines.buffers()[2]
        self.buffer = buffer if buffer is not None else pa.py_buffer(b"")
        self.data = np.frombuffer(self.buffer, dtype=np.uint8)
        # The 8 bytes from each position as one little-endian integer (an unaligned view).
        self.words = (
            np.ndarray((len(self.data) - 7,), "<u8", self.buffer, strides=(1,))
            if len(self.data) >= 8
            else None
        )
        self.start = self.offsets[:-1].astype(np.int64)
        self.end = self.offsets[1:].astype(np.int64)
        # The bounds of the rows that `seek` walks in (see `restrict`).
        self.low, self.high = self.start, self.end

    def restrict(self, rows: np.ndarray) -> None:
        """Make `seek` take its position arrays as one value per row in `rows`."""
        self.low, self.high = self.start[rows], self.end[rows]

    def at(self, position: np.ndarray) -> np.ndarray:
        """The byte at each position (positions outside the data are clipped to it)."""
        if len(self.data) == 0:
            return np.zeros(np.shape(position), np.uint8)
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
        if most <= 8 and self.words is not None:
            # One word per row ending at the last digit (from the data's start when the row
            # lies in its first 8 bytes, shifted up to end there), the bytes before the digits
            # masked off: eight digits with leading zeros.
            right = start + width
            base = np.where(width > 0, np.maximum(right - 8, 0), 0)
            word = self.words[base] << (8 * np.where(width > 0, base + 8 - right, 0)).astype(
                np.uint64
            )
            keep = np.where(width > 0, _ONES << (8 * (8 - width)).astype(np.uint64), 0)
            return eight_digits(word & keep.astype(np.uint64))
        if self.words is not None:  # the rows of up to 8 digits as above, the others below
            wide = np.flatnonzero(width > 8)
            value = self.number(start, end, valid & (width <= 8))
            value[wide] = self._digit_matrix(start[wide], width[wide])
            return value
        return self._digit_matrix(start, width)

    def _digit_matrix(self, start: np.ndarray, width: np.ndarray) -> np.ndarray:
        """`number` from all digits in one gather, right-aligned so that column k has weight
        10**(most-1-k)."""
        most = int(width.max(initial=0))
        columns = np.arange(most, dtype=np.int64)
        digits = self.window(start + width - most, most).astype(np.int64) - _ZERO
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

        Eight bytes are looked at per step, as one word (`seek_bytes` is the same walk a byte
        at a time): only rows still walking are touched, so the cost follows the distance
        actually walked, not the limit.
        """
        if self.words is None:
            return self.seek_bytes(start, step, stop_at, limit, active)
        found = np.full(len(start), -1, dtype=np.int64)
        rows = np.flatnonzero(active)
        position = start[rows]
        low, high = self.low[rows], self.high[rows]
        # How many bytes the walk may look at: to the row's edge or the limit, none when the
        # start is outside the row.
        if step > 0:
            left = np.minimum(high, position + limit) - position
        else:
            left = position - np.maximum(low - 1, position - limit)
        walking = np.flatnonzero((position >= low) & (position < high) & (left > 0))
        rows, position, left = rows[walking], position[walking], left[walking]
        (stop,) = stop_at
        pattern = np.uint64(stop * 0x0101_0101_0101_0101)
        last = len(self.words) - 1
        while len(rows):
            # A word from each position: the bytes from there up, lowest first, or the 8
            # ending there, byte-swapped. A word that would reach past the data is read below.
            edge = (position > last) if step > 0 else (position < 7)
            if edge.any():
                self._seek_at_edge(found, rows[edge], position[edge], step, stop_at, left[edge])
                keep = ~edge
                rows, position, left = rows[keep], position[keep], left[keep]
            word = self.words[position] if step > 0 else self.words[position - 7].byteswap()
            word ^= pattern
            hits = _zero_bytes(word)
            if left.min(initial=8) < 8:
                hits &= _LOW_BYTES[np.minimum(left, 8)]
            hit = hits != 0
            lowest = hits[hit]
            lowest &= np.uint64(0) - lowest
            lowest -= np.uint64(1)
            offset = np.bitwise_count(lowest) >> np.uint8(3)
            found[rows[hit]] = position[hit] + step * offset.astype(np.int64)
            walking = np.flatnonzero(~hit & (left > 8))
            rows, position, left = rows[walking], position[walking] + 8 * step, left[walking] - 8
        return found

    def _seek_at_edge(
        self,
        found: np.ndarray,
        rows: np.ndarray,
        position: np.ndarray,
        step: int,
        stop_at: bytes,
        left: np.ndarray,
    ) -> None:
        """`seek`'s walk a byte at a time for the rows whose next word would reach past the
        data's edge (within 8 bytes of it)."""
        (stop,) = stop_at
        for _ in range(int(left.max(initial=0))):
            hit = (left > 0) & (self.at(position) == stop)
            found[rows[hit]] = position[hit]
            walking = np.flatnonzero(~hit & (left > 1))
            if len(walking) == 0:
                break
            rows, position, left = rows[walking], position[walking] + step, left[walking] - 1

    def seek_bytes(
        self, start: np.ndarray, step: int, stop_at: bytes, limit: int, active: np.ndarray
    ) -> np.ndarray:
        """`seek` one byte per step."""
        found = np.full(len(start), -1, dtype=np.int64)
        rows = np.flatnonzero(active)
        position = start[rows]
        low, high = self.low[rows], self.high[rows]
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

    def ends_with(self, start: np.ndarray, end: np.ndarray, suffix: bytes) -> np.ndarray:
        """Whether bytes [start, end) of each row end with `suffix` (of 2 bytes or more): the
        last two bytes are compared on every row, the others only where those match."""
        size = len(suffix)
        if self.words is not None and 8 <= size <= 24:
            return self._ends_with_words(start, end, suffix)
        found = (
            (end - start >= size)
            & (self.at(end - 1) == suffix[-1])
            & (self.at(end - 2) == suffix[-2])
        )
        rows = np.flatnonzero(found)
        if len(rows):
            tail = self.window(end[rows] - size, size)
            found[rows] = (tail == np.frombuffer(suffix, dtype=np.uint8)).all(axis=1)
        return found

    def _ends_with_words(self, start: np.ndarray, end: np.ndarray, suffix: bytes) -> np.ndarray:
        """`ends_with` for a suffix of 8 to 24 bytes, compared a word at a time: its last 8
        bytes on every row, then 8 more (overlapping the others at its start) where those
        match."""
        assert self.words is not None
        size = len(suffix)

        def word(at: int) -> np.uint64:  # the suffix's 8 bytes from `at`, as one word
            return np.frombuffer(suffix[at : at + 8], dtype="<u8")[0]

        long_enough = end - start >= size
        found = long_enough & (self.words[np.where(long_enough, end - 8, 0)] == word(size - 8))
        for at in sorted({max(size - 16, 0), 0}, reverse=True):
            if at == size - 8:
                continue
            rows = np.flatnonzero(found)
            found[rows] = self.words[end[rows] - size + at] == word(at)
        return found

    def window(self, start: np.ndarray, width: int) -> np.ndarray:
        """The `width` bytes from each start, as rows of a 2-D array (positions clipped as
        in `at`); one gather through a sliding-window view instead of a position matrix."""
        size = len(self.data)
        if size < width or len(start) == 0:
            return self.at(start[:, None] + np.arange(width))
        view = np.lib.stride_tricks.sliding_window_view(self.data, width)
        inside = (start >= 0) & (start <= size - width)
        if inside.all():
            return view[start]
        out = self.at(start[:, None] + np.arange(width))
        out[inside] = view[start[inside]]
        return out

    def spans(self, start: np.ndarray, end: np.ndarray, valid: np.ndarray) -> pa.Array:
        """Bytes [start, end) of each row where valid, as a string array (null elsewhere).

        The spans of the valid rows lie in row order, each inside its row, so they and the
        gaps between them tile the data: view that tiling as one string array without
        copying, then `take` every other element (one memcpy per span, in C).
        """
        chosen = np.flatnonzero(valid)
        bounds = np.empty(2 * len(chosen) + 1, dtype=np.int32)
        span_start = start[chosen]
        bounds[0:-1:2] = span_start
        bounds[1:-1:2] = np.maximum(end[chosen], span_start)
        bounds[-1] = bounds[-2] if len(chosen) else 0
        tiling = pa.Array.from_buffers(
            pa.string(), 2 * len(chosen), [None, pa.py_buffer(bounds), self.buffer]
        )
        # An index without nulls takes pyarrow's fast path; the null rows are spread in after.
        taken = pc.take(tiling, pa.array(np.arange(0, 2 * len(chosen), 2, dtype=np.int64)))
        if len(chosen) == len(valid):
            return taken
        lengths = np.zeros(len(valid), dtype=np.int32)
        lengths[chosen] = np.diff(np.frombuffer(taken.buffers()[1], np.int32)[: len(chosen) + 1])
        offsets = np.zeros(len(valid) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.Array.from_buffers(
            pa.string(), len(valid), [validity, pa.py_buffer(offsets), taken.buffers()[2]]
        )


_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_SEVEN_BITS = np.uint64(0x7F7F_7F7F_7F7F_7F7F)
_LOW_BYTES = np.array([(1 << (8 * count)) - 1 for count in range(9)], dtype=np.uint64)
"""The masks of a word's lowest 0 to 8 bytes."""


def _zero_bytes(word: np.ndarray) -> np.ndarray:
    """0x80 in each byte of each word that is zero, 0 in the others (exact: no carry crosses
    a byte, unlike the shorter test that flags a byte above a zero one)."""
    zero = word & _SEVEN_BITS
    zero += _SEVEN_BITS
    zero |= word
    zero |= _SEVEN_BITS
    return np.invert(zero, out=zero)


def eight_digits(word: np.ndarray) -> np.ndarray:
    """The number written by the 8 ASCII digits (or zero bytes, read as 0) of each
    little-endian word, first digit in the lowest byte: three multiply-shift steps that
    combine digit pairs, then pairs of pairs, then the halves (SWAR)."""
    word = ((word & np.uint64(0x0F0F_0F0F_0F0F_0F0F)) * np.uint64(2561)) >> np.uint64(8)
    word = ((word & np.uint64(0x00FF_00FF_00FF_00FF)) * np.uint64(6553601)) >> np.uint64(16)
    word = ((word & np.uint64(0x0000_FFFF_0000_FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)
    return word.astype(np.int64)


def simple_mask(lines: pa.StringArray) -> np.ndarray:
    """Which lines have one of the shapes this tier reads, with no number too wide for its
    column (so `wide_numbers.suspect_lines` need not look at them)."""
    simple = pc.fill_null(pc.match_substring_regex(lines, SIMPLE_LINE), False)
    raw = LineBytes(lines)
    # Not `interrupted`: the same test on the bytes.
    simple = simple.to_numpy(zero_copy_only=False) & ~raw.ends_with(
        raw.start, raw.end, _INTERRUPTED.encode()
    )
    # An errno message longer than `scan_simple` looks back for its "(" goes to the regex tier.
    # Only a line at least that long can hold one: the others are not searched.
    rows = np.flatnonzero(simple & (raw.end - raw.start >= _MESSAGE_LOOKBACK))
    if len(rows):
        long_message = pc.match_substring_regex(lines.take(pa.array(rows)), _LONG_MESSAGE)
        simple[rows[filled_numpy(long_message, False)]] = False
    return simple


def interrupted(lines: pa.StringArray) -> pa.BooleanArray:
    """Lines whose `` <unfinished ...>`` follows the terminal's ``^C`` echo: the grammar's to read
    (the echo is not part of the arguments)."""
    return pc.fill_null(pc.ends_with(lines, _INTERRUPTED), False)


def _first(lines: pa.StringArray, pattern: str) -> np.ndarray:
    """Offset of the first occurrence of `pattern` in each line (-1 when absent)."""
    return filled_numpy(pc.find_substring(lines, pattern), -1).astype(np.int64)


def scan_simple(lines: pa.StringArray, line_numbers: pa.Int64Array, simple: np.ndarray) -> pa.Table:
    """Records (schema `strace_lines`) for the rows where `simple` (the lines' `simple_mask`,
    or a part of it) is true: fields are read where that shape puts them.

    Every position is computed for those rows only, and the output is gathered from them
    directly (no filter of a full-size table afterwards). The widths SIMPLE_LINE allows are
    few, so the clock timestamp and the usual ``<S.UUUUUU>`` duration are read at fixed
    offsets; other shapes take the general walk.
    """
    raw = LineBytes(lines)
    rows = np.flatnonzero(simple)
    raw.restrict(rows)
    count = len(rows)
    line_start, line_end = raw.start[rows], raw.end[rows]
    every = np.ones(count, dtype=bool)
    space, dot_byte = b" ", b"."

    # PID: the digits before the first space. SIMPLE_LINE lets a line start with digits only
    # as a pid (at most 9 digits), a clock (':' third) or an epoch time (a '.' after 7+ digits).
    first_space = line_start + _first(lines, " ")[rows]
    has_pid = (
        raw.is_digit(line_start)
        & (first_space - line_start <= 9)
        & (raw.at(line_start + 2) != ord(":"))
    )
    pid = raw.number(line_start, first_space, has_pid)
    cursor = np.where(has_pid, first_space, line_start)
    moving = has_pid
    for _ in range(8):  # "%-5u " pads short pids; SIMPLE_LINE allows at most 8 spaces
        moving = moving & (raw.at(cursor) == ord(" "))
        if not moving.any():
            break
        cursor = cursor + moving

    # Timestamp: HH:MM:SS[.frac] (clock) or seconds.frac (epoch).
    has_ts = raw.is_digit(cursor)
    clock = has_ts & (raw.at(cursor + 2) == ord(":"))
    epoch = has_ts & ~clock
    ts_space, dot, seconds, fraction = _clock_fields(raw, cursor, clock)
    if epoch.any():
        epoch_space = raw.seek(cursor, 1, space, 22, epoch)
        epoch_dot = raw.seek(cursor, 1, dot_byte, 12, epoch)
        with_fraction = epoch & (raw.at(epoch_dot) == ord("."))
        ts_space = np.where(epoch, epoch_space, ts_space)
        dot = np.where(epoch, epoch_dot, dot)
        seconds = np.where(epoch, raw.number(cursor, epoch_dot, epoch), seconds)
        fraction = np.where(
            with_fraction, raw.fraction_ns(epoch_dot + 1, epoch_space, with_fraction), fraction
        )
    ts_ns = seconds * 1_000_000_000 + fraction
    body = np.where(has_ts, ts_space + 1, cursor)

    # Call head: "name(" or "<... name resumed>".
    resumed = raw.at(body) == ord("<")
    name_start = np.where(resumed, body + len("<... "), body)
    resumed_space = raw.seek(name_start, 1, space, 64, resumed)
    paren = _paren(raw, lines, rows, body, resumed)
    name_end = np.where(resumed, resumed_space, paren)
    args_start = np.where(resumed, resumed_space + len(" resumed>"), paren + 1)

    unfinished = ~resumed & raw.ends_with(line_start, line_end, _UNFINISHED.encode())
    returned = ~unfinished

    # Tail, read from the right: [ <DUR>], then [ ERRNO (MSG)], then RET, " = ", padding, ")".
    has_duration = returned & (raw.at(line_end - 1) == ord(">"))
    duration_open, duration_ns = _duration_fields(raw, line_end, has_duration)
    before_duration = np.where(has_duration, duration_open - 1, line_end)  # exclusive

    has_errno = returned & (raw.at(before_duration - 1) == ord(")"))
    message_open = raw.seek(before_duration - 1, -1, b"(", _MESSAGE_LOOKBACK, has_errno)
    errno_start = raw.seek(message_open - 2, -1, space, 40, has_errno) + 1
    ret_end = np.where(has_errno, errno_start - 1, before_duration)
    ret_start = raw.seek(ret_end - 1, -1, space, 24, returned) + 1
    close = raw.seek_bytes(ret_start - 3, -1, b")", 64, returned)  # (a byte or two away)
    args_end = np.where(unfinished, line_end - len(_UNFINISHED), close)

    ret = raw.spans(ret_start, ret_end, returned)
    all_rows = count == len(lines)
    columns = {
        "line_no": line_numbers if all_rows else pc.take(line_numbers, pa.array(rows)),
        "kind": _pick(_KINDS, np.where(unfinished, 1, np.where(resumed, 2, 0)), every),
        "pid": int64_array(pid, has_pid),
        "ts_ns": int64_array(ts_ns, has_ts),
        "ts_kind": _pick(_TS_KINDS, np.where(clock, 0, 1), has_ts),
        "syscall": raw.spans(name_start, name_end, every),
        "args": raw.spans(args_start, args_end, every),
        "ret": ret,
        "retval": parse_retval(ret),
        "errno": raw.spans(errno_start, message_open - 1, has_errno),
        "errmsg": raw.spans(message_open + 1, before_duration - 1, has_errno),
        "duration_ns": int64_array(duration_ns, has_duration),
    }
    null = null_arrays(count)
    arrays = [
        columns[column.name] if column.name in columns else null(column.type)
        for column in STRACE_LINES.columns
    ]
    return pa.Table.from_arrays(arrays, schema=STRACE_LINES.schema)


_NAME_WINDOW = 24


def _paren(
    raw: LineBytes, lines: pa.StringArray, rows: np.ndarray, body: np.ndarray, resumed: np.ndarray
) -> np.ndarray:
    """The first `(` of each line (used where the line is not a resumed half).

    Nothing before the call name holds a `(`, so it is the first one in a short window from
    the name; a line whose name is longer than the window is searched whole.
    """
    window = raw.window(body, _NAME_WINDOW) == ord("(")
    first = window.argmax(axis=1)
    found = window[np.arange(len(body)), first]
    paren = body + first
    far = ~found & ~resumed
    if far.any():
        whole = raw.start[rows] + _first(lines, "(")[rows]
        paren[far] = whole[far]
    return paren


_CLOCK_WIDTHS = (8, 12, 15, 18)
"""`HH:MM:SS` and its `.mmm`, `.uuuuuu` and `.nnnnnnnnn` forms (what SIMPLE_LINE accepts)."""


def _clock_fields(
    raw: LineBytes, cursor: np.ndarray, clock: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For clock rows: the space after the timestamp, the dot, whole seconds since midnight
    and the fraction in ns (zeros elsewhere).

    SIMPLE_LINE admits four widths, each followed by a space; the first of those positions
    that holds a space is the end. The digits are read at fixed offsets from one gather per
    width.
    """
    count = len(cursor)
    ts_space = np.zeros(count, dtype=np.int64)
    seconds = np.zeros(count, dtype=np.int64)
    fraction = np.zeros(count, dtype=np.int64)
    dot = cursor + 8
    rows = np.flatnonzero(clock)
    if len(rows) == 0:
        return ts_space, dot, seconds, fraction
    start = cursor[rows]
    width = np.full(len(rows), -1, dtype=np.int64)
    for candidate in reversed(_CLOCK_WIDTHS):
        width[raw.at(start + candidate) == ord(" ")] = candidate
    for candidate in _CLOCK_WIDTHS:
        group = np.flatnonzero(width == candidate)
        if len(group) == 0:
            continue
        # Usually every row has the one width: no gather or scatter of rows then.
        every = len(group) == count
        at = slice(None) if every else rows[group]
        first = start if every else start[group]
        ts_space[at] = first + candidate
        seconds[at], fraction[at] = _clock_digits(raw, first, candidate)
    if (width < 0).any():  # not a width SIMPLE_LINE accepts: the general walk
        other = np.zeros(count, dtype=bool)
        other[rows[width < 0]] = True
        space = raw.seek(cursor, 1, b" ", 22, other)
        has_fraction = other & (raw.at(dot) == ord("."))
        whole = (
            raw.number(cursor, cursor + 2, other) * 3600
            + raw.number(cursor + 3, cursor + 5, other) * 60
            + raw.number(cursor + 6, cursor + 8, other)
        )
        ts_space[other] = space[other]
        seconds[other] = whole[other]
        fraction[other] = np.where(has_fraction, raw.fraction_ns(dot + 1, space, has_fraction), 0)[
            other
        ]
    return ts_space, dot, seconds, fraction


_COLONS = np.uint64(0xFFFF_00FF_FF00_FFFF)
"""A word of ``HH:MM:SS`` with its colons masked off (to zero bytes, which read as 0)."""


def _clock_digits(raw: LineBytes, first: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since midnight and the fraction in ns of clock timestamps of one of
    `_CLOCK_WIDTHS`, each followed by more of its line: eight digits at a time (SWAR), the
    ``HH:MM:SS`` word with its colons masked off and the word ending at the last digit."""
    if raw.words is None:  # (no line this short holds a timestamp and a call)
        return _clock_digits_bytes(raw, first, width)
    # HH0MM0SS: hours * 10**6 + minutes * 1000 + seconds.
    packed = eight_digits(raw.words[first] & _COLONS)
    seconds = (packed // 1_000_000) * 3600 + (packed // 1000 % 1000) * 60 + packed % 1000
    places = width - 9
    if places <= 0:
        return seconds, np.zeros(len(first), dtype=np.int64)
    kept = min(places, 8)
    fraction = eight_digits(raw.words[first + width - 8] & (_ONES << np.uint64(8 * (8 - kept))))
    if places > 8:  # the ninth digit from the end
        fraction += (raw.at(first + 9).astype(np.int64) - _ZERO) * 10**8
    return seconds, fraction * 10 ** (9 - places)


def _clock_digits_bytes(
    raw: LineBytes, first: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_clock_digits` from a gather of each timestamp's bytes (the reference for tests)."""
    digits = raw.window(first, width) - np.uint8(_ZERO)  # the digits' values, in bytes
    # int32 is exact here: hours to seconds stay below 2**31, as do nine digits.
    hhmmss = [digits[:, column].astype(np.int32) for column in (0, 1, 3, 4, 6, 7)]
    seconds = (
        (hhmmss[0] * 10 + hhmmss[1]) * 3600
        + (hhmmss[2] * 10 + hhmmss[3]) * 60
        + hhmmss[4] * 10
        + hhmmss[5]
    ).astype(np.int64)
    fraction = np.zeros(len(first), dtype=np.int64)
    if width > 8:
        places = width - 9
        weights = 10 ** np.arange(places - 1, -1, -1, dtype=np.int32)
        fraction = (digits[:, 9:] @ weights).astype(np.int64) * 10 ** (9 - places)
    return seconds, fraction


def _duration_fields(
    raw: LineBytes, line_end: np.ndarray, has_duration: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The `<` that opens each `-T` duration and its value in ns (-1 and 0 without one).

    The usual ``<S.UUUUUU>`` is read at fixed offsets from the end; other widths walk back.
    """
    count = len(line_end)
    duration_open = np.full(count, -1, dtype=np.int64)
    duration_ns = np.zeros(count, dtype=np.int64)
    usual = has_duration & (raw.at(line_end - 10) == ord("<")) & (raw.at(line_end - 8) == ord("."))
    rows = np.flatnonzero(usual)
    if raw.words is not None and len(rows):  # (a row of 10 bytes or more means 8 bytes of data)
        word = raw.words[line_end[rows] - 9]  # "S.UUUUUU"
        micros = eight_digits(word & np.uint64(0xFFFF_FFFF_FFFF_0000))
        whole = (word & np.uint64(0xFF)).astype(np.int64) - _ZERO
        duration_open[rows] = line_end[rows] - 10
        duration_ns[rows] = whole * 1_000_000_000 + micros * 1000
    other = has_duration & ~usual
    if other.any():
        opened = raw.seek(line_end - 1, -1, b"<", 24, other)
        dot = raw.seek(opened, 1, b".", 12, other)
        value = raw.number(opened + 1, dot, other) * 1_000_000_000 + raw.fraction_ns(
            dot + 1, line_end - 1, other
        )
        duration_open[other] = opened[other]
        duration_ns[other] = value[other]
    return duration_open, duration_ns


_HEX_OR_OCTAL = r"^0(?:x[0-9a-f]+|[0-7]+)$"


def parse_retval(retnum: pa.Array) -> pa.Array:
    """Return values as int64, read as the grammar reads them: ``0x`` hex, a leading ``0``
    octal (``umask`` prints ``022``), otherwise decimal; ``?`` is null. pyarrow casts only
    decimal, so the rare hex and octal values are converted in Python."""
    retnum = pc.cast(retnum, pa.string())
    raw = LineBytes(retnum)
    size = raw.end - raw.start
    present = retnum.is_valid().to_numpy(zero_copy_only=False)
    valid = present & (size > 0)
    first = np.where(valid, raw.at(raw.start), 0)
    # Only a text of two or more bytes that starts with "0" can be hex or octal: the regex
    # looks at those alone (a few in a million lines), the others are decimal.
    candidates = np.flatnonzero((first == ord("0")) & (size > 1))
    special = np.zeros(len(retnum), dtype=bool)
    if len(candidates):
        found = pc.match_substring_regex(retnum.take(pa.array(candidates)), _HEX_OR_OCTAL)
        special[candidates[filled_numpy(found, False)]] = True
    question = (first == ord("?")) & (size == 1)
    # The decimal texts: the same buffers, the others masked as null.
    bits = np.zeros(retnum.offset + len(retnum), dtype=bool)
    bits[retnum.offset :] = present & ~special & ~question
    decimal_text = pa.Array.from_buffers(
        pa.string(),
        len(retnum),
        [pa.py_buffer(np.packbits(bits, bitorder="little")), *retnum.buffers()[1:]],
        offset=retnum.offset,
    )
    decimal = pc.cast(decimal_text, pa.int64())
    if not special.any():
        return decimal
    texts = retnum.take(pa.array(np.flatnonzero(special))).to_pylist()
    values = pa.array([_wrap_int64(int(text, 0 if text[1] == "x" else 8)) for text in texts])
    return pc.replace_with_mask(decimal, pa.array(special), pc.cast(values, pa.int64()))


def _wrap_int64(value: int) -> int:
    """Two's complement view of an unsigned 64-bit value (addresses above 2**63)."""
    return value - (1 << 64) if value >= 1 << 63 else value
