"""Fast path for `pidstat` lines: word and expression checks equal to the grammar's reading.

`scan_line(text, layout)` splits a line into words (runs of non-blanks, as the grammar's
tokens) and reads blank lines, the banner, headers whose names are all in the vocabulary and
rows of a known layout. The time that opens headers and rows must be a whole word of one of
the grammar's forms (a clock, optionally followed by the word AM or PM; epoch seconds; an
averages label; ``#`` then ``Time``); where the grammar's lexer could cut words differently
(``AMx`` after a clock, ``#Time``), the line is left to the grammar, as is anything else
(`pidstat_lark.parse_line` decides and gives reasons). Tests check
``scan_line(x, layout) in (None, pidstat_lark.parse_line(x, layout))`` on every fixture line
and on generated lines.
"""

from __future__ import annotations

import re

from analyzer.formats.pidstat_record import (
    AVERAGE,
    BLANK,
    COLUMNS,
    Kind,
    Layout,
    PidstatHeader,
    PidstatRecord,
    Time,
    banner_record,
    clock_time,
    layout_shapes,
    row_record,
)
from analyzer.formats.snapshot_cells import WORD, group_cells

__all__ = ["CELL_PATTERNS", "scan_line"]

_BANNER = re.compile(
    r"[ \t]*(Linux)[ \t]+([^ \t()]+)[ \t]+(\([^)]*\))[ \t]+([^ \t]+)[ \t]+"
    r"(_[A-Za-z0-9_]+_)[ \t]+(\([0-9]+[ \t]+CPU\))[ \t]*"
)
_CLOCK = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}")
_EPOCH = re.compile(r"[0-9]{9,11}")
_AVERAGE = re.compile(r"[^ \t0-9#][^ \t]*:")

CELL_PATTERNS: dict[Kind, re.Pattern[str]] = {
    Kind.INT: re.compile(r"-?[0-9]+|-"),
    Kind.DECIMAL: re.compile(r"-?[0-9]+(?:[.,][0-9]+)?|-"),
}
"""The cell rule of each non-text kind (the grammar's ``cell_*`` terminals)."""


def scan_line(text: str, layout: Layout | None = None) -> PidstatRecord | None:
    """The record of one line, or None when the grammar must decide."""
    matches = list(WORD.finditer(text))
    if not matches:
        return BLANK
    first = matches[0].group()
    if first == "Linux":
        match = _BANNER.fullmatch(text)
        return banner_record(*match.groups()) if match else None
    opened = _time(matches)
    if opened is None:
        return None
    time, start = opened
    words = matches[start:]
    if not words:
        return None
    names = [match.group() for match in words]
    known = sum(name in COLUMNS for name in names)
    if known == len(names):
        return PidstatHeader(time, tuple(names), ())
    if known * 2 > len(names) or layout is None or time is None:
        return None
    return _row(text, time, [match.span() for match in words], layout)


def _time(matches: list[re.Match[str]]) -> tuple[Time | None, int] | None:
    """The time that opens a header or row and the index of the first word after it; None
    when the first words are not a time the expressions read as the grammar does."""
    first = matches[0].group()
    second = matches[1].group() if len(matches) > 1 else ""
    if _CLOCK.fullmatch(first):
        if second in ("AM", "PM"):
            return clock_time(first, second), 2
        if second.startswith(("AM", "PM")):
            return None
        return clock_time(first, None), 1
    if _EPOCH.fullmatch(first):
        return Time(epoch=int(first)), 1
    if _AVERAGE.fullmatch(first):
        return AVERAGE, 1
    if first == "#" and second == "Time":
        return None, 2
    return None


_KINDS: dict[Layout, tuple[Kind, ...] | None] = {}


def _row(
    text: str, time: Time, spans: list[tuple[int, int]], layout: Layout
) -> PidstatRecord | None:
    kinds = _KINDS.get(layout, ())
    if kinds == ():
        known = all(name in COLUMNS for name in layout)
        kinds = tuple(COLUMNS[name][0] for name in layout) if known else None
        _KINDS[layout] = kinds
    if kinds is None or not spans:
        return None
    cells = group_cells(text, spans, layout_shapes(layout))
    if isinstance(cells, str):
        return None
    for kind, cell in zip(kinds, cells, strict=True):
        if kind is not Kind.TEXT and CELL_PATTERNS[kind].fullmatch(cell) is None:
            return None
    return row_record(time, layout, cells)
