"""The records both `ps` thread-snapshot line parsers produce, the column vocabulary and rules.

`grammars/ps_threads.lark` is the specification of a snapshot log: `date` stamps and the
tables of ``ps -eLf``, ``ps -L -o ...``, ``ps -T``..., as a ``while :; do date; ps ...;
sleep 1; done`` loop writes them. The grammar-based parser (`ps_threads_lark`) and the fast
path (`ps_threads_scan`) reduce a line to one of the records below; tests assert they agree.
A row is read with the column layout of the last header (`Layout`), which `ps_threads.parse`
keeps.

Records:

``PsStamp``    a `date` line: ``1796458832.617395810``, ``2026-12-05T08:20:32+00:00``,
               ``Sat Dec  5 08:20:32 UTC 2026``, ``Sat, 05 Dec 2026 08:20:32 +0000``
``PsHeader``   a column header
``PsRow``      a thread (or process) row
``PsBlank``    an empty or blank-only line

Field rules:

- ``PsStamp.ts``: epoch seconds when the stamp says it exactly: ``+%s[.%N]``, an ISO stamp
  with an offset or ``Z``, a C-locale `date` whose zone is UTC/GMT/UCT/Z or numeric
  (``+03``, ``+0530``), an RFC 5322 date; otherwise None (a local time in an unknown zone).
  ``clock_s``: the local time of day in seconds since midnight when the stamp shows one
  (None for an epoch stamp). ``text``: the stamp as printed, blanks stripped.
- ``PsHeader.columns``: the header's names; ``unknown``: those not in `COLUMNS`.
- ``PsRow``: one field per known column (None when the layout lacks it or ps printed ``-``).
  ``pid`` from PID or TGID; ``tid`` from TID, LWP or SPID; ``nlwp`` from NLWP or THCNT;
  ``user`` from UID (``-f`` prints names there), USER, EUSER or RUSER; ``state`` from S, or
  the first letter of STAT; ``cpu_time_s`` and ``elapsed_s`` from TIME and ELAPSED in any of
  their forms (``[DD-]HH:MM:SS``, ``MM:SS``, seconds); ``start`` the STIME/START/STARTED
  text as printed (its date is partial); ``rss_kib``/``vsz_kib`` in KiB as ps prints them;
  ``command`` from CMD or COMMAND (the first of them; the thread name for ``comm``, the
  command line for ``args``/``-f``); ``extra`` keeps the other known columns as
  ``(name, text)`` pairs in header order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cache
from typing import NamedTuple

from analyzer.formats.snapshot_cells import MONTHS, Shape

__all__ = [
    "BLANK",
    "COLUMNS",
    "Kind",
    "Layout",
    "PsBlank",
    "PsHeader",
    "PsRecord",
    "PsRow",
    "PsStamp",
    "Unparsed",
]


class PsStamp(NamedTuple):
    text: str
    ts: float | None
    clock_s: float | None


class PsHeader(NamedTuple):
    columns: tuple[str, ...]
    unknown: tuple[str, ...]


class PsRow(NamedTuple):
    pid: int | None = None
    tid: int | None = None
    ppid: int | None = None
    nlwp: int | None = None
    user: str | None = None
    state: str | None = None
    stat: str | None = None
    wchan: str | None = None
    cpu_pct: float | None = None
    c: int | None = None
    mem_pct: float | None = None
    psr: int | None = None
    pri: int | None = None
    ni: int | None = None
    rss_kib: int | None = None
    vsz_kib: int | None = None
    start: str | None = None
    cpu_time_s: int | None = None
    elapsed_s: int | None = None
    tty: str | None = None
    command: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


class PsBlank(NamedTuple):
    pass


class Unparsed(NamedTuple):
    """A line that is not part of a ps snapshot log (or not of the current layout), and why."""

    reason: str


PsRecord = PsStamp | PsHeader | PsRow | PsBlank
BLANK = PsBlank()


class Kind(Enum):
    """The cell kind of a column: which grammar start symbol reads its cells."""

    INT = "cell_int"
    PCT = "cell_pct"
    DURATION = "cell_duration"
    START = "cell_start"
    STAT = "cell_stat"
    STATE = "cell_state"
    TEXT = "cell_text"


COLUMNS: dict[str, tuple[Kind, str | None]] = {
    "%CPU": (Kind.PCT, "cpu_pct"),
    "%MEM": (Kind.PCT, "mem_pct"),
    "ADDR": (Kind.TEXT, None),
    "ARGS": (Kind.TEXT, "command"),
    "C": (Kind.INT, "c"),
    "CGROUP": (Kind.TEXT, None),
    "CLS": (Kind.TEXT, None),
    "CMD": (Kind.TEXT, "command"),
    "COMMAND": (Kind.TEXT, "command"),
    "CP": (Kind.INT, None),
    "DRS": (Kind.INT, None),
    "EGID": (Kind.INT, None),
    "EGROUP": (Kind.TEXT, None),
    "ELAPSED": (Kind.DURATION, "elapsed_s"),
    "ENVIRONMENT": (Kind.TEXT, None),
    "EUID": (Kind.INT, None),
    "EUSER": (Kind.TEXT, "user"),
    "F": (Kind.INT, None),
    "FGID": (Kind.INT, None),
    "FGROUP": (Kind.TEXT, None),
    "FUID": (Kind.INT, None),
    "FUSER": (Kind.TEXT, None),
    "GID": (Kind.INT, None),
    "GROUP": (Kind.TEXT, None),
    "LABEL": (Kind.TEXT, None),
    "LWP": (Kind.INT, "tid"),
    "MAJFL": (Kind.INT, None),
    "MINFL": (Kind.INT, None),
    "NI": (Kind.INT, "ni"),
    "NLWP": (Kind.INT, "nlwp"),
    "NWCHAN": (Kind.TEXT, None),
    "PGID": (Kind.INT, None),
    "PGRP": (Kind.INT, None),
    "PID": (Kind.INT, "pid"),
    "POL": (Kind.TEXT, None),
    "PPID": (Kind.INT, "ppid"),
    "PRI": (Kind.INT, "pri"),
    "PSR": (Kind.INT, "psr"),
    "RGID": (Kind.INT, None),
    "RGROUP": (Kind.TEXT, None),
    "RSS": (Kind.INT, "rss_kib"),
    "RSZ": (Kind.INT, None),
    "RTPRIO": (Kind.INT, None),
    "RUID": (Kind.INT, None),
    "RUSER": (Kind.TEXT, "user"),
    "S": (Kind.STATE, "state"),
    "SCH": (Kind.INT, None),
    "SESS": (Kind.INT, None),
    "SGID": (Kind.INT, None),
    "SGROUP": (Kind.TEXT, None),
    "SID": (Kind.INT, None),
    "SIZE": (Kind.INT, None),
    "SPID": (Kind.INT, "tid"),
    "STARTED": (Kind.START, "start"),
    "START": (Kind.START, "start"),
    "STAT": (Kind.STAT, "stat"),
    "STIME": (Kind.START, "start"),
    "SUID": (Kind.INT, None),
    "SUSER": (Kind.TEXT, None),
    "SZ": (Kind.INT, None),
    "TGID": (Kind.INT, "pid"),
    "THCNT": (Kind.INT, "nlwp"),
    "TID": (Kind.INT, "tid"),
    "TIME": (Kind.DURATION, "cpu_time_s"),
    "TPGID": (Kind.INT, None),
    "TRS": (Kind.INT, None),
    "TT": (Kind.TEXT, "tty"),
    "TTY": (Kind.TEXT, "tty"),
    "UID": (Kind.TEXT, "user"),
    "USER": (Kind.TEXT, "user"),
    "VSZ": (Kind.INT, "vsz_kib"),
    "WCHAN": (Kind.TEXT, "wchan"),
}
"""Every header name of the grammar's KNOWN_NAME: its cell kind and the `PsRow` field it
fills (None: kept as text in ``extra``)."""

SPACED: frozenset[str] = frozenset(["ARGS", "CMD", "COMMAND", "ENVIRONMENT", "LABEL"])
"""Text columns whose cells may hold blanks."""

Layout = tuple[str, ...]


@cache
def layout_shapes(layout: Layout) -> tuple[Shape, ...]:
    """Each column's `Shape`: the last column that may hold blanks (`SPACED`; or the last
    column, when it is text) takes the words the others leave; start times may be words."""
    spaced = [index for index, name in enumerate(layout) if name in SPACED]
    if layout and COLUMNS.get(layout[-1], (None,))[0] is Kind.TEXT:
        spaced.append(len(layout) - 1)
    rest = max(spaced) if spaced else None
    shapes = []
    for index, name in enumerate(layout):
        if index == rest:
            shapes.append(Shape.REST)
        elif name == "STARTED":
            shapes.append(Shape.STARTED)
        elif name in ("START", "STIME"):
            shapes.append(Shape.START)
        else:
            shapes.append(Shape.ONE)
    return tuple(shapes)


def unknown_columns(layout: Layout) -> tuple[str, ...]:
    return tuple(name for name in layout if name not in COLUMNS)


def duration_seconds(text: str) -> int:
    """``1-02:03:04`` -> 93784; ``02:03:04`` -> 7384; ``03:04`` -> 184; ``62`` -> 62."""
    days, _, clock = text.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds + int(days or 0) * 86400


_CONVERT: dict[Kind, Callable[[str], object]] = {
    Kind.INT: int,
    Kind.PCT: float,
    Kind.DURATION: duration_seconds,
}


@cache
def _plan(
    layout: Layout,
) -> tuple[
    tuple[tuple[int, int, Callable[[str], object] | None], ...], tuple[tuple[int, str], ...]
]:
    """((cell index, `PsRow` field index, converter or None for text) of each column that
    fills a field, (cell index, name) of the others): the first column that fills a field
    wins (``-f`` and ``-o uid,user`` both show a user), later ones are extra."""
    setters: list[tuple[int, int, Callable[[str], object] | None]] = []
    extra: list[tuple[int, str]] = []
    filled: set[str] = set()
    for index, name in enumerate(layout):
        kind, field = COLUMNS[name]
        if field is None or field in filled:
            extra.append((index, name))
        else:
            filled.add(field)
            setters.append((index, PsRow._fields.index(field), _CONVERT.get(kind)))
    return tuple(setters), tuple(extra)


_EMPTY_ROW: tuple[object, ...] = tuple(PsRow())
_STATE = PsRow._fields.index("state")
_STAT = PsRow._fields.index("stat")


def row_record(layout: Layout, cells: Sequence[str]) -> PsRow:
    """A `PsRow` from the cells of a row whose every cell passed its kind's rule."""
    setters, extra = _plan(layout)
    values = list(_EMPTY_ROW)
    for index, at, convert in setters:
        cell = cells[index]
        if convert is None:
            values[at] = cell
        else:
            values[at] = None if cell == "-" else convert(cell)
    if values[_STATE] is None and values[_STAT]:
        values[_STATE] = str(values[_STAT])[0]
    values[-1] = tuple((name, cells[index]) for index, name in extra)
    return PsRow._make(values)


# --- stamps ----------------------------------------------------------------------------------

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_UTC_NAMES = frozenset(["UTC", "GMT", "UCT", "Z"])
_MONTH_NUMBER = {
    name: number
    for number, name in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
assert set(_MONTH_NUMBER) == MONTHS


def _offset(zone: str | None) -> timedelta | None:
    """The UTC offset a zone text gives, or None when it names a zone by abbreviation."""
    if zone is None:
        return None
    if zone in _UTC_NAMES:
        return timedelta(0)
    if zone[0] in "+-" and zone[1:].replace(":", "").isdigit():
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        return timedelta(minutes=minutes if zone[0] == "+" else -minutes)
    return None


def _epoch(year: int, month: int, day: int, clock: float, offset: timedelta | None) -> float | None:
    if offset is None:
        return None
    midnight = datetime(year, month, day, tzinfo=timezone(offset))
    return midnight.timestamp() + clock


def stamp_epoch(text: str) -> PsStamp:
    return PsStamp(text, float(text), None)


def stamp_iso(text: str) -> PsStamp:
    match = _ISO.fullmatch(text)
    assert match is not None
    year, month, day, hours, minutes, seconds, fraction, zone = match.groups()
    if hours is None:
        return PsStamp(text, None, None)
    clock = int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
    clock_s = clock + (float("0." + fraction) if fraction else 0.0)
    return PsStamp(text, _epoch(int(year), int(month), int(day), clock_s, _offset(zone)), clock_s)


def stamp_date(text: str, month: str, day: str, clock: str, zone: str | None, year: str) -> PsStamp:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    clock_s = float(hours * 3600 + minutes * 60 + seconds)
    ts = _epoch(int(year), _MONTH_NUMBER[month], int(day), clock_s, _offset(zone))
    return PsStamp(text, ts, clock_s)
