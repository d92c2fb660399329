"""The records both `pidstat` line parsers produce, the column vocabulary and the cell rules.

`grammars/pidstat.lark` is the specification of sysstat's `pidstat` output; the
grammar-based parser (`pidstat_lark`) and the fast path (`pidstat_scan`) reduce a line to
one of the records below, and tests assert they agree. A row is read with the columns of the
last header (`Layout`, the names after the header's time), which `pidstat.parse` keeps.

Records:

``PidstatBanner``  ``Linux 6.18.44 (vm) <TAB>12/05/26 <TAB>_x86_64_<TAB>(2 CPU)``
``PidstatHeader``  ``08:13:06      UID      TGID       TID    %usr ... Command``
``PidstatRow``     ``08:13:07        0     19001         -   87.00 ... iodw-main``
``PidstatBlank``   an empty or blank-only line

Field rules:

- ``PidstatBanner.date``: (year, month, day) from the locale's date: ``YYYY-MM-DD``
  (S_TIME_FORMAT=ISO), ``DD.MM.YYYY``, ``MM/DD/YY[YY]`` (C, en_US; read as DD/MM when the
  first number is above 12); None for any other form. ``date_text`` keeps it as printed.
- ``Time`` (``PidstatHeader.time`` and the row's): ``clock_s`` the time of day in seconds
  (``08:13:06 PM`` is 72786), ``epoch`` the seconds of the ``-h`` stamps of sysstat before
  11.5, ``average`` True for the averages label (``Average:``, ``Durchschn.:``); None where
  they do not apply.
- ``PidstatRow``: one field per known column, None when the layout lacks it or pidstat
  printed ``-``. ``pid`` is the PID column (without ``-t``), ``tgid`` and ``tid`` as printed
  (``-t``: a process row has the TGID, a thread row the TID); ``thread`` is True for a
  thread row (its Command starts with ``|__``, removed from ``command``); rates are per
  second, ``*_pct`` percentages, memory (VSZ, RSS, StkSize, StkRef) in KiB; decimals
  printed with a comma are read as with a point; ``extra`` keeps the other known columns as
  ``(name, text)`` pairs in header order.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache
from typing import NamedTuple

from analyzer.formats.snapshot_cells import Shape, decimal

__all__ = [
    "BLANK",
    "COLUMNS",
    "Kind",
    "Layout",
    "PidstatBanner",
    "PidstatBlank",
    "PidstatHeader",
    "PidstatRecord",
    "PidstatRow",
    "Time",
    "Unparsed",
]


class Time(NamedTuple):
    clock_s: int | None = None
    epoch: int | None = None
    average: bool = False


class PidstatBanner(NamedTuple):
    system: str
    release: str
    host: str
    date_text: str
    date: tuple[int, int, int] | None
    arch: str
    cpus: int


class PidstatHeader(NamedTuple):
    time: Time | None
    """None for the ``# Time`` of -h."""
    columns: tuple[str, ...]
    unknown: tuple[str, ...]


class PidstatRow(NamedTuple):
    time: Time
    uid: int | None = None
    user: str | None = None
    pid: int | None = None
    tgid: int | None = None
    tid: int | None = None
    thread: bool = False
    usr_pct: float | None = None
    system_pct: float | None = None
    guest_pct: float | None = None
    wait_pct: float | None = None
    cpu_pct: float | None = None
    cpu: int | None = None
    minflt_s: float | None = None
    majflt_s: float | None = None
    vsz_kib: int | None = None
    rss_kib: int | None = None
    mem_pct: float | None = None
    stack_size_kib: int | None = None
    stack_ref_kib: int | None = None
    kb_rd_s: float | None = None
    kb_wr_s: float | None = None
    kb_ccwr_s: float | None = None
    iodelay: int | None = None
    cswch_s: float | None = None
    nvcswch_s: float | None = None
    threads: int | None = None
    fd_nr: int | None = None
    command: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


class PidstatBlank(NamedTuple):
    pass


class Unparsed(NamedTuple):
    """A line that is not pidstat output (or not of the current layout), and why."""

    reason: str


PidstatRecord = PidstatBanner | PidstatHeader | PidstatRow | PidstatBlank
BLANK = PidstatBlank()


class Kind(Enum):
    """The cell kind of a column: which grammar start symbol reads its cells."""

    INT = "cell_int"
    DECIMAL = "cell_decimal"
    TEXT = "cell_text"


COLUMNS: dict[str, tuple[Kind, str | None]] = {
    "UID": (Kind.INT, "uid"),
    "USER": (Kind.TEXT, "user"),
    "PID": (Kind.INT, "pid"),
    "TGID": (Kind.INT, "tgid"),
    "TID": (Kind.INT, "tid"),
    "%usr": (Kind.DECIMAL, "usr_pct"),
    "%user": (Kind.DECIMAL, "usr_pct"),
    "%system": (Kind.DECIMAL, "system_pct"),
    "%guest": (Kind.DECIMAL, "guest_pct"),
    "%wait": (Kind.DECIMAL, "wait_pct"),
    "%CPU": (Kind.DECIMAL, "cpu_pct"),
    "CPU": (Kind.INT, "cpu"),
    "usr-ms": (Kind.INT, None),
    "system-ms": (Kind.INT, None),
    "guest-ms": (Kind.INT, None),
    "minflt/s": (Kind.DECIMAL, "minflt_s"),
    "majflt/s": (Kind.DECIMAL, "majflt_s"),
    "minflt-nr": (Kind.INT, None),
    "majflt-nr": (Kind.INT, None),
    "VSZ": (Kind.INT, "vsz_kib"),
    "RSS": (Kind.INT, "rss_kib"),
    "%MEM": (Kind.DECIMAL, "mem_pct"),
    "StkSize": (Kind.INT, "stack_size_kib"),
    "StkRef": (Kind.INT, "stack_ref_kib"),
    "kB_rd/s": (Kind.DECIMAL, "kb_rd_s"),
    "kB_wr/s": (Kind.DECIMAL, "kb_wr_s"),
    "kB_ccwr/s": (Kind.DECIMAL, "kb_ccwr_s"),
    "iodelay": (Kind.INT, "iodelay"),
    "cswch/s": (Kind.DECIMAL, "cswch_s"),
    "nvcswch/s": (Kind.DECIMAL, "nvcswch_s"),
    "threads": (Kind.INT, "threads"),
    "fd-nr": (Kind.INT, "fd_nr"),
    "prio": (Kind.INT, None),
    "policy": (Kind.TEXT, None),
    "Command": (Kind.TEXT, "command"),
}
"""Every column name of the grammar's KNOWN_NAME: its cell kind and the `PidstatRow` field it
fills (None: kept as text in ``extra``)."""

Layout = tuple[str, ...]
"""A header's column names after its time, in order."""

THREAD_MARK = "|__"


@cache
def layout_shapes(layout: Layout) -> tuple[Shape, ...]:
    """Each column's `Shape`: Command (or a last text column) takes the words left over."""
    spaced = [index for index, name in enumerate(layout) if name == "Command"]
    if layout and COLUMNS.get(layout[-1], (None,))[0] is Kind.TEXT:
        spaced.append(len(layout) - 1)
    rest = max(spaced) if spaced else None
    return tuple(Shape.REST if index == rest else Shape.ONE for index in range(len(layout)))


def unknown_columns(layout: Layout) -> tuple[str, ...]:
    return tuple(name for name in layout if name not in COLUMNS)


def row_record(time: Time, layout: Layout, cells: list[str]) -> PidstatRow:
    """A `PidstatRow` from the cells of a row whose every cell passed its kind's rule."""
    fields: dict[str, object] = {}
    extra: list[tuple[str, str]] = []
    for name, cell in zip(layout, cells, strict=True):
        kind, field = COLUMNS[name]
        if field is None or field in fields:
            extra.append((name, cell))
            continue
        if cell == "-" and kind is not Kind.TEXT:
            fields[field] = None
        elif kind is Kind.INT:
            fields[field] = int(cell)
        elif kind is Kind.DECIMAL:
            fields[field] = decimal(cell)
        elif field == "command" and cell.startswith(THREAD_MARK):
            fields["thread"] = True
            fields[field] = cell[len(THREAD_MARK) :]
        else:
            fields[field] = cell
    return PidstatRow(time, **fields, extra=tuple(extra))  # type: ignore[arg-type]


def clock_time(clock: str, meridiem: str | None) -> Time:
    """``08:13:06`` -> 29586 s; ``12:00:01 AM`` -> 1 s; ``01:00:00 PM`` -> 46800 s."""
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    if meridiem is not None:
        hours = hours % 12 + (12 if meridiem == "PM" else 0)
    return Time(clock_s=hours * 3600 + minutes * 60 + seconds)


AVERAGE = Time(average=True)

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DOTTED_DATE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")
_SLASHED_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{2}|[0-9]{4})")


def banner_date(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of the banner's date word, or None (see the module docstring)."""
    match = _ISO_DATE.fullmatch(text)
    if match:
        year, month, day = (int(group) for group in match.groups())
    elif match := _DOTTED_DATE.fullmatch(text):
        day, month, year = (int(group) for group in match.groups())
    elif match := _SLASHED_DATE.fullmatch(text):
        month, day, year = (int(group) for group in match.groups())
        if month > 12:
            month, day = day, month
        if year < 100:
            year += 2000
    else:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return year, month, day


def banner_record(
    system: str, release: str, host: str, date: str, arch: str, cpus: str
) -> PidstatBanner:
    return PidstatBanner(
        system,
        release,
        host[1:-1],
        date,
        banner_date(date),
        arch.strip("_"),
        int(cpus[1:].split()[0]),
    )
