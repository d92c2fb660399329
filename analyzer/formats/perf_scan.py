"""Fast `perf script` line scanner: the hot path, equal to the grammar on every line it reads.

`scan_line(text)` classifies a line by its first character and reads the common shapes with
string operations and one anchored regex per header:

- ``""`` -> blank; ``#...`` -> comment;
- ``\\t`` + hex address -> frame: the DSO is found by matching the final ``)`` backwards to its
  ``(`` (at most two levels, as the grammar's ``DSO`` terminal), the symbol is what lies
  between, its ``+0x..`` offset split off;
- two spaces + a source location -> srcline;
- a line without an event word (no ``name:`` before a blank or the end, no ``PERF_RECORD_``)
  cannot be a header -> a frame as old perf versions printed them (indented with spaces or
  not at all; the grammar's ``bare_frame``), read as a tab-indented frame is;
- anything else -> a sample/side-band header, read right-anchored: the tid is the last number
  before ``[cpu]``/time/event, and the comm is checked word by word for the tokens that would
  make the grammar end it earlier (a number followed by ``[cpu]``, a time or an ``event:``).

Whenever a line is not one of these shapes, or is one where the grammar's lexer could decide
differently, it returns None and the caller hands the line to the grammar (`perf_lark`): the
scanner never guesses. Tests check `scan_line(x) in (None, perf_lark.parse_line(x))` on every
fixture line and on generated lines.
"""

from __future__ import annotations

import re

from analyzer.formats.perf_record import BLANK, PerfRecord, split_offset

_HEX = frozenset("0123456789abcdef")
_BLANKS = " \t"

_HEADER = re.compile(
    r"[ \t]*(?P<comm>[^ \t].*?)[ \t]+(?:(?P<pid>-?[0-9]+)/)?(?P<tid>-?[0-9]+)[ \t]+"
    r"(?:\[(?P<cpu>[0-9]+)\][ \t]+)?"
    r"(?:(?P<tod>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)[ \t]+)?"
    r"(?:(?P<time>[0-9]+\.[0-9]+):[ \t]+(?:(?P<period>[0-9]+)[ \t]+)?)?"
    r"(?P<event>PERF_RECORD_[A-Z0-9_]+:?|[^ \t]+:)(?P<rest>[ \t].*)?"
)
_SRCLINE = re.compile(
    r"  ([^\s:\[\]]+:[0-9?]+|[^\s\[\]]+\[[0-9a-fx]+\]|\[JIT\] tid [0-9]+\[[0-9a-fx]+\])"
    r"( \(inlined\))?"
)
_NUMBER = re.compile(r"-?[0-9]+")
# comm words that the grammar's lexer takes as something else after a number word
_FOLLOWER = re.compile(
    r"\[[0-9]+\]|[0-9]+\.[0-9]+:|[^ \t]*:|PERF_RECORD_[A-Z0-9_]+:?|[0-9]{4}-[0-9]{2}-[0-9]{2}"
)
_FIRST_WORD = re.compile(r"\[[0-9]+\]|[0-9]+\.[0-9]+:|[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PID_TID = re.compile(r"-?[0-9]+/-?[0-9]+")
_SIDEBAND = re.compile(r"PERF_RECORD_[A-Z0-9_]+:?")
_TIME = re.compile(r"[0-9]+\.[0-9]+:")
_EVENT_WORD = re.compile(r"[^ \t]:(?![^ \t])|PERF_RECORD_")
"""What every header line contains (the grammar's ``EVENT`` or ``SIDEBAND`` terminal)."""
_THIRD_AFTER_TWO_BLANKS = (" ", "\t")
_WORD_STARTS = frozenset("[-0123456789")
"""The first characters of the words `_FIRST_WORD` and `_PID_TID` match."""
_NO_HEADER = (None,) * 9
_new = tuple.__new__


def _frame_record(addr: str, symbol: str | None, offset: str | None, dso: str | None) -> PerfRecord:
    """``PerfRecord("frame", addr=..., ...)``, built without keyword handling (hot path)."""
    return _new(PerfRecord, ("frame", *_NO_HEADER, addr, symbol, offset, dso, None))


def scan_line(text: str) -> PerfRecord | None:
    """The record of one line, or None when the grammar must decide."""
    if not text:
        return BLANK
    first = text[0]
    if first == "\t":
        body = text.lstrip(_BLANKS)
        if not body:
            return BLANK
        return _frame(body, require_dso=False)
    if first == "#":
        return PerfRecord("comment", text=text.rstrip())
    if first == " " and text.startswith("  "):
        match = _SRCLINE.fullmatch(text)
        if match is not None:
            return PerfRecord(
                "srcline", text=match[1], dso="inlined" if match[2] is not None else None
            )
        if not text.strip(_BLANKS):
            return BLANK
    elif first == " " and not text.strip(_BLANKS):
        return BLANK
    if _EVENT_WORD.search(text) is None:
        # Not a header: every header has an event word ("name:" before a blank or the end)
        # or a PERF_RECORD_ name. Nor a srcline (its third character is not a blank), a
        # comment or a blank line (seen above), or a tab-indented frame: so the grammar
        # can only read it as a `bare_frame`, an old perf's frame indented with spaces or
        # not at all.
        if text.startswith("  ") and text[2:3] not in _THIRD_AFTER_TWO_BLANKS:
            return None  # a srcline shape the scanner did not read: the grammar decides
        return _frame(text.lstrip(_BLANKS), require_dso=False)
    return _header(text)


def _frame(body: str, require_dso: bool) -> PerfRecord | None:
    """``hex [sym[+0xoff]] [(dso)]`` with the leading blanks already removed."""
    space = body.find(" ")
    addr = body if space < 0 else body[:space]
    if not addr or not _HEX.issuperset(addr):
        return None
    if space < 0:
        return None if require_dso else _frame_record(addr, None, None, None)
    rest = body[space:]
    if "\t" in rest:
        return None
    symbol: str | None
    offset: str | None
    dso: str | None = None
    start = _dso_start(rest)
    if start == 1:  # "addr (dso)": no symbol printed
        dso = rest[2:-1]
        symbol = offset = None
    elif start > 1 and rest[start - 1] == " ":
        dso = rest[start + 1 : -1]
        symbol, offset = split_offset(rest[: start - 1].lstrip(" "))
    else:
        stripped = rest.strip(" ")
        if not stripped:
            return None
        symbol, offset = split_offset(stripped)
    if require_dso and dso is None:
        return None
    return _frame_record(addr, symbol, offset, dso)


def _dso_start(rest: str) -> int:
    """Index of the ``(`` matching a final ``)`` (at most two levels deep), else -1."""
    if not rest.endswith(")"):
        return -1
    start = rest.rfind("(")
    if start >= 0 and rest.find(")", start) == len(rest) - 1:
        return start  # the common case: no parentheses inside the DSO
    depth = 0
    for index in range(len(rest) - 1, -1, -1):
        char = rest[index]
        if char == ")":
            depth += 1
            if depth > 2:
                return -1
        elif char == "(":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _header(text: str) -> PerfRecord | None:
    match = _HEADER.fullmatch(text)
    if match is None:
        return None
    comm, pid, tid, cpu, tod, time, period, event, rest = match.groups()
    if not _comm_is_plain(comm):
        return None
    if time is None and _TIME.fullmatch(event):
        return None
    if event.startswith("PERF_RECORD_") and _SIDEBAND.fullmatch(event):
        kind = "sideband"
        event = event[:-1] if event.endswith(":") else event
    else:
        kind = "sample"
        event = event[:-1]
    payload: str | None = None
    addr = symbol = offset = dso = None
    if rest is not None:
        if "\t" in rest:
            return None
        payload = rest.strip() or None
        if payload is not None and kind == "sample":
            frame = _frame(payload, require_dso=True)
            if frame is not None:
                addr, symbol, offset, dso = frame[10:14]
    return _new(
        PerfRecord,
        (
            kind,
            comm,
            int(pid) if pid is not None else None,
            int(tid),
            int(cpu) if cpu is not None else None,
            tod,
            _ns(time) if time is not None else None,
            int(period) if period is not None else None,
            event,
            payload,
            addr,
            symbol,
            offset,
            dso,
            None,
        ),
    )


def header_time_span(text: str) -> tuple[int, int] | None:
    """Where the time of a header line is (its ``[0-9]+.[0-9]+`` digits), or None.

    For a line that `scan_line` reads as a sample or side-band header with a time. The
    scanner's result does not depend on those digits beyond the time itself: the header is
    read word by word (each of its fields is whole words, separated by the same blanks), and
    every rule that a word of that shape ``T:`` meets or fails (comm word, tid, pid/tid,
    ``[cpu]``, either half of a tod, time, period, event, and the comm checks) it meets or
    fails whatever its digits are. So any line made of the same text before and after the
    digits and a time of the same shape in between is read the same, with that time:
    `perf_assemble.BlockReader` reads most headers this way, from a dictionary of such
    templates (tests/test_perf_assemble.py checks it on generated headers).
    """
    match = _HEADER.fullmatch(text)
    if match is None or match["time"] is None:
        return None
    return match.span("time")


def _comm_is_plain(comm: str) -> bool:
    """True when the grammar reads the same comm: no word of it ends the comm early."""
    if " " not in comm and "\t" not in comm:
        if comm[0] not in _WORD_STARTS:  # neither pattern can match
            return True
        return not (_FIRST_WORD.fullmatch(comm) or _PID_TID.fullmatch(comm))
    words = comm.replace("\t", " ").split()
    if _FIRST_WORD.fullmatch(words[0]):
        return False
    previous_is_number = False
    for word in words:
        if _PID_TID.fullmatch(word):
            return False
        if previous_is_number and _FOLLOWER.fullmatch(word):
            return False
        previous_is_number = _NUMBER.fullmatch(word) is not None
    return True


def _ns(text: str) -> int:
    """``"303.512366"`` -> 303512366000 (the text is ``[0-9]+.[0-9]+``)."""
    whole, _, frac = text.partition(".")
    return int(whole + (frac + "000000000")[:9])
