"""Reference parser for `perf script` text, driven by the grammar `grammars/perf.lark`.

This is the slow-but-obviously-correct parser: every line goes through an LALR parser built
from the grammar, which is the formal specification of the format. The fast scanner
(`perf_scan`) must produce the same `PerfRecord` for every line; tests compare the two.

`parse_line(text)` reduces one line to a `PerfRecord` (field rules in
`analyzer.formats.perf_record`) or to `Unparsed(reason)`. It tries the grammar's ``line``
start symbol first and, when that fails, ``bare_frame`` (a frame indented with spaces or not
at all, as old perf versions printed them); the payload of a sample is read as a frame with
``bare_frame`` too, when it has a DSO.
"""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from analyzer.formats import grammar
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
            frame = parser.parse(text, start="bare_frame")
        except UnexpectedInput:
            return Unparsed(reason=_reason(text, exc))
        return _frame_record(frame)
    return _line_record(text, tree.children[0])


def _reason(text: str, exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {text[exc.pos_in_stream]!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return "line ends before the event name (no `name:` after the tid/time)"
        shown = token.value if len(token.value) <= 24 else token.value[:21] + "..."
        return f"unexpected {shown!r} at column {token.column}"
    return str(exc).splitlines()[0]


def _line_record(text: str, tree: Tree) -> PerfRecord:
    kind = tree.data
    if kind == "blank_line":
        return BLANK
    if kind == "comment_line":
        return PerfRecord("comment", text=text.rstrip())
    if kind == "srcline_line":
        location, inlined = tree.children
        return PerfRecord(
            "srcline",
            text=location.value.strip(),
            dso="inlined" if inlined is not None else None,
        )
    if kind == "frame_line":
        return _frame_record(tree)
    return _record(text, tree)


def _frame_record(tree: Tree) -> PerfRecord:
    address, symbol, dso = tree.children
    return PerfRecord("frame", **_frame_fields(address, symbol, dso))


def _frame_fields(address: Token, symbol: Token | None, dso: Token | None) -> dict[str, str | None]:
    name: str | None = None
    offset: str | None = None
    if symbol is not None:
        value = symbol.value.lstrip(" \t")
        name, offset = split_offset(value if dso is not None else value.rstrip(" \t"))
    return {
        "addr": address.value.lstrip(" \t"),
        "symbol": name,
        "offset": offset,
        "dso": dso.value[2:-1] if dso is not None else None,
    }


def _record(text: str, tree: Tree) -> PerfRecord:
    fields: dict[str, object] = {}
    words: list[Token] = []
    event_part: Tree | None = None
    for child in tree.children:
        if child is None:
            continue
        if isinstance(child, Token):
            if child.type == "CPU":
                fields["cpu"] = int(child.value.strip()[1:-1])
            elif child.type == "TOD":
                fields["tod"] = child.value.strip()
            continue
        if child.data == "comm":
            words = list(child.scan_values(lambda value: isinstance(value, Token)))
        elif child.data == "task":
            value = child.children[0].value.strip()
            if "/" in value:
                pid, _, tid = value.partition("/")
                fields["pid"] = int(pid)
                fields["tid"] = int(tid)
            else:
                fields["tid"] = int(value)
        elif child.data == "time":
            stamp, period = child.children
            fields["time_ns"] = seconds_text_to_ns(stamp.value.strip()[:-1])
            if period is not None:
                fields["period"] = int(period.value)
        elif child.data == "event_part":
            event_part = child
    if words:
        fields["comm"] = text[words[0].start_pos : words[-1].end_pos].rstrip(" \t")
    assert event_part is not None
    name, payload = event_part.children
    sideband = name.type == "SIDEBAND"
    fields["kind"] = "sideband" if sideband else "sample"
    fields["event"] = name.value[:-1] if name.value.endswith(":") else name.value
    if payload is not None:
        body = payload.value.strip()
        if body:
            fields["payload"] = body
            if not sideband:
                fields.update(_payload_frame(body))
    return PerfRecord(**fields)  # type: ignore[arg-type]


def _payload_frame(body: str) -> dict[str, str | None]:
    """The frame of a single-line sample (``ip sym+off (dso)``), when the payload is one."""
    try:
        tree = _parser().parse(body, start="bare_frame")
    except UnexpectedInput:
        return {}
    address, symbol, dso = tree.children
    if dso is None:
        return {}
    return _frame_fields(address, symbol, dso)
