"""Fast path for ps snapshot-log lines: expressions equal to the grammar on what they read.

`scan_line(text, layout)` reads blank lines, the common `date` stamps (their words separated
by blanks, where the grammar's lexer reads the same tokens), headers whose names are all in
the vocabulary, and rows of a known layout (words grouped by `group_cells`, each cell matched
by its kind's expression, written from the grammar's cell terminals). It returns None for
anything else, and the grammar (`ps_threads_lark.parse_line`) decides. Tests check
``scan_line(x, layout) in (None, ps_threads_lark.parse_line(x, layout))`` on every fixture
line and on generated lines.
"""

from __future__ import annotations

import re

from analyzer.formats.ps_threads_record import (
    BLANK,
    COLUMNS,
    Kind,
    Layout,
    PsHeader,
    PsRecord,
    layout_shapes,
    row_record,
    stamp_date,
    stamp_epoch,
    stamp_iso,
)
from analyzer.formats.snapshot_cells import WORD, Shape, group_cells, row_pattern, word_spans

__all__ = ["CELL_PATTERNS", "scan_line"]

_B = r"[ \t]*"
_S = r"[ \t]+"
_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_ANY_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_CLOCK = r"([0-9]{2}:[0-9]{2}:[0-9]{2})"
_EPOCH = re.compile(rf"{_B}([0-9]{{9,11}}(?:\.[0-9]+)?){_B}")
_ISO = re.compile(
    rf"{_B}([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:[T ][0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}}"
    rf"(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{{2}}(?::?[0-9]{{2}})?)?)?){_B}"
)
_DATE = re.compile(
    rf"{_B}{_WEEKDAY}{_S}{_MONTH}{_S}([0-9]{{1,2}}){_S}{_CLOCK}{_S}"
    rf"(?:([A-Z]{{1,5}}|[+-][0-9]{{2,4}}){_S})?([0-9]{{4}}){_B}"
)
_RFC5322 = re.compile(
    rf"{_B}{_WEEKDAY},{_S}([0-9]{{1,2}}){_S}{_MONTH}{_S}([0-9]{{4}}){_S}{_CLOCK}{_S}"
    rf"([+-][0-9]{{4}}){_B}"
)

CELL_PATTERNS: dict[Kind, re.Pattern[str]] = {
    Kind.INT: re.compile(r"-?[0-9]+|-"),
    Kind.PCT: re.compile(r"[0-9]+(?:\.[0-9]+)?|-"),
    Kind.DURATION: re.compile(r"(?:[0-9]+-)?[0-9]+:[0-9]{2}(?::[0-9]{2})?|[0-9]+|-"),
    Kind.START: re.compile(
        rf"[0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}})?|{_ANY_MONTH}[0-9]{{2}}|[0-9]{{4}}"
        rf"|{_ANY_MONTH}{_S}[0-9]{{1,2}}|{_WEEKDAY}{_S}{_ANY_MONTH}{_S}[0-9]{{1,2}}{_S}"
        rf"[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{_S}[0-9]{{4}}|-"
    ),
    Kind.STAT: re.compile(r"[A-Za-z][<NLsl+]*"),
    Kind.STATE: re.compile(r"[A-Za-z]"),
}
"""The cell rule of each non-text kind (the grammar's ``cell_*`` rules, words separated by
blanks)."""

_SHORT_START = (
    rf"[0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}})?|{_ANY_MONTH}[0-9]{{2}}|[0-9]{{4}}"
    rf"|{_ANY_MONTH}{_S}[0-9]{{1,2}}|-"
)
"""A START or STIME cell in a whole-row expression: `group_cells` gives those columns one or
two words (lstart's five words only to STARTED)."""

_STAMP_START = frozenset("0123456789MTWFS")
_WEEKDAYS = frozenset(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])


def scan_line(text: str, layout: Layout | None = None) -> PsRecord | None:
    """The record of one line, or None when the grammar must decide."""
    body = text.lstrip(" \t")
    if not body:
        return BLANK
    if body[0] in _STAMP_START:
        stamp = _stamp(text)
        if stamp is not None:
            return stamp
        if body[:3] in _WEEKDAYS:
            return None  # a date the expressions do not read (words run together...)
    names = WORD.findall(text)
    known = sum(name in COLUMNS for name in names)
    if known == len(names):
        return PsHeader(tuple(names), ())
    if known * 2 > len(names) or layout is None:
        return None
    return _row(text, layout)


def _stamp(text: str) -> PsRecord | None:
    match = _EPOCH.fullmatch(text)
    if match:
        return stamp_epoch(match[1])
    match = _ISO.fullmatch(text)
    if match:
        return stamp_iso(match[1])
    match = _DATE.fullmatch(text)
    if match:
        month, day, clock, zone, year = match.groups()
        return stamp_date(text.strip(" \t"), month, day, clock, zone, year)
    match = _RFC5322.fullmatch(text)
    if match:
        day, month, year, clock, zone = match.groups()
        return stamp_date(text.strip(" \t"), month, day, clock, zone, year)
    return None


_Plan = tuple[tuple[Kind, ...] | None, re.Pattern[str] | None]
_plans: dict[Layout, _Plan] = {}


def _plan(layout: Layout) -> _Plan:
    """The kinds of a layout's columns (None when a name is unknown) and its whole-row
    expression (`snapshot_cells.row_pattern`; a START cell's pattern takes "Dec 05" as two
    words only where `group_cells` does, and no single word "Dec" or "Sat" is a valid cell,
    so a row the expression matches is grouped as `group_cells` groups it)."""
    if not all(name in COLUMNS for name in layout):
        return None, None
    kinds = tuple(COLUMNS[name][0] for name in layout)
    shapes = layout_shapes(layout)
    cells = [
        r"[^ \t]+"
        if kind is Kind.TEXT
        else _SHORT_START
        if shape is Shape.START
        else CELL_PATTERNS[kind].pattern
        for kind, shape in zip(kinds, shapes, strict=True)
    ]
    return kinds, row_pattern(cells, shapes)


def _row(text: str, layout: Layout) -> PsRecord | None:
    plan = _plans.get(layout)
    if plan is None:
        plan = _plans[layout] = _plan(layout)
    kinds, pattern = plan
    if kinds is None:
        return None
    if pattern is not None:
        match = pattern.fullmatch(text)
        if match is not None:
            return row_record(layout, [cell or "" for cell in match.groups()])
    cells = group_cells(text, word_spans(text), layout_shapes(layout))
    if isinstance(cells, str):
        return None
    for kind, cell in zip(kinds, cells, strict=True):
        if kind is not Kind.TEXT and CELL_PATTERNS[kind].fullmatch(cell) is None:
            return None
    return row_record(layout, cells)
