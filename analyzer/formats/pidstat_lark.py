"""Reference parser for `pidstat` output, driven by the grammar `grammars/pidstat.lark`.

`parse_line(text, layout)` reduces one line to a record of `analyzer.formats.pidstat_record`
or to `Unparsed(reason)`, trying in order the ``blank`` and ``banner`` start symbols, then
``header`` (the line is a header when more than half of the names after its time are in the
vocabulary: a row has numbers there), then a row of ``layout`` (the last header's names):
the ``row`` start gives the time and the words, `snapshot_cells.group_cells` one cell per
column, and each cell must parse with its column kind's ``cell_*`` start symbol.

The fast path (`pidstat_scan`) must return the same record for every line it reads.
"""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from analyzer.formats import grammar
from analyzer.formats.pidstat_record import (
    AVERAGE,
    BLANK,
    COLUMNS,
    Kind,
    Layout,
    PidstatHeader,
    PidstatRecord,
    Time,
    Unparsed,
    banner_record,
    clock_time,
    layout_shapes,
    row_record,
    unknown_columns,
)
from analyzer.formats.snapshot_cells import group_cells

__all__ = ["GRAMMAR", "START_SYMBOLS", "build_parser", "parse_line"]

GRAMMAR = "pidstat.lark"
START_SYMBOLS: tuple[str, ...] = ("banner", "header", "row", "blank", *(k.value for k in Kind))

_KIND_WORDS: dict[Kind, str] = {
    Kind.INT: "an integer",
    Kind.DECIMAL: "a decimal number",
    Kind.TEXT: "text",
}


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/pidstat.lark` with every start symbol."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


def _time(tree: Tree | Token) -> Time | None:
    assert isinstance(tree, Tree), tree  # the grammar's time rules are trees
    if tree.data == "clock":
        clock, meridiem = tree.children
        return clock_time(str(clock), None if meridiem is None else str(meridiem))
    if tree.data == "epoch":
        return Time(epoch=int(str(tree.children[0])))
    if tree.data == "average":
        return AVERAGE
    return None  # "# Time"


def _words(tree: Tree) -> list[Token]:
    """The name/word tokens after the time subtree of a header or row tree."""
    return [
        token
        for child in tree.children[1:]
        if isinstance(child, Tree)
        for token in child.children
        if isinstance(token, Token)
    ]


def parse_line(text: str, layout: Layout | None = None) -> PidstatRecord | Unparsed:
    """Parse one line of pidstat output (without its newline); ``layout`` is the column
    layout of the last header (None before any)."""
    parser = _parser()
    try:
        parser.parse(text, start="blank")
        return BLANK
    except UnexpectedInput:
        pass
    try:
        tree = parser.parse(text, start="banner")
        return banner_record(*(str(token) for token in tree.children))
    except UnexpectedInput:
        pass
    try:
        tree = parser.parse(text, start="header")
    except UnexpectedInput:
        return Unparsed(
            "not a pidstat line: it does not start with a time pidstat prints "
            "(HH:MM:SS [AM|PM], epoch seconds, an averages label or # Time)"
        )
    words = _words(tree)
    unknown = tuple(str(token) for token in words if token.type == "OTHER_NAME")
    if len(unknown) * 2 < len(words):
        return PidstatHeader(_time(tree.children[0]), tuple(map(str, words)), unknown)
    if layout is None:
        return Unparsed("a row before any pidstat column header: its columns are unknown")
    return _row(parser, text, layout)


def _row(parser: Lark, text: str, layout: Layout) -> PidstatRecord | Unparsed:
    unknown = unknown_columns(layout)
    if unknown:
        return Unparsed(
            "row under a column header with names iodiag does not read: " + ", ".join(unknown)
        )
    tree = parser.parse(text, start="row")  # a header's words parse as a row's
    time = _time(tree.children[0])
    if time is None:
        return Unparsed("a row cannot have the header's '# Time'")
    spans = [(token.start_pos or 0, token.end_pos or 0) for token in _words(tree)]
    cells = group_cells(text, spans, layout_shapes(layout))
    if isinstance(cells, str):
        return Unparsed(f"not a row of the header's columns: {cells}")
    for name, cell in zip(layout, cells, strict=True):
        kind = COLUMNS[name][0]
        if kind is Kind.TEXT:
            continue
        try:
            parser.parse(cell, start=kind.value)
        except UnexpectedInput:
            return Unparsed(f"{name} cell {cell!r} is not {_KIND_WORDS[kind]}")
    return row_record(time, layout, cells)
