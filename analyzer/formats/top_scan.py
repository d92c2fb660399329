"""Fast path for `top -b` lines: regular expressions equal to the grammar on what they read.

`scan_line(text, layout)` reads the common shapes and returns None for anything else, so the
grammar (`top_lark.parse_line`) decides there and gives the reason when a line is not top's:

- blank lines; the summary lines as procps-ng 3.3 and 4.0 and procps 3.2 print them, each
  with one anchored expression (its items found in a second pass);
- a header (where one is expected) whose names are all in the vocabulary;
- a row of a layout whose names are all known: the words found with `snapshot_cells.WORD`,
  grouped by `group_cells` (the function the grammar path uses) and every cell matched by its
  kind's expression, written from the grammar's cell terminals (a test compares them).

Tests check ``scan_line(x, layout) in (None, top_lark.parse_line(x, layout))`` on every
fixture line and on generated lines.
"""

from __future__ import annotations

import re

from analyzer.formats.snapshot_cells import WORD, decimal, group_cells, row_pattern, word_spans
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
    clock_seconds,
    layout_shapes,
    memory_amount,
    memory_label,
    row_record,
    uptime_seconds,
)

__all__ = ["CELL_PATTERNS", "scan_line"]

_B = r"[ \t]*"
_NUMBER = r"[0-9]+(?:[.,][0-9]+)?"
_UPTIME = re.compile(
    rf"{_B}top{_B}-{_B}([0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}}){_B}up{_B}"
    rf"(?:([0-9]+){_B}days?{_B},{_B})?(?:([0-9]+):([0-9]{{2}})|([0-9]+){_B}min){_B},{_B}"
    rf"(?:([0-9]+){_B}users?{_B},{_B})?load{_B}average{_B}:{_B}"
    rf"({_NUMBER}){_B},{_B}({_NUMBER}){_B},{_B}({_NUMBER}){_B}"
)
_STATES = "running|sleeping|stopped|zombie|sleep|d-sleep"
_TASKS = re.compile(
    rf"{_B}(Tasks|Threads):{_B}([0-9]+){_B}total{_B}((?:,{_B}[0-9]+{_B}(?:{_STATES}){_B})*)"
)
_TASK_ITEM = re.compile(rf"([0-9]+){_B}({_STATES})")
_CPU_ITEM = rf"({_NUMBER}){_B}%?{_B}(us|sy|ni|id|wa|hi|si|st)"
_CPU = re.compile(
    rf"{_B}%?Cpu(\(s\)|[0-9]+){_B}:{_B}((?:{_CPU_ITEM})(?:{_B},{_B}{_CPU_ITEM})*){_B}"
)
_CPU_ITEMS = re.compile(_CPU_ITEM)
_MEMORY_FIELD = r"total|free|used|buff/cache|buffers|cached(?:[ \t]+Mem)?|avail[ \t]+Mem"
_MEMORY_ITEM = rf"([0-9]+(?:[.,][0-9]+)?k?){_B}({_MEMORY_FIELD})"
_MEMORY = re.compile(
    rf"{_B}((?:[KMGTPE]iB[ \t]+)?(?:Mem|Swap){_B}:){_B}"
    rf"((?:{_MEMORY_ITEM})(?:{_B}[,.]{_B}{_MEMORY_ITEM})*){_B}"
)
_MEMORY_ITEMS = re.compile(_MEMORY_ITEM)
_BLANK = re.compile(r"[ \t]*")

CELL_PATTERNS: dict[Kind, re.Pattern[str]] = {
    Kind.INT: re.compile(r"-?[0-9]+|\?|-"),
    Kind.PRIO: re.compile(r"-?[0-9]+|rt|RT|\?|-"),
    Kind.MEM: re.compile(r"[0-9]+(?:[.,][0-9]+)?[kmgtpeKMGTPE]?|\?|-"),
    Kind.PCT: re.compile(r"[0-9]+(?:[.,][0-9]+)?|\?|-"),
    Kind.TIME: re.compile(
        r"[0-9]+:[0-9]{2}(?:\.[0-9]{2})?|[0-9]+,[0-9]{2}|[0-9]+[dD]\+[0-9]+[hH]"
        r"|[0-9]+[wW]\+[0-9]+[dD]|[0-9]+[hHdDwW]|\?|-"
    ),
    Kind.STATE: re.compile(r"[A-Za-z]"),
}
"""The cell rule of each non-text kind: the grammar's ``cell_*`` terminals as one pattern."""

_FIRST_CHARS = frozenset("tTC%MKGPES")
"""First characters (after blanks) of every summary line."""


def scan_line(
    text: str, layout: Layout | None = DEFAULT_LAYOUT, header: bool = False
) -> TopRecord | None:
    """The record of one line, or None when the grammar must decide (the arguments are
    `top_lark.parse_line`'s)."""
    body = text.lstrip(" \t")
    if not body:
        return BLANK
    if body[0] in _FIRST_CHARS:
        summary = _summary(text, body)
        if summary is not None:
            return summary
        if body.startswith(("top", "Tasks:", "Threads:", "%Cpu", "Cpu", "%Node")) or re.match(
            r"[KMGTPE]iB[ \t]|Mem\b|Swap\b", body
        ):
            return None  # a summary line the expressions do not read
    if header or layout is None:
        names = tuple(WORD.findall(text))
        if all(name in COLUMNS for name in names):
            return TopHeader(names, ())
        if sum(name in COLUMNS for name in names) * 2 > len(names):
            return None  # a header with names iodiag does not read: the grammar says which
    return _row(text, layout or DEFAULT_LAYOUT)


def _summary(text: str, body: str) -> TopRecord | None:
    first = body[0]
    if first == "t":
        match = _UPTIME.fullmatch(text)
        if match is None:
            return None
        clock, days, hours, minutes, only_minutes, users, *loads = match.groups()
        if only_minutes is not None:
            hours, minutes = "0", only_minutes
        return TopUptime(
            clock_seconds(clock),
            uptime_seconds(int(days or 0), int(hours), int(minutes)),
            int(users) if users is not None else None,
            *(decimal(load) for load in loads),
        )
    if first == "T":
        match = _TASKS.fullmatch(text)
        if match is None:
            return None
        counts = {TASK_FIELDS[state]: int(count) for count, state in _TASK_ITEM.findall(match[3])}
        return TopTasks(match[1], int(match[2]), **counts)
    if first in "%C":
        match = _CPU.fullmatch(text)
        if match is None:
            return None
        items = {field: decimal(number) for number, field in _CPU_ITEMS.findall(match[2])}
        return TopCpu(None if match[1] == "(s)" else int(match[1]), **items)
    match = _MEMORY.fullmatch(text)
    if match is None:
        return None
    kind, unit = memory_label(match[1])
    fields: dict[str, float] = {}
    for amount, field in _MEMORY_ITEMS.findall(match[2]):
        fields[MEMORY_FIELDS[" ".join(field.split())]], unit_used = memory_amount(amount, unit)
        unit = unit_used if unit_used == "k" else unit
    return TopMemory(kind, unit, **fields)


def _row(text: str, layout: Layout) -> TopRecord | None:
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


_Plan = tuple[tuple[Kind, ...] | None, re.Pattern[str] | None]
_plans: dict[Layout, _Plan] = {}


def _plan(layout: Layout) -> _Plan:
    """The kinds of a layout's columns (None when a name is unknown) and its whole-row
    expression (`snapshot_cells.row_pattern`)."""
    if not all(name in COLUMNS for name in layout):
        return None, None
    kinds = tuple(COLUMNS[name][0] for name in layout)
    cells = [r"[^ \t]+" if kind is Kind.TEXT else CELL_PATTERNS[kind].pattern for kind in kinds]
    return kinds, row_pattern(cells, layout_shapes(layout))
