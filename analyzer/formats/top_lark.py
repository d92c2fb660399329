"""Reference parser for `top -b` output, driven by the grammar `grammars/top.lark`.

`parse_line(text, layout)` reduces one line to a record of `analyzer.formats.top_record`
or to `Unparsed(reason)`, in this order:

1. the grammar's ``line`` start: a summary line (uptime, tasks, CPU, memory) or a blank line;
2. a line that starts like a summary line but is not one (graph mode, translated labels,
   NUMA nodes) is unparsed with the reason;
3. where a header may be (``header`` true: after a blank line; or ``layout`` None: no header
   seen yet) the ``header`` start: the line is the header when more than half of its names
   are in the vocabulary (a row has numbers, and at most a state letter such as ``S`` that
   is also a column name);
4. a row of ``layout`` (`DEFAULT_LAYOUT` before any header): the ``row`` start gives the
   words, `snapshot_cells.group_cells` one cell per column, and each cell must parse with
   its column kind's ``cell_*`` start symbol.

The fast path (`top_scan`) must return the same record for every line it reads.
"""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedInput

from analyzer.formats import grammar
from analyzer.formats.snapshot_cells import decimal, group_cells
from analyzer.formats.snapshot_lark import header_names, reason, row_spans
from analyzer.formats.top_record import (
    BLANK,
    COLUMNS,
    DEFAULT_LAYOUT,
    MEMORY_FIELDS,
    TASK_FIELDS,
    Kind,
    Layout,
    TopCpu,
    TopHeader,
    TopMemory,
    TopRecord,
    TopTasks,
    TopUptime,
    Unparsed,
    clock_seconds,
    graph_mode_reason,
    layout_shapes,
    memory_amount,
    memory_label,
    row_record,
    unknown_columns,
    uptime_seconds,
)

__all__ = ["GRAMMAR", "START_SYMBOLS", "build_parser", "parse_line"]

GRAMMAR = "top.lark"
START_SYMBOLS: tuple[str, ...] = ("line", "header", "row", *(kind.value for kind in Kind))

SUMMARY_START = re.compile(r"(top[ \t]+-|Tasks:|Threads:|%?Cpu|%Node|[KMGTPE]iB[ \t]|Mem\b|Swap\b)")
"""How every summary line starts (a line that does and is not one is unparsed, not a row)."""

_KIND_WORDS: dict[Kind, str] = {
    Kind.INT: "an integer",
    Kind.PRIO: "a priority (a number or rt)",
    Kind.MEM: "an amount (KiB, or scaled with k m g t p e)",
    Kind.PCT: "a percentage",
    Kind.TIME: "a CPU time (M:SS.cc, M:SS, H,MM, DdHh...)",
    Kind.STATE: "a one-letter state",
    Kind.TEXT: "text",
}


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/top.lark` with every start symbol."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


@v_args(inline=True)
class _ToRecord(Transformer):
    """Summary-line parse tree -> record."""

    def line(self, record: object) -> object:
        return record

    def blank_line(self) -> object:
        return BLANK

    def uptime_line(self, clock: Token, uptime: int, users: int | None, *loads: Token) -> TopUptime:
        load1, load5, load15 = (decimal(load) for load in loads)
        return TopUptime(clock_seconds(clock), uptime, users, load1, load5, load15)

    def uptime_hours(self, days: Token | None, _word: Token | None, hours_minutes: Token) -> int:
        hours, minutes = hours_minutes.split(":")
        return uptime_seconds(int(days or 0), int(hours), int(minutes))

    def uptime_minutes(self, days: Token | None, _word: Token | None, minutes: Token) -> int:
        return uptime_seconds(int(days or 0), 0, int(minutes))

    def users(self, count: Token, _word: Token) -> int:
        return int(count)

    def tasks_line(self, label: Token, total: Token, *counts: tuple[str, int]) -> TopTasks:
        return TopTasks(label.rstrip(":"), int(total), **dict(counts))

    def task_count(self, count: Token, state: Token) -> tuple[str, int]:
        return TASK_FIELDS[state], int(count)

    def cpu_line(self, label: Token, *items: tuple[str, float]) -> TopCpu:
        which = label.rstrip(": \t").lstrip("%")[3:]
        return TopCpu(None if which == "(s)" else int(which), **dict(items))

    def cpu_item(self, number: Token, _percent: Token | None, field: Token) -> tuple[str, float]:
        return str(field), decimal(number)

    def memory_line(self, label: Token, *items: object) -> TopMemory:
        kind, unit = memory_label(label)
        fields: dict[str, float] = {}
        for item in items:
            if isinstance(item, tuple):
                amount, field = item
                fields[MEMORY_FIELDS[" ".join(field.split())]], unit_used = memory_amount(
                    amount, unit
                )
                unit = unit_used if unit_used == "k" else unit
        return TopMemory(kind, unit, **fields)

    def memory_item(self, amount: Token, field: Token) -> tuple[str, str]:
        return str(amount), str(field)


_TO_RECORD = _ToRecord()


def parse_line(
    text: str, layout: Layout | None = DEFAULT_LAYOUT, header: bool = False
) -> TopRecord | Unparsed:
    """Parse one line of `top -b` output (without its newline). ``layout`` is the column
    layout of the last header (None before any); ``header`` says a header may be here."""
    parser = _parser()
    try:
        return _TO_RECORD.transform(parser.parse(text, start="line"))
    except UnexpectedInput as exc:
        if SUMMARY_START.match(text):
            return Unparsed(graph_mode_reason(text) or f"summary line: {reason(text, exc)}")
    if header or layout is None:
        names = _header(parser, text)
        if names is not None and len(names.unknown) * 2 < len(names.columns):
            return names
    return _row(parser, text, layout or DEFAULT_LAYOUT)


def _header(parser: Lark, text: str) -> TopHeader | None:
    try:
        tree = parser.parse(text, start="header")
    except UnexpectedInput:
        return None
    return TopHeader(*header_names(tree))


def _row(parser: Lark, text: str, layout: Layout) -> TopRecord | Unparsed:
    unknown = unknown_columns(layout)
    if unknown:
        return Unparsed(
            "row under a column header with names iodiag does not read: " + ", ".join(unknown)
        )
    try:
        tree = parser.parse(text, start="row")
    except UnexpectedInput as exc:
        return Unparsed(f"not a row: {reason(text, exc)}")
    cells = group_cells(text, row_spans(tree), layout_shapes(layout))
    if isinstance(cells, str):
        return Unparsed(f"not a row of the header's columns: {cells}")
    for name, cell in zip(layout, cells, strict=True):
        kind = COLUMNS[name][0]
        if kind is Kind.TEXT:
            continue  # any text, the empty text of a REST column included
        try:
            parser.parse(cell, start=kind.value)
        except UnexpectedInput:
            return Unparsed(f"{name} cell {cell!r} is not {_KIND_WORDS[kind]}")
    return row_record(layout, cells)


def tree_of(text: str, start: str) -> Tree:
    """The parse tree of `text` from a start symbol (for tests)."""
    return _parser().parse(text, start=start)
