"""`perf script` text read the way FlameGraph's ``stackcollapse-perf.pl`` reads it.

Folded stacks are a peer tool's output, so their specification is that tool: the current
``stackcollapse-perf.pl`` (FlameGraph 41fee1f, 2024-10-21), not `grammars/perf.lark`. This
module is the reading half of that script, `analyzer.derive.perf_fold` the folding half; both
work on bytes, so no text is decoded on the hot path.

The script reads a line at a time with three regular expressions and a little state (the
process name ``$pname`` of the sample being read and its ``@stack``):

- ``#...`` lines are skipped; an empty line ends a sample: when a process name is set, the
  stack (process name first) is counted with the sample's period and the state is cleared;
- a line matching ``^(\\S.+?)\\s+(\\d+)\\/*(\\d+)*\\s+`` is a **header** (comm, pid, tid);
  ``:\\s*(\\d+)*\\s+(\\S+):\\s*$`` gives its period and event. A header whose event is not
  the one folded (``--event-filter``, else the first event the script meets, with a note on
  stderr) is skipped *without* changing the state; otherwise it sets the process name and
  period (the stack is not cleared: frames of a sample that no empty line ended stay);
- a line matching ``^\\s*(\\w+)\\s*(.+) \\((.*)\\)`` is a **frame** (address, symbol, DSO),
  added at the root end of the stack when a process name is set; a symbol starting with
  ``(`` is skipped;
- anything else is "Unrecognized" (a warning on the script's stderr) and changes nothing.

So the state is clean (no process name, empty stack) after every empty line, and the folded
result is a sum over the **pieces** of the input between empty lines. `CollapseReader` cuts
each block of input at its empty lines (``bytes.split``, in C) and reads each piece:

- the common piece, a header and then only frame lines (or only the header), is one
  dictionary lookup for the header (by its text around the time and the period, see
  `header_key`), one for the frame lines together (``bodies``), and, for frame lines never
  seen together, one lookup per line (``map`` over the lines, in C); it adds its period to
  ``pairs[(header, chain)]``;
- any other piece (headers one after another, a comment between frames, ...) is kept as its
  sequence of tokens, and `analyzer.derive.perf_fold` replays the script's state machine over
  it;
- the piece after the last empty line is not counted (the script counts a sample only at an
  empty line), but its headers still count for the default event.

What the reader keeps does not depend on the fold options (they only change names and which
headers are skipped), so a parse can read once and fold with the run's options later; the
pipeline does so only for input it cannot read again (stdin, a pipe): a file is read again
with the options known (`analyzer.derive.perf.folded_and_note`).
What it keeps grows with the distinct (header, callchain) pairs and distinct frame lines;
`analyzer.derive.perf_fold.StreamingFolder` bounds it when the options are known up front.

Differences from the script, on purpose: ``\\r`` before a newline and bytes that are not UTF-8
are the input layer's business (`analyzer.inputs` removes the former and writes the latter as
``\\xNN``); the script's ``--inline``, ``--context`` and ``--srcline`` (addr2line and
``-F +srcline`` input) are not supported; periods are whole numbers (the script turns a sum
past 2^64 into a rounded floating-point number).
"""

from __future__ import annotations

import re
from typing import NamedTuple, cast

__all__ = [
    "BLANKS",
    "EVENT",
    "FRAME",
    "HEADER",
    "CollapseReader",
    "Frame",
    "Header",
    "header_key",
    "read_frame",
    "read_header",
]

HEADER = re.compile(rb"(\S.+?)\s+(\d+)/*(\d+)*\s+")
"""The script's ``^(\\S.+?)\\s+(\\d+)\\/*(\\d+)*\\s+`` (``match``: anchored at the start)."""
EVENT = re.compile(rb":\s*(\d+)*\s+(\S+):\s*$")
"""The script's ``:\\s*(\\d+)*\\s+(\\S+):\\s*$`` (``search``)."""
FRAME = re.compile(rb"\s*(\w+)\s*(.+) \((.*)\)")
"""The script's ``^\\s*(\\w+)\\s*(.+) \\((.*)\\)`` (``match``)."""
_OFFSET = re.compile(rb"\+0x[\da-f]+$")

SKIP = -1
"""A line that changes nothing: a comment, an unrecognised line, a skipped frame."""
HEADERISH = -2
"""A line after the first one of a piece that the script reads as a header."""
UNKEYED = -3
"""A line whose key (its text without the address) does not decide what it is."""
_ADDRESS = re.compile(rb"[ \t\f\v\r]+\w+")
"""The indent and address of a frame line (the script's ``^\\s*(\\w+)``, within a line)."""
_ADDRESSES = re.compile(rb"\n[ \t\f\v\r]+\w+")
"""`_ADDRESS` after every newline (a literal first: faster than ``^`` with MULTILINE)."""
BLANKS = b" \t\n\r\f\v"
"""Python's ``\\s`` in a bytes pattern, and Perl's for a byte string (5.18 and later)."""


class Header(NamedTuple):
    """What the script takes from a header line (bytes as printed)."""

    comm: bytes
    pid: bytes
    """``$2`` with a tid (``pid/tid``), else ``?``."""
    tid: bytes
    event: bytes | None
    """None when the line has no ``event:`` at its end (never filtered out)."""
    period: int
    """The period printed before the event; 1 when none (or 0) was printed."""


class Frame(NamedTuple):
    """What the script takes from a frame line, once the option-free steps are done."""

    pc: bytes
    """The address, when a function is ``[unknown]`` (``--addrs`` prints it), else empty."""
    functions: tuple[bytes, ...]
    """The symbol without its ``+0x..`` offset, split at ``->`` (Java inlining), trailing
    empty parts dropped (Perl's ``split``); never empty (such frames are skipped)."""
    module: bytes


def read_header(line: bytes) -> Header | None:
    """The header the script reads in `line`, or None when it is not one."""
    match = HEADER.match(line)
    if match is None:
        return None
    comm, pid, tid = match.groups()
    if tid is None or tid == b"0":  # Perl: `if (not $tid)`
        tid, pid = pid, b"?"
    event = EVENT.search(line)
    if event is None:
        return Header(comm, pid, tid, None, 1)
    period = event[1]
    return Header(comm, pid, tid, event[2], 1 if period is None or period == b"0" else int(period))


def read_frame(line: bytes) -> Frame | None:
    """The frame the script reads in `line` (not a header line), None when it skips it."""
    match = FRAME.match(line)
    if match is None:
        return None
    pc, function, module = match.groups()
    function = _OFFSET.sub(b"", function, count=1)
    if function.startswith(b"("):
        return None
    parts = function.split(b"->")
    while parts and not parts[-1]:
        parts.pop()
    if not parts:
        return None
    if b"[unknown]" not in parts:
        pc = b""  # the address is no part of the folded name
    return Frame(pc, tuple(parts), module)


def header_key(line: bytes) -> tuple[tuple[bytes, int, bytes] | None, bytes | None]:
    """(template, period digits) of a header line: the line without the digits of its time
    and of the period after it. perf prints ``comm tid [cpu] TIME: PERIOD event:``; the
    script's regular expressions treat every digit alike, so two headers that differ only
    in those digits read the same but for the period (`CollapseReader` checks, when it
    first reads a template, that no other field overlaps them). None when the line has no
    ``DIGITS.DIGITS: `` word."""
    colon = line.find(b": ")
    if colon <= 0:
        return None, None
    blank = line.rfind(b" ", 0, colon)
    whole, dot, fraction = line[blank + 1 : colon].partition(b".")
    if not (dot and whole.isdigit() and fraction.isdigit()):
        return None, None
    rest = line[colon + 1 :]
    stripped = rest.lstrip(b" ")
    space = stripped.find(b" ")
    digits = stripped[:space]
    if space > 0 and digits.isdigit():
        return (line[: blank + 1], len(rest) - len(stripped), stripped[space:]), digits
    return (line[: blank + 1], -1, rest), None


class CollapseReader:
    """Reads `perf script` bytes as stackcollapse-perf.pl does (see the module docstring).

    `feed` takes consecutive blocks of whole lines (no final newline, as
    `analyzer.inputs.LineChunk` blocks), `feed_raw` consecutive pieces of the input cut
    anywhere (not both); then `finish`. What is read is in `headers`, `frames`, `pairs` and
    `general`, which `analyzer.derive.perf_fold` folds.
    """

    BODY_CACHE_BYTES = 64 << 20
    """Bytes of callchain text remembered (``bodies``); past this the cache restarts."""
    TEMPLATE_LIMIT = 1 << 16
    """Header templates remembered at most (header lines of other shapes are read each time)."""

    def __init__(self) -> None:
        self.headers: list[Header] = []
        """Header id -> the header (with the period of the line it was first read from)."""
        self.header_ids: dict[Header, int] = {}
        self.frames: list[Frame] = []
        """Frame id -> the frame."""
        self.pairs: dict[tuple[int, tuple[int, ...]], int] = {}
        """(header id without period, frame ids leaf first) -> summed periods: the pieces
        of one header and its frame lines."""
        self.general: dict[tuple[object, ...], int] = {}
        """The other pieces, as their tokens (a frame id, or a (header id, period) pair for
        a header), -> how many times they occur."""
        self.first_event: bytes | None = None
        """The event of the first header with one: what the script folds by default."""
        self.other_event: bytes | None = None
        """The first event after it that differs (the script's stderr names it)."""
        self.unrecognized = 0
        """Distinct lines the script would warn about ("Unrecognized line")."""
        self._line_ids: dict[bytes, int] = {}
        """A line after a piece's first -> its frame id, `SKIP` or `HEADERISH`."""
        self._key_ids: dict[bytes, int] = {}
        """A line's key (`_ids_of_keys`) -> its frame id, `SKIP`, `HEADERISH` or
        `UNKEYED`."""
        self._frame_ids: dict[Frame, int] = {}
        self._templates: dict[tuple[bytes, int, bytes], tuple[int, int | None] | None] = {}
        """Header template -> (header id, period; None when the period is the template's
        digits), or None for a template whose digits the fields overlap (then read each
        line)."""
        self._lines: dict[bytes, tuple[int, int] | None] = {}
        """Whole first lines of pieces without a template -> (header id, period) or None."""
        self._bodies: dict[bytes, tuple[int, ...] | None] = {}
        self._body_bytes = 0
        self._carry: bytes | None = None
        self._raw: bool | None = None
        self._open: list[object] | None = None
        """Tokens of the piece being read line by line (a piece too long to wait for)."""

    # -- input ----------------------------------------------------------------------------

    CARRY_LIMIT = 1 << 20
    """The unfinished piece at the end of a block waits for the next block up to this size;
    a longer one (a dump without empty lines) is read line by line at once."""

    def feed(self, block: bytes) -> None:
        """Read a block of whole lines (without the final newline)."""
        self._mode(raw=False)
        carry = self._carry
        self._take((block if carry is None else carry + b"\n" + block).split(b"\n\n"))

    def feed_raw(self, data: bytes) -> None:
        """Read the next bytes of the input (cut anywhere)."""
        self._mode(raw=True)
        carry = self._carry
        pieces = (data if carry is None else carry + data).split(b"\n\n")
        self._take(pieces)

    def _mode(self, raw: bool) -> None:
        if self._raw is None:
            self._raw = raw
        elif self._raw != raw:
            raise ValueError("feed and feed_raw cannot be mixed")

    def _take(self, pieces: list[bytes]) -> None:
        tail = pieces.pop()
        if pieces:
            self._pieces(pieces)
        if len(tail) > self.CARRY_LIMIT:
            cut = tail.rfind(b"\n")
            if self._raw:
                if cut < 0:  # one line longer than the limit: wait for its end
                    self._carry = tail
                    return
                self._stream(tail[:cut])
                tail = tail[cut + 1 :]
            else:
                self._stream(tail)  # the open piece goes on in the next block
                self._carry = None
                return
        self._carry = tail

    def finish(self) -> CollapseReader:
        """The input ended: its last piece is not counted, but read for its events."""
        carry = self._carry or b""
        if self._raw and carry.endswith(b"\n"):
            carry = carry[:-1]  # the newline of the last line
        if carry:
            self._stream(carry)
        self._open = None  # no empty line ends it: not counted
        self._carry = None
        return self

    # -- pieces ---------------------------------------------------------------------------

    def _pieces(self, pieces: list[bytes]) -> None:
        """Count the pieces that an empty line ends (every one of `pieces`)."""
        templates = self._templates
        bodies = self._bodies
        pairs = self.pairs
        if self._open is not None:  # the piece read line by line ends here
            self._stream(pieces[0])
            self._close()
            pieces = pieces[1:]
        for piece in pieces:
            if not piece or piece[0] == 10:  # empty lines in a row: nothing to do
                piece = piece.lstrip(b"\n")
                if not piece:
                    continue
            newline = piece.find(b"\n")
            head = piece if newline < 0 else piece[:newline]
            template, digits = header_key(head)
            entry = templates.get(template) if template is not None else None
            known: tuple[int, int] | None
            if entry is not None:
                header_id, period = entry
                if period is None:  # the template's digits are the period
                    period = 1 if digits == b"0" else int(digits)  # type: ignore[arg-type]
                known = (header_id, period)
            else:
                known = self._header_of(head, template, digits)
                if known is None:
                    self._general(piece)
                    continue
            if newline < 0:
                chain: tuple[int, ...] | None = ()
            else:
                body = piece[newline + 1 :]
                chain = bodies.get(body)
                if chain is None:
                    chain = self._body(body)
                    if chain is None:
                        self._general(piece)
                        continue
            assert chain is not None
            key = (known[0], chain)
            pairs[key] = pairs.get(key, 0) + known[1]

    def _header_of(
        self,
        line: bytes,
        template: tuple[bytes, int, bytes] | None = None,
        digits: bytes | None = None,
        *,
        keyed: bool = True,
    ) -> tuple[int, int] | None:
        """(header id, period) of a line the script may read as a header, or None when it
        does not. Remembers the line's template when that is safe, else the line."""
        if not keyed:
            template, digits = header_key(line)
        if template is not None:
            entry = self._templates.get(template)
            if entry is not None:
                header_id, period = entry
                if period is None:
                    period = 1 if digits == b"0" else int(digits)  # type: ignore[arg-type]
                return header_id, period
        else:
            cached = self._lines.get(line, False)
            if cached is not False:
                return cached  # type: ignore[return-value]
        header = read_header(line) if line[:1] not in (b"#", b"") else None
        if header is None:
            if template is None and len(self._lines) < self.TEMPLATE_LIMIT:
                self._lines[line] = None
            return None
        result = (self._header_id(header), header.period)
        if template is None:
            if len(self._lines) < self.TEMPLATE_LIMIT:
                self._lines[line] = result
        elif template not in self._templates and len(self._templates) < self.TEMPLATE_LIMIT:
            self._templates[template] = self._template_entry(line, result, digits)
        return result

    @staticmethod
    def _template_entry(
        line: bytes, result: tuple[int, int], digits: bytes | None
    ) -> tuple[int, int | None] | None:
        """A template's entry: (header id, period), with None for the period when the
        script's period is the template's period digits; None when a field other than the
        period overlaps the time or the period digits (then such lines are read whole, as
        the digits would change the field)."""
        colon = line.find(b": ")
        blank = line.rfind(b" ", 0, colon)
        time_span = (blank + 1, colon)
        digit_span = (-1, -1)
        if digits is not None:
            rest = line[colon + 1 :]
            start = colon + 1 + len(rest) - len(rest.lstrip(b" "))
            digit_span = (start, start + len(digits))
        header = HEADER.match(line)
        assert header is not None
        fields = [header.span(1), header.span(2), header.span(3)]
        event = EVENT.search(line)
        by_digits = False
        if event is not None:
            fields.append(event.span(2))
            if digits is not None and event.span(1) == digit_span:
                by_digits = True
            else:
                fields.append(event.span(1))
        for start, end in fields:
            if start < 0:
                continue
            for low, high in (time_span, digit_span):
                if start < high and low < end:
                    return None
        return result[0], None if by_digits else result[1]

    def _header_id(self, header: Header) -> int:
        key = header._replace(period=0)
        header_id = self.header_ids.get(key)
        if header_id is None:
            header_id = self.header_ids[key] = len(self.headers)
            self.headers.append(header)
            event = header.event
            if event is not None:
                if self.first_event is None:
                    self.first_event = event
                elif self.other_event is None and event != self.first_event:
                    self.other_event = event
        return header_id

    def _body(self, body: bytes) -> tuple[int, ...] | None:
        """The frame ids (leaf first) of frame lines never seen together, or None when one
        of the lines is a header (or empty)."""
        lines = body.split(b"\n")
        ids = list(map(self._line_ids.get, lines))
        if None in ids:
            self._read_lines(body, lines, ids)
        found = cast("list[int]", ids)  # every line has its id now
        chain: tuple[int, ...] | None = None
        if HEADERISH not in found:
            chain = tuple(found if SKIP not in found else [i for i in found if i >= 0])
        self._body_bytes += len(body)
        if self._body_bytes > self.BODY_CACHE_BYTES:
            self._bodies.clear()
            self._body_bytes = len(body)
        self._bodies[body] = chain
        return chain

    def _read_lines(self, body: bytes, lines: list[bytes], ids: list[int | None]) -> None:
        """Fill in the ids of the lines never seen (None in `ids`).

        They are looked up by their key first: in real dumps the same frame comes at many
        addresses (and the address is no part of its folded name but for ``[unknown]``),
        so a line is read once per distinct key, not once per distinct line, and only
        the keys are remembered. A key is the line with its indent and address replaced
        by a NUL (a line that does not start with a blank is its own key); when most lines
        are new, the keys of the whole body are made at once."""
        line_ids = self._line_ids
        if b"\x00" in body:  # keys start with NUL: read such lines whole
            for index, line in enumerate(lines):
                if ids[index] is None:
                    ids[index] = line_ids[line] = self._line_id(line)
            return
        keys: list[bytes] | None = None
        if ids.count(None) * 2 > len(ids):
            keys = _ADDRESSES.sub(b"\n\x00", b"\n" + body)[1:].split(b"\n")
        key_ids = self._key_ids
        index = -1
        for _ in range(ids.count(None)):
            index = ids.index(None, index + 1)  # the next line never seen (a C scan)
            line = lines[index]
            if keys is not None:
                key = keys[index]
            else:
                address = _ADDRESS.match(line)
                key = line if address is None else b"\x00" + line[address.end() :]
            found = key_ids.get(key)
            if found is None:
                found = key_ids[key] = self._key_id(key, line)
            if found == UNKEYED:
                found = line_ids.get(line)
                if found is None:
                    found = line_ids[line] = self._line_id(line)
            ids[index] = found

    def _key_id(self, key: bytes, line: bytes) -> int:
        """The id of every line with this key, or `UNKEYED` when the line's own text
        (its address) decides: an ``[unknown]`` symbol (``--addrs`` prints the address),
        a line the script does not read as a frame, or one whose address is not the whole
        first word for the script's regular expression."""
        if key[:1] != b"\x00":
            return self._line_id(line)
        match = FRAME.match(line)
        if match is None or match.end(1) != len(line) - len(key) + 1:
            return UNKEYED
        frame = read_frame(line)
        if frame is None:
            return SKIP  # a symbol starting with "(", or empty: whatever the address
        if frame.pc:
            return UNKEYED
        return self._frame_id(frame)

    def _line_id(self, line: bytes) -> int:
        """A line after the first of a piece: its frame id, `SKIP` or `HEADERISH`."""
        if not line:
            return HEADERISH  # an empty line: never inside a piece, read it token by token
        if line[0] not in BLANKS:
            if line[0] == 35:  # "#"
                return SKIP
            if HEADER.match(line) is not None:
                return HEADERISH
        frame = read_frame(line)
        if frame is None:
            if FRAME.match(line) is None:
                self.unrecognized += 1
            return SKIP
        return self._frame_id(frame)

    def _frame_id(self, frame: Frame) -> int:
        frame_id = self._frame_ids.get(frame)
        if frame_id is None:
            frame_id = self._frame_ids[frame] = len(self.frames)
            self.frames.append(frame)
        return frame_id

    def open_piece(self) -> list[object] | None:
        """The tokens of a piece being read line by line, if any."""
        return self._open

    def line_count(self) -> int:
        """Distinct lines (and keys) remembered as frames (or as lines to skip)."""
        return len(self._line_ids) + len(self._key_ids)

    def forget_frames(self) -> None:
        """Forget the frames and the lines read as frames, to bound memory: only when
        nothing read refers to them (`pairs` and `general` folded and emptied, no piece
        open); frame ids start again from 0."""
        if self.pairs or self.general or self._open is not None:
            return
        self.frames.clear()
        self._frame_ids.clear()
        self._line_ids.clear()
        self._key_ids.clear()
        self._bodies.clear()
        self._body_bytes = 0

    # -- pieces of other shapes -----------------------------------------------------------

    def _general(self, piece: bytes) -> None:
        """A piece of any shape, ended by an empty line: its tokens."""
        self._open = []
        self._stream(piece)
        self._close()

    def _stream(self, data: bytes) -> None:
        """Lines of the open piece (read line by line; empty lines end pieces)."""
        tokens = self._open
        if tokens is None:
            tokens = self._open = []
        for line in data.split(b"\n"):
            if not line:
                if tokens:
                    self._open = tokens
                    self._close()
                tokens = self._open = []
                continue
            token = self._token(line)
            if token is None:
                continue
            if isinstance(token, tuple) and tokens and isinstance(tokens[-1], tuple):
                # headers in a row: for any event folded, only the last of each event can
                # decide the process name (and whether one is set), so keep only those
                event = self.headers[token[0]].event
                for index in range(len(tokens) - 1, -1, -1):
                    previous = tokens[index]
                    if not isinstance(previous, tuple):
                        break
                    if self.headers[previous[0]].event == event:
                        del tokens[index]
                        break
            tokens.append(token)
        self._open = tokens

    def _token(self, line: bytes) -> object:
        """A header as (header id, period), a frame as its id, or None."""
        first = line[0]
        if first == 35:  # "#"
            return None
        if first not in BLANKS:
            header = self._header_of(line, keyed=False)
            if header is not None:
                return header
        line_id = self._line_ids.get(line)
        if line_id is None:
            line_id = self._line_id(line)
        return line_id if line_id >= 0 else None

    def _close(self) -> None:
        """An empty line ends the open piece."""
        tokens = self._open
        self._open = None
        if tokens:
            key = tuple(tokens)
            self.general[key] = self.general.get(key, 0) + 1
