"""Reference parser for `perf script` text, driven by the grammar `grammars/perf.lark`.

This is the slow-but-obviously-correct parser: every line goes through an LALR parser built
from the grammar, which is the formal specification of the format. The fast scanner
(`perf_scan`) must produce the same `PerfRecord` for every line; tests compare the two.

`parse_line(text)` reduces one line to a `PerfRecord` (field rules in
`analyzer.formats.perf_record`) or to `Unparsed(reason)`. It tries the grammar's ``line``
start symbol first and, when that fails, ``bare_frame`` (a frame indented with spaces or not
at all, as old perf versions printed them); the payload of a sample is read as a frame with
``bare_frame`` too, when it has a DSO. The trees are reduced by `_RecordBuilder`, a
`lark.Transformer` with one typed method per grammar rule.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from analyzer.formats import grammar
from analyzer.formats.lark_transform import InlineTransformer
from analyzer.formats.perf_record import (
    BLANK,
    PerfRecord,
    Unparsed,
    seconds_text_to_ns,
    split_offset,
)

__all__ = ["build_parser", "parse_line"]

GRAMMAR = "perf.lark"
START_SYMBOLS: tuple[str, ...] = ("line", "bare_frame")


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/perf.lark` with both start symbols."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


def parse_line(text: str) -> PerfRecord | Unparsed:
    """Parse one line of `perf script` output (without its newline) into a record."""
    parser = _parser()
    try:
        tree = parser.parse(text, start="line")
    except UnexpectedInput as exc:
        try:
            tree = parser.parse(text, start="bare_frame")
        except UnexpectedInput:
            return Unparsed(reason=_reason(text, exc))
    return _BUILDER.transform(tree)


def _reason(text: str, exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return "line ends before the event name (no `name:` after the tid/time)"
        shown = token.value if len(token.value) <= 24 else token.value[:21] + "..."
        return f"unexpected {shown!r} at column {token.column}"
    return str(exc).splitlines()[0]


# The pieces of a record that the rules of a header reduce to (`_RecordBuilder`).


class _Task(NamedTuple):
    """``task``: ``11709 `` (TID) or ``8798/8798 `` (-F +pid)."""

    pid: int | None
    tid: int


class _Time(NamedTuple):
    """``time``: ``303.512366: `` and the period after it, if printed."""

    ns: int
    period: int | None


class _Event(NamedTuple):
    """``event_part``: the event (or side-band record) name, the payload, and the frame of
    a sample printed without callchain (read from its payload)."""

    kind: str
    name: str
    payload: str | None
    frame: PerfRecord | None


_NO_HEADER = (None,) * 9
"""The header fields of a record (``comm`` to ``payload``), None in a frame's record (records
are built positionally: keyword arguments cost more than the rest of a frame's fields)."""

# The field order that the positional constructions below rely on.
assert " ".join(PerfRecord._fields[1:14]) == (
    "comm pid tid cpu tod time_ns period event payload addr symbol offset dso"
)


class _RecordBuilder(InlineTransformer[PerfRecord]):
    """Tree of the ``line`` or ``bare_frame`` start symbol -> `PerfRecord`.

    Stateless (no field needs the line's text: the tokens of a rule are contiguous, so the
    comm is their concatenation), so one instance serves every line and thread.
    """

    # -- headers: COMM TID [CPU] [TOD] [TIME: [PERIOD]] EVENT: [PAYLOAD] ------------------

    def record_line(
        self,
        _pad: Token | None,
        comm: str,
        task: _Task,
        cpu: Token | None,
        tod: Token | None,
        time: _Time | None,
        event: _Event,
    ) -> PerfRecord:
        return _record(comm.rstrip(" \t"), task, cpu, tod, time, event)

    def record_line_from_cpu(
        self, _pad: Token | None, cpu: Token, tod: Token | None, time: _Time, event: _Event
    ) -> PerfRecord:
        return _record(None, None, cpu, tod, time, event)

    def record_line_from_tod(
        self, _pad: Token | None, tod: Token, time: _Time, event: _Event
    ) -> PerfRecord:
        return _record(None, None, None, tod, time, event)

    def record_line_from_time(self, _pad: Token | None, time: _Time, event: _Event) -> PerfRecord:
        return _record(None, None, None, None, time, event)

    def comm(self, head: str, word: Token | None = None) -> str:
        """The words and the blanks between them (and after the last: stripped later)."""
        return head if word is None else head + word.value

    def task(self, token: Token) -> _Task:
        value = token.value.strip()
        if "/" in value:
            pid, _, tid = value.partition("/")
            return _Task(int(pid), int(tid))
        return _Task(None, int(value))

    def time(self, stamp: Token, period: Token | None) -> _Time:
        ns = seconds_text_to_ns(stamp.value.strip()[:-1])
        return _Time(ns, int(period.value) if period is not None else None)

    def event_part(self, name: Token, payload: Token | None) -> _Event:
        sideband = name.type == "SIDEBAND"
        kind = "sideband" if sideband else "sample"
        event = name.value[:-1] if name.value.endswith(":") else name.value
        body = payload.value.strip() if payload is not None else ""
        if not body:
            return _Event(kind, event, None, None)
        return _Event(kind, event, body, None if sideband else _payload_frame(body))

    # -- callchain frames, source lines, comments, blank lines ------------------------------

    def frame_line(self, address: Token, symbol: Token | None, dso: Token | None) -> PerfRecord:
        name: str | None = None
        offset: str | None = None
        dso_text = dso.value[2:-1] if dso is not None else None
        if symbol is not None:
            value = symbol.value.lstrip(" \t")
            name, offset = split_offset(value if dso is not None else value.rstrip(" \t"))
        addr = address.value.lstrip(" \t")
        return PerfRecord("frame", *_NO_HEADER, addr, name, offset, dso_text)

    bare_frame = frame_line  # the same, with any indentation (BARE_ADDRESS)

    def srcline_line(self, location: Token, inlined: Token | None) -> PerfRecord:
        return PerfRecord(
            "srcline", text=location.value.strip(), dso="inlined" if inlined is not None else None
        )

    def comment_line(self, comment: Token) -> PerfRecord:
        return PerfRecord("comment", text=comment.value.rstrip())  # the token is the line

    def blank_line(self, _blank: Token | None) -> PerfRecord:
        return BLANK


_BUILDER = _RecordBuilder()


def _record(
    comm: str | None,
    task: _Task | None,
    cpu_field: Token | None,
    tod_field: Token | None,
    time: _Time | None,
    event: _Event,
) -> PerfRecord:
    pid, tid = task if task is not None else (None, None)
    cpu = int(cpu_field.value.strip()[1:-1]) if cpu_field is not None else None
    tod = tod_field.value.strip() if tod_field is not None else None
    time_ns, period = time if time is not None else (None, None)
    kind, name, payload, frame = event
    if frame is None:
        return PerfRecord(kind, comm, pid, tid, cpu, tod, time_ns, period, name, payload)
    addr, symbol, offset, dso = frame.addr, frame.symbol, frame.offset, frame.dso
    return PerfRecord(
        kind, comm, pid, tid, cpu, tod, time_ns, period, name, payload, addr, symbol, offset, dso
    )


def _payload_frame(body: str) -> PerfRecord | None:
    """The frame of a single-line sample (``ip sym+off (dso)``), when the payload is one."""
    try:
        tree = _parser().parse(body, start="bare_frame")
    except UnexpectedInput:
        return None
    frame = _BUILDER.transform(tree)
    return frame if frame.dso is not None else None
