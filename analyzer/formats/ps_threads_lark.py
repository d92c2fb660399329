"""Reference parser for `ps` thread-snapshot logs, driven by `grammars/ps_threads.lark`.

`parse_line(text, layout)` reduces one line to a record of
`analyzer.formats.ps_threads_record` or to `Unparsed(reason)`, trying in order:

1. the ``blank`` start, then the ``stamp`` start (a `date` line);
2. the ``header`` start: the line is a header when more than half of its names are in the
   vocabulary (a row has numbers; a command word that happens to be a column name cannot
   make half of a row);
3. a row of ``layout`` (the last header's; without one a row's columns are unknown): the
   ``row`` start gives the words, `snapshot_cells.group_cells` one cell per column, and
   each cell must parse with its column kind's ``cell_*`` start symbol.

The fast path (`ps_threads_scan`) must return the same record for every line it reads.
"""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from analyzer.formats import grammar
from analyzer.formats.ps_threads_record import (
    BLANK,
    COLUMNS,
    Kind,
    Layout,
    PsHeader,
    PsRecord,
    PsStamp,
    Unparsed,
    layout_shapes,
    row_record,
    stamp_date,
    stamp_epoch,
    stamp_iso,
    unknown_columns,
)
from analyzer.formats.snapshot_cells import group_cells
from analyzer.formats.snapshot_lark import header_names, reason, row_spans

__all__ = ["GRAMMAR", "START_SYMBOLS", "build_parser", "parse_line"]

GRAMMAR = "ps_threads.lark"
START_SYMBOLS: tuple[str, ...] = ("stamp", "header", "row", "blank", *(k.value for k in Kind))

_KIND_WORDS: dict[Kind, str] = {
    Kind.INT: "an integer",
    Kind.PCT: "a percentage",
    Kind.DURATION: "a duration ([DD-]HH:MM:SS, MM:SS or seconds)",
    Kind.START: "a start time (HH:MM, MonDD, YYYY, Mon DD or lstart)",
    Kind.STAT: "a process state with flags",
    Kind.STATE: "a one-letter state",
    Kind.TEXT: "text",
}


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/ps_threads.lark` with every start symbol."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


def _stamp(text: str, tree: Tree) -> PsStamp:
    tokens = [token for token in tree.children if isinstance(token, Token)]
    shown = text.strip(" \t")
    if tree.data == "stamp_epoch":
        return stamp_epoch(shown)
    if tree.data == "stamp_iso":
        return stamp_iso(shown)
    if tree.data == "stamp_date":
        _weekday, month, day, clock, *rest = tree.children
        zone, year = rest
        shown_zone = None if zone is None else str(zone)
        return stamp_date(shown, str(month), str(day), str(clock), shown_zone, str(year))
    _weekday, day, month, year, clock, zone = tokens  # RFC 5322
    return stamp_date(shown, str(month), str(day), str(clock), str(zone), str(year))


def parse_line(text: str, layout: Layout | None = None) -> PsRecord | Unparsed:
    """Parse one line of a ps snapshot log (without its newline); ``layout`` is the column
    layout of the last header (None before any)."""
    parser = _parser()
    try:
        parser.parse(text, start="blank")
        return BLANK
    except UnexpectedInput:
        pass
    try:
        return _stamp(text, parser.parse(text, start="stamp"))
    except UnexpectedInput:
        pass
    try:
        names, unknown = header_names(parser.parse(text, start="header"))
    except UnexpectedInput:  # pragma: no cover - every non-blank line is a header's words
        names, unknown = (), ()
    if names and len(unknown) * 2 < len(names):
        return PsHeader(names, unknown)
    if layout is None:
        return Unparsed("a row before any ps column header: its columns are unknown")
    return _row(parser, text, layout)


def _row(parser: Lark, text: str, layout: Layout) -> PsRecord | Unparsed:
    unknown = unknown_columns(layout)
    if unknown:
        return Unparsed(
            "row under a column header with names iodiag does not read: " + ", ".join(unknown)
        )
    try:
        tree = parser.parse(text, start="row")
    except UnexpectedInput as exc:  # pragma: no cover - blank lines are read before
        return Unparsed(f"not a row: {reason(text, exc)}")
    cells = group_cells(text, row_spans(tree), layout_shapes(layout))
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
    return row_record(layout, cells)
