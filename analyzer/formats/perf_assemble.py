"""`perf script` text -> the rows of the samples, stacks and frames tables (the hot path).

Two layers, neither needs Arrow (so the folded-stacks path can run without importing it):

`Assembler` takes the line records in input order and builds the rows: a sample header starts
a sample, frame lines (and their ``-F +srcline`` lines) add to its callchain, and a blank line,
the next header or the end of the input ends it. Frames and stacks are deduplicated as they
end, ids in order of first appearance. Lines that are not `perf script` output are kept with
their reason, and so are frame lines that belong to no sample.

`BlockReader` feeds it whole blocks of bytes instead of one record per line. Most of a
callchain recording is samples of the shape *header, frame lines, blank line*, whose headers
differ only in their time and whose callchains come back again and again. So the block is cut
at its blank lines (``bytes.split``, in C) and each piece whose first line is a sample header
and whose other lines are all frame lines is read as one unit, with two dictionary lookups:

- the header, by the text around its time (a *template*: the scanner reads a header the same
  whatever the digits of its time, see `perf_scan.header_time_span`); only a header of a new
  shape is scanned;
- the frame lines, whole (the bytes between the header and the blank line), which gives the
  stack id at once; only a callchain never seen is split into lines, each looked up in a
  dictionary of frame lines, and only a frame line never seen is scanned.

A piece of any other shape is fed line by line (scanner, then grammar) to the same
`Assembler`, so the rows are exactly those of the line-by-line reading, which
`tests/test_perf_assemble.py` checks on every fixture, with the input cut anywhere, and on
generated inputs.
"""

from __future__ import annotations

import gc
import re
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeGuard

from analyzer.formats.perf_record import PerfRecord, Unparsed
from analyzer.formats.perf_scan import header_time_span, scan_line
from analyzer.formats.wide_numbers import REASON as WIDE_NUMBER
from analyzer.formats.wide_numbers import all_fit

_NUMBERED = frozenset({"sample", "sideband"})
"""Record kinds whose integer fields go into int64 columns."""

__all__ = [
    "SAMPLE_COLUMNS",
    "SIDEBAND_COLUMNS",
    "SNIFF_LINES",
    "Assembler",
    "BlockReader",
    "FrameKey",
    "gc_paused",
    "parse_line",
    "scanner_reads_lines",
    "sniff_lines",
]

SAMPLE_COLUMNS: tuple[str, ...] = (
    "line_no",
    "time_ns",
    "tod",
    "pid",
    "tid",
    "comm",
    "cpu",
    "event",
    "period",
    "payload",
    "stack_id",
    "cut",
)
"""The columns of `analyzer.schema.PERF_SAMPLES`, in order (a test checks they agree)."""
SIDEBAND_COLUMNS: tuple[str, ...] = (
    "line_no",
    "time_ns",
    "pid",
    "tid",
    "comm",
    "cpu",
    "record",
    "payload",
)
"""The columns of `analyzer.schema.PERF_SIDEBAND`, in order."""

FrameKey = tuple[str | None, str | None, str | None, str | None, str | None, bool]
"""(addr, symbol, offset, dso, srcline, inlined): what makes two frames the same (the columns
of `analyzer.schema.PERF_FRAMES` after ``frame_id``)."""

ENGINES: tuple[str, ...] = ("fast", "lark")


def frame_code(key: FrameKey) -> str:
    """A frame as one string, equal for equal frames and different for different ones: the
    fields joined by newlines (no field has one: all come from one line of the input), each
    ``=value``, or empty for None, then ``1`` or ``0`` for inlined. As the key of
    `Assembler.frame_ids` it takes a third of the memory of the tuple and its strings
    (1.4M distinct frames in 2 GB of distinct stacks)."""
    addr, symbol, offset, dso, srcline, inlined = key
    return (
        f"{'' if addr is None else '=' + addr}\n{'' if symbol is None else '=' + symbol}\n"
        f"{'' if offset is None else '=' + offset}\n{'' if dso is None else '=' + dso}\n"
        f"{'' if srcline is None else '=' + srcline}\n{'1' if inlined else '0'}"
    )


def chain_code(frame_ids: Iterable[int]) -> bytes:
    """A callchain (frame ids, leaf first) as the key of `Assembler.stack_ids`: the ids as
    unsigned 32-bit numbers, half the memory of the tuple (an id past 2**32 raises)."""
    return array("I", frame_ids).tobytes()


FRAME_BATCH = 1 << 16
"""New frames an `Assembler` with a `frame_sink` hands over at a time."""


def grammar_line(text: str) -> PerfRecord | Unparsed:
    """The grammar's record of one line (Lark is imported on first use)."""
    from analyzer.formats import perf_lark

    return perf_lark.parse_line(text)


def parse_line(text: str, engine: str = "fast") -> PerfRecord | Unparsed:
    """One line as a record: the scanner when it can, else (or with ``lark``) the grammar."""
    if engine == "fast":
        record = scan_line(text)
        if record is not None:
            return record
    elif engine != "lark":
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    return grammar_line(text)


def stamp_ns(stamp: bytes) -> int:
    """``b"303.512366"`` -> 303512366000 (``[0-9]+.[0-9]+``, as `perf_scan` scales it)."""
    whole, _, fraction = stamp.partition(b".")
    return int(whole + (fraction + b"000000000")[:9])


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (reading a big input allocates millions of objects
    that live on, and each full collection would walk them all); nestable and thread-safe:
    the collector is enabled again, if it was, when the last pause ends."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


SNIFF_LINES = 50
"""Lines of the head that format detection reads."""


def sniff_lines(head: bytes) -> list[str]:
    """The non-blank lines of an input's head that the format sniffers read."""
    lines = head.decode("utf-8", errors="replace").splitlines()[:SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    return [line for line in lines if line.strip()]


_TIMELESS_EVENT = re.compile(r"(?=[^a-z]*[a-z])[\w.:/=,+-]+")
_KERNEL_COMM_BYTES = 15


def is_sample_header(record: PerfRecord | Unparsed) -> bool:
    """Whether a line's record is a real sample (or side-band) header, ``comm pid/tid [cpu]
    time: event:``: a sample or side-band line with an event and a time or a thread id (perf
    3.x printed ``java 19983 cycles:`` without a time). Frames alone prove nothing: any line
    that starts with a hex-looking word reads as an unindented frame of old perf versions
    (a pid, a line number of ``cat -n``, ``seq`` or ``xxd -p`` output)."""
    if not isinstance(record, PerfRecord) or record.kind not in ("sample", "sideband"):
        return False
    if record.event is None:
        return False
    if record.time_ns is not None:
        return True
    # Without a time, ``name 116 TRACE: text`` is as often a log line (a logger, a pid or
    # line number, a level): perf's event names have lower-case letters and no blanks or
    # parentheses (cycles, cpu-clock:uhH, L1-dcache-load-misses, sched:sched_switch), and
    # the perf versions that printed no time printed the kernel's comm, at most 15 bytes
    # (TASK_COMM_LEN 16): ``2023-11-14 22:15:43,008 DEBUG app.db: query took 43 ms: ...``
    # is an application log line, not thread 43's event "ms".
    return (
        record.tid is not None
        and len((record.comm or "").encode()) <= _KERNEL_COMM_BYTES
        and _TIMELESS_EVENT.fullmatch(record.event) is not None
    )


def scanner_reads_lines(lines: list[str]) -> bool:
    """Whether the scanner reads every line, one of them a sample header
    (`is_sample_header`): then `perf_script.sniff` scores these lines 1.0 without the
    grammar."""
    header = False
    for line in lines:
        record = scan_line(line)
        if record is None:
            return False
        header = header or is_sample_header(record)
    return header


class Assembler:
    """Turns the line records, in input order, into the rows of the tables."""

    def __init__(self) -> None:
        self.sample_lines: list[int] = []
        """Line number of each sample's header."""
        self.sample_records: list[PerfRecord] = []
        """The header record of each sample; a shared template with ``time_ns`` None when
        the sample's time is in `sample_times` instead."""
        self.sample_times: list[bytes | None] = []
        """The time text (``303.512366``) of a sample read from a header template, else None."""
        self.sample_stacks: list[int | None] = []
        self.last_cut = False
        """Whether the last sample is cut (the input stops inside its callchain); no other
        sample can be (only `end` finishes a sample as cut)."""
        self.sideband: dict[str, list[object]] = {name: [] for name in SIDEBAND_COLUMNS}
        self.frame_ids: dict[str, int] = {}
        """Frame (`frame_code`) -> id; ids are 0, 1, 2, ... in insertion order."""
        self.new_frames: list[FrameKey] = []
        """The frames given an id since the last handed to `frame_sink` (all of them
        without one), in id order."""
        self.frame_sink: Callable[[list[FrameKey]], None] | None = None
        """Takes the new frames `FRAME_BATCH` at a time (in id order), so that their tuples
        and strings do not live to the end of the parse; the rest are in `new_frames`."""
        self.stack_ids: dict[bytes, int] = {}
        """Frame ids (leaf first, `chain_code`) -> stack id; ids are 0, 1, 2, ... in
        insertion order."""
        self.rejected: list[tuple[int, str, str]] = []
        self.header: list[str] = []
        self.current: list[FrameKey] | None = None
        """Frames of the open sample (a source line after a frame replaces it)."""
        self.has_callchain = False
        self.saw_blank = False

    def add(self, line_no: int, text: str, record: PerfRecord | Unparsed) -> None:
        if isinstance(record, Unparsed):
            self.rejected.append((line_no, text, record.reason))
            return
        kind = record.kind
        if kind in _NUMBERED and not all_fit(record):
            self.finish_sample(cut=False)  # its frames, if any follow, belong to no sample
            self.rejected.append((line_no, text, WIDE_NUMBER))
            return
        if kind == "frame":
            if self.current is None:
                self.rejected.append((line_no, text, "frame line outside a sample"))
                return
            dso = record.dso
            self.current.append(
                (record.addr, record.symbol, record.offset, dso, None, dso == "inlined")
            )
            self.has_callchain = True
        elif kind == "blank":
            self.saw_blank = True
            self.finish_sample(cut=False)
        elif kind == "sample":
            self.finish_sample(cut=False)
            self.start_sample(line_no, record)
        elif kind == "srcline":
            if not self.current:
                self.rejected.append((line_no, text, "source line outside a callchain"))
                return
            addr, symbol, offset, dso, _srcline, inlined = self.current[-1]
            inlined = inlined or record.dso == "inlined"
            self.current[-1] = (addr, symbol, offset, dso, record.text, inlined)
        elif kind == "sideband":
            self.finish_sample(cut=False)
            self._add_sideband(line_no, record)
        else:  # comment
            self.header.append(text)

    @property
    def sample_cuts(self) -> list[bool]:
        """Whether each sample is cut."""
        cuts = [False] * len(self.sample_stacks)
        if cuts:
            cuts[-1] = self.last_cut
        return cuts

    @property
    def samples(self) -> dict[str, list[object]]:
        """The sample rows as columns (`SAMPLE_COLUMNS`)."""
        count = len(self.sample_records)
        fields = list(zip(*self.sample_records, strict=True)) if count else [()] * 15
        times = [
            time_ns if stamp is None else stamp_ns(stamp)
            for time_ns, stamp in zip(fields[6], self.sample_times, strict=True)
        ]
        return {
            "line_no": self.sample_lines,
            "time_ns": times,
            "tod": list(fields[5]),
            "pid": list(fields[2]),
            "tid": list(fields[3]),
            "comm": list(fields[1]),
            "cpu": list(fields[4]),
            "event": list(fields[8]),
            "period": list(fields[7]),
            "payload": list(fields[9]),
            "stack_id": self.sample_stacks,
            "cut": self.sample_cuts,
        }

    def start_sample(self, line_no: int, record: PerfRecord) -> None:
        self.sample_lines.append(line_no)
        self.sample_records.append(record)
        self.sample_times.append(None)
        self.current = []
        self.has_callchain = False
        if record.dso is not None:  # the frame of a sample printed without callchain
            self.current.append(
                (
                    record.addr,
                    record.symbol,
                    record.offset,
                    record.dso,
                    None,
                    record.dso == "inlined",
                )
            )

    def frame_id(self, key: FrameKey) -> int:
        """The id of a frame, a new one for a frame never seen."""
        code = frame_code(key)
        frame_id = self.frame_ids.get(code)
        if frame_id is None:
            frame_id = self.frame_ids[code] = len(self.frame_ids)
            self.new_frames.append(key)
            if self.frame_sink is not None and len(self.new_frames) >= FRAME_BATCH:
                self.frame_sink(self.new_frames)
                self.new_frames = []
        return frame_id

    def chain_id(self, frame_ids: Iterable[int]) -> int:
        """The id of a callchain (frame ids, leaf first), a new one for a chain never seen."""
        chain = chain_code(frame_ids)
        stack_id = self.stack_ids.get(chain)
        if stack_id is None:
            stack_id = self.stack_ids[chain] = len(self.stack_ids)
        return stack_id

    def stack_id(self, frames: list[FrameKey]) -> int:
        """The id of a callchain (frames leaf first), giving new frames and stacks new ids."""
        return self.chain_id([self.frame_id(key) for key in frames])

    def finish_sample(self, cut: bool) -> None:
        if self.current is None:
            return
        frames = self.current
        stack_id = self.stack_id(frames) if frames else None
        self.sample_stacks.append(stack_id)
        self.last_cut = cut
        self.current = None

    def _add_sideband(self, line_no: int, record: PerfRecord) -> None:
        columns = self.sideband
        columns["line_no"].append(line_no)
        columns["time_ns"].append(record.time_ns)
        columns["pid"].append(record.pid)
        columns["tid"].append(record.tid)
        columns["comm"].append(record.comm)
        columns["cpu"].append(record.cpu)
        columns["record"].append(record.event)
        columns["payload"].append(record.payload)

    def end(self) -> None:
        """The input ended: a callchain sample not closed by a blank line may be cut."""
        self.finish_sample(cut=self.current is not None and (self.has_callchain or self.saw_blank))

    def frame_rows(self) -> list[FrameKey]:
        """The distinct frames, by frame id (those not handed to `frame_sink`)."""
        return list(self.new_frames)

    def stack_rows(self) -> list[tuple[int, ...]]:
        """The distinct callchains (frame ids, leaf first), by stack id."""
        return [tuple(array("I", chain)) for chain in self.stack_ids]


_NOT_PLAIN = -1
"""`BlockReader.bodies` value for a callchain that is not all tab-indented frame lines."""


def _all_known(frame_ids: tuple[int | None, ...]) -> TypeGuard[tuple[int, ...]]:
    """Whether every line of a callchain has a frame id (was seen before)."""
    return None not in frame_ids


def _split_time(header: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(prefix, time, suffix) around the first ``TIME: `` of a header, or None: the way
    `BlockReader` looks a header up among the templates."""
    colon = header.find(b": ")
    if colon <= 0:
        return None
    blank = header.rfind(b" ", 0, colon)  # a tab after it makes the time invalid below
    stamp = header[blank + 1 : colon]
    whole, dot, fraction = stamp.partition(b".")
    if not (dot and whole.isdigit() and fraction.isdigit()):
        return None
    return header[: blank + 1], stamp, header[colon:]


class BlockReader:
    """Feeds blocks of `perf script` text to an `Assembler` (see the module docstring).

    Call `feed` with consecutive blocks of whole lines (the bytes without the final newline,
    as `analyzer.inputs.iter_line_chunks` cuts them), or `feed_raw` with consecutive pieces
    of the input's bytes cut anywhere (not both), then `finish`. Bytes that are not UTF-8
    are decoded as ``\\xNN``, as `analyzer.inputs` does for the Arrow lines; ``\\r`` is the
    caller's business (`analyzer.inputs` removes it at line ends).
    """

    CARRY_LIMIT = 1 << 20
    """The unfinished piece at the end of a block waits for the next block up to this size;
    a longer one (a recording without blank lines) is read line by line at once."""
    HEADER_LIMIT = 1 << 16
    """Header templates (and header lines without a time) remembered at most."""
    CACHE_LIMIT = 64 << 20
    """Bytes of callchain text remembered; past this the dictionary of callchains restarts."""
    LINE_LIMIT = 1 << 18
    """Frame lines remembered (their frame and id); past this they restart. The frames
    themselves stay distinct: the assembler numbers them by value (`Assembler.frame_ids`)."""

    def __init__(self, assembler: Assembler | None = None) -> None:
        self.assembler = assembler if assembler is not None else Assembler()
        self.bodies: dict[bytes, tuple[int, int]] = {}
        """Frame lines of a sample (the bytes between header and blank line) -> (stack id,
        number of lines)."""
        self.body_bytes = 0
        self.frames: dict[bytes, FrameKey] = {}
        """A frame line -> its frame."""
        self.frame_ids_by_line: dict[bytes, int] = {}
        """A frame line -> the id of its frame, once it has one."""
        self.headers: dict[tuple[bytes, bytes], PerfRecord] = {}
        """Sample header templates: (bytes before the time, bytes from the ``:`` after it) ->
        the record of such a header with ``time_ns`` None (see `perf_scan.header_time_span`)."""
        self.untimed: dict[bytes, PerfRecord] = {}
        """Sample header lines without a time (they repeat as they are) -> their record."""
        self._carry: bytes | None = None
        """The input after the last blank line read (raw: cut anywhere; lines: whole lines)."""
        self._carry_line_no = 1
        self._raw: bool | None = None

    def feed(self, block: bytes, first_line_no: int) -> None:
        """Read a block of whole lines (no final newline), the first numbered `first_line_no`."""
        self._mode(raw=False)
        carry = self._carry
        if carry is None:
            self._carry_line_no = first_line_no
            pieces = block.split(b"\n\n")
        elif carry.endswith(b"\n") or block.startswith(b"\n"):  # a blank line at the joint
            pieces = (carry + b"\n" + block).split(b"\n\n")
        else:
            pieces = block.split(b"\n\n")
            pieces[0] = carry + b"\n" + pieces[0]
        self._take(pieces)

    def feed_raw(self, data: bytes) -> None:
        """Read the next bytes of the input (cut anywhere; numbered from line 1)."""
        self._mode(raw=True)
        carry = self._carry
        if carry is None:
            pieces = data.split(b"\n\n")
        elif carry.endswith(b"\n") and data.startswith(b"\n"):  # "\n\n" across the cut
            pieces = (carry + data).split(b"\n\n")
        else:
            pieces = data.split(b"\n\n")
            pieces[0] = carry + pieces[0]
        self._take(pieces)

    def _mode(self, raw: bool) -> None:
        if self._raw is None:
            self._raw = raw
        elif self._raw != raw:
            raise ValueError("feed and feed_raw cannot be mixed")

    def _take(self, pieces: list[bytes]) -> None:
        """Read every piece but the last (each is followed by a blank line); keep the last."""
        tail = pieces.pop()
        line_no = self._pieces(pieces, self._carry_line_no) if pieces else self._carry_line_no
        if len(tail) > self.CARRY_LIMIT:
            # lines that no blank line ends (yet): read them now, with the Assembler's state
            if not self._raw:
                self._carry, self._carry_line_no = None, self._lines(tail, line_no)
                return
            cut = tail.rfind(b"\n")
            if cut >= 0:
                line_no = self._lines(tail[:cut], line_no)
                tail = tail[cut + 1 :]  # a line not ended yet
        self._carry, self._carry_line_no = tail, line_no

    def finish(self) -> Assembler:
        """The input ended: read what is left and close the last sample."""
        carry = self._carry
        if carry is not None and (carry or not self._raw):
            if self._raw and carry.endswith(b"\n"):
                carry = carry[:-1]  # the newline that ends the last line
            self._lines(carry, self._carry_line_no)
        self._carry = None
        self.assembler.end()
        return self.assembler

    def _pieces(self, pieces: list[bytes], line_no: int) -> int:
        """Read the lines of each piece and the blank line after it; return the next line
        number."""
        assembler = self.assembler
        bodies = self.bodies
        headers = self.headers
        sample_lines = assembler.sample_lines
        sample_records = assembler.sample_records
        sample_times = assembler.sample_times
        sample_stacks = assembler.sample_stacks
        assembler.saw_blank = True  # every piece is followed by a blank line
        for piece in pieces:
            newline = piece.find(b"\n")
            if newline > 0 and piece[0] != 9:  # a header candidate and frame lines
                header = piece[:newline]
                record = stamp = None
                colon = header.find(b": ")
                if colon > 0:  # "prefix TIME: suffix"? (as `_split_time` cuts it)
                    blank = header.rfind(b" ", 0, colon)
                    stamp = header[blank + 1 : colon]
                    whole, dot, fraction = stamp.partition(b".")
                    # (ten digits or more of seconds may overflow int64 nanoseconds)
                    if dot and whole.isdigit() and fraction.isdigit() and len(whole) < 10:
                        record = headers.get((header[: blank + 1], header[colon:]))
                if record is None:
                    record, stamp = self._header(header)
                if record is not None and record[0] == "sample" and record[13] is None:
                    body = piece[newline + 1 :]
                    known = bodies.get(body)
                    if known is None:
                        known = self._body(body)
                    stack_id, lines = known
                    if stack_id >= 0:
                        # = the header, its frame lines and the blank line after them
                        if assembler.current is not None:
                            assembler.finish_sample(cut=False)
                        sample_lines.append(line_no)
                        sample_records.append(record)
                        sample_times.append(stamp)
                        sample_stacks.append(stack_id)
                        line_no += lines + 2
                        continue
            line_no = self._lines(piece, line_no)
            # the blank line that ended the piece
            if assembler.current is not None:
                assembler.finish_sample(cut=False)
            line_no += 1
        return line_no

    def _header(self, header: bytes) -> tuple[PerfRecord | None, bytes | None]:
        """(`scan_line` record, None) of a header candidate, or (template, time text) when
        the header is a sample with a time and no payload: then its template is remembered
        under the text around the time (`_pieces` finds it there)."""
        record = self.untimed.get(header)
        if record is not None:
            return record, None
        text = header.decode("utf-8", "backslashreplace")
        record = scan_line(text)
        if record is not None and record[0] in _NUMBERED and not all_fit(record):
            return None, None  # read line by line, where `Assembler.add` rejects it
        if (
            record is None
            or record[0] != "sample"
            or record[9] is not None  # a payload: the same header does not come back
            or len(self.headers) + len(self.untimed) >= self.HEADER_LIMIT
        ):
            return record, None
        if record[6] is None:  # time_ns
            self.untimed[header] = record
            return record, None
        span = header_time_span(text)
        parts = _split_time(header)
        if span is None or parts is None:
            return record, None
        prefix, stamp, suffix = parts
        start, end = span
        # the same cut as the scanner's, in the decoded text (bytes < 0x80 decode alone)
        if prefix.decode("utf-8", "backslashreplace") != text[:start] or stamp != text[
            start:end
        ].encode("ascii"):
            return record, None
        template = self.headers[prefix, suffix] = record._replace(time_ns=None)
        return template, stamp

    def _body(self, body: bytes) -> tuple[int, int]:
        """(stack id, lines) of frame lines never seen together before; the stack id is
        `_NOT_PLAIN` unless every line is a frame."""
        lines = body.split(b"\n")
        if len(self.frame_ids_by_line) > self.LINE_LIMIT:
            self.frame_ids_by_line.clear()
            self.frames.clear()
        seen = tuple(map(self.frame_ids_by_line.get, lines))  # in C: the frames seen before
        if _all_known(seen):
            chain = seen
        else:
            keys: list[FrameKey] = []
            for line in lines:
                key = self._frame_key(line)
                if key is None:
                    return self._remember(body, _NOT_PLAIN, len(lines))
                keys.append(key)
            frame_id = self.assembler.frame_id
            ids = []
            for line, key in zip(lines, keys, strict=True):
                known = self.frame_ids_by_line[line] = frame_id(key)
                ids.append(known)
            chain = tuple(ids)
        return self._remember(body, self.assembler.chain_id(chain), len(lines))

    def _frame_key(self, line: bytes) -> FrameKey | None:
        """The frame of a line, or None when the line is not a frame."""
        key = self.frames.get(line)
        if key is None:
            record = parse_line(line.decode("utf-8", "backslashreplace"))  # scanner, then grammar
            if isinstance(record, Unparsed) or record.kind != "frame":
                return None
            dso = record.dso
            key = self.frames[line] = (
                record.addr,
                record.symbol,
                record.offset,
                dso,
                None,
                dso == "inlined",
            )
        return key

    def _remember(self, body: bytes, stack_id: int, lines: int) -> tuple[int, int]:
        self.body_bytes += len(body)
        if self.body_bytes > self.CACHE_LIMIT:
            self.bodies.clear()
            self.body_bytes = len(body)
        known = self.bodies[body] = (stack_id, lines)
        return known

    def _lines(self, data: bytes, line_no: int) -> int:
        """Read `data` line by line (scanner, then grammar); return the next line number."""
        add = self.assembler.add
        for raw in data.split(b"\n"):
            text = raw.decode("utf-8", "backslashreplace")
            record = scan_line(text)
            add(line_no, text, record if record is not None else grammar_line(text))
            line_no += 1
        return line_no
