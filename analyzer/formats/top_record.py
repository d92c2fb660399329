"""The records both `top -b` line parsers produce, the column vocabulary and the cell rules.

`grammars/top.lark` is the specification of `top`'s batch output; the grammar-based parser
(`top_lark`) and the fast path (`top_scan`) reduce a line to one of the records below, and
tests assert they agree. A line is read knowing the column layout of the last header
(`Layout`); `top.parse` keeps that context.

Records (one per line):

``TopUptime``   ``top - 08:14:40 up 11 min,  0 user,  load average: 1.20, 0.85, 0.41``
``TopTasks``    ``Threads:   6 total,   1 running, ...`` (or ``Tasks:``)
``TopCpu``      ``%Cpu(s):  0.0 us, ...``, ``Cpu(s):  0.1%us, ...``, ``%Cpu0  : ...``
``TopMemory``   ``MiB Mem : ...``, ``KiB Swap: ...``, ``Mem:   8193748k total, ...``
``TopBlank``    an empty or blank-only line
``TopHeader``   the column header
``TopRow``      a task (thread with ``-H``) row

Field rules:

- ``clock_s``: the wall-clock time of the ``top -`` line in seconds since midnight (local
  time of the machine top ran on; the date is not printed).
- ``uptime_s``: ``up`` as seconds: days, hours and minutes (``up 14 days,  3:13`` is
  14 * 86400 + 3 * 3600 + 13 * 60); minute resolution.
- numbers printed with a decimal comma (LC_NUMERIC) are read as with a point.
- ``TopCpu.cpu``: None for the all-CPU line (``Cpu(s)``), else the CPU number of ``-1``'s
  per-CPU lines. Fields top did not print (``st`` before procps 3.2.7) are None.
- ``TopMemory``: every amount in KiB (``MiB Mem :`` amounts times 1024, ``8193748k`` as is);
  ``kind`` is ``mem`` or ``swap``; ``unit`` the label's unit (``KiB``...; ``k`` for the 3.2
  suffix). ``avail`` is ``avail Mem`` (3.3.10+), ``cached`` is ``cached`` / ``cached Mem``.
- ``TopHeader.columns``: the header's names in order; ``unknown``: those not in `COLUMNS`.
- ``TopRow``: one field per known column (None when the layout lacks it or top printed
  ``?``/``-``); ``tid`` is the PID column (the thread id with ``-H``); memory in KiB from the
  scaled text (``1.2g`` is 1.2 * 1024**2 KiB; the scaled value is rounded by top);
  ``time_s`` from ``TIME+`` or ``TIME`` with ``time_res_s`` the resolution of the printed
  form (0.01 for ``M:SS.cc``, 1, 60 for ``H,MM``, 3600, 86400 or 604800); ``pr`` is None and
  ``realtime`` True for ``rt``; ``command`` is printed text, cut by top at the column width
  with a ``+`` mark it adds (a name that really ends in ``+`` cannot be told from it);
  ``extra`` keeps the other known columns as ``(name, text)`` pairs, in header order (and a
  column whose field an earlier column filled, such as TIME after TIME+).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import Enum
from functools import cache
from typing import NamedTuple

from analyzer.formats.snapshot_cells import Shape, decimal

__all__ = [
    "BLANK",
    "COLUMNS",
    "DEFAULT_LAYOUT",
    "Kind",
    "Layout",
    "TopBlank",
    "TopCpu",
    "TopHeader",
    "TopMemory",
    "TopRecord",
    "TopRow",
    "TopTasks",
    "TopUptime",
    "Unparsed",
]


class TopUptime(NamedTuple):
    clock_s: int
    uptime_s: int
    users: int | None
    load1: float
    load5: float
    load15: float


class TopTasks(NamedTuple):
    label: str
    """``Tasks`` or ``Threads``."""
    total: int
    running: int | None = None
    sleeping: int | None = None
    stopped: int | None = None
    zombie: int | None = None
    d_sleep: int | None = None


class TopCpu(NamedTuple):
    cpu: int | None
    us: float | None = None
    sy: float | None = None
    ni: float | None = None
    id: float | None = None
    wa: float | None = None
    hi: float | None = None
    si: float | None = None
    st: float | None = None


class TopMemory(NamedTuple):
    kind: str
    unit: str
    total: float | None = None
    free: float | None = None
    used: float | None = None
    buff_cache: float | None = None
    buffers: float | None = None
    cached: float | None = None
    avail: float | None = None


class TopBlank(NamedTuple):
    pass


class TopHeader(NamedTuple):
    columns: tuple[str, ...]
    unknown: tuple[str, ...]


class TopRow(NamedTuple):
    tid: int | None = None
    tgid: int | None = None
    ppid: int | None = None
    uid: int | None = None
    user: str | None = None
    pr: int | None = None
    realtime: bool | None = None
    ni: int | None = None
    nth: int | None = None
    last_cpu: int | None = None
    state: str | None = None
    cpu_pct: float | None = None
    mem_pct: float | None = None
    virt_kib: float | None = None
    res_kib: float | None = None
    shr_kib: float | None = None
    swap_kib: float | None = None
    time_s: float | None = None
    time_res_s: float | None = None
    wchan: str | None = None
    command: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


class Unparsed(NamedTuple):
    """A line that is not `top -b` output (or not of the current layout), and why."""

    reason: str


TopRecord = TopUptime | TopTasks | TopCpu | TopMemory | TopBlank | TopHeader | TopRow
BLANK = TopBlank()


class Kind(Enum):
    """The cell kind of a column: which grammar start symbol reads its cells."""

    INT = "cell_int"
    PRIO = "cell_prio"
    MEM = "cell_mem"
    PCT = "cell_pct"
    TIME = "cell_time"
    STATE = "cell_state"
    TEXT = "cell_text"


COLUMNS: dict[str, tuple[Kind, str | None]] = {
    "PID": (Kind.INT, "tid"),
    "PPID": (Kind.INT, "ppid"),
    "UID": (Kind.INT, "uid"),
    "USER": (Kind.TEXT, "user"),
    "RUID": (Kind.INT, None),
    "RUSER": (Kind.TEXT, None),
    "SUID": (Kind.INT, None),
    "SUSER": (Kind.TEXT, None),
    "GID": (Kind.INT, None),
    "GROUP": (Kind.TEXT, None),
    "PGRP": (Kind.INT, None),
    "TTY": (Kind.TEXT, None),
    "TPGID": (Kind.INT, None),
    "SID": (Kind.INT, None),
    "PR": (Kind.PRIO, "pr"),
    "NI": (Kind.INT, "ni"),
    "nTH": (Kind.INT, "nth"),
    "P": (Kind.INT, "last_cpu"),
    "%CPU": (Kind.PCT, "cpu_pct"),
    "TIME": (Kind.TIME, "time_s"),
    "TIME+": (Kind.TIME, "time_s"),
    "%MEM": (Kind.PCT, "mem_pct"),
    "VIRT": (Kind.MEM, "virt_kib"),
    "SWAP": (Kind.MEM, "swap_kib"),
    "RES": (Kind.MEM, "res_kib"),
    "CODE": (Kind.MEM, None),
    "DATA": (Kind.MEM, None),
    "SHR": (Kind.MEM, "shr_kib"),
    "nMaj": (Kind.MEM, None),
    "nMin": (Kind.MEM, None),
    "nDRT": (Kind.MEM, None),
    "nFLT": (Kind.MEM, None),
    "S": (Kind.STATE, "state"),
    "COMMAND": (Kind.TEXT, "command"),
    "WCHAN": (Kind.TEXT, "wchan"),
    "Flags": (Kind.TEXT, None),
    "CGROUPS": (Kind.TEXT, None),
    "SUPGIDS": (Kind.TEXT, None),
    "SUPGRPS": (Kind.TEXT, None),
    "TGID": (Kind.INT, "tgid"),
    "OOMa": (Kind.INT, None),
    "OOMs": (Kind.INT, None),
    "ENVIRON": (Kind.TEXT, None),
    "vMj": (Kind.MEM, None),
    "vMn": (Kind.MEM, None),
    "USED": (Kind.MEM, None),
    "nsIPC": (Kind.INT, None),
    "nsMNT": (Kind.INT, None),
    "nsNET": (Kind.INT, None),
    "nsPID": (Kind.INT, None),
    "nsUSER": (Kind.INT, None),
    "nsUTS": (Kind.INT, None),
    "LXC": (Kind.TEXT, None),
    "RSan": (Kind.MEM, None),
    "RSfd": (Kind.MEM, None),
    "RSlk": (Kind.MEM, None),
    "RSsh": (Kind.MEM, None),
    "CGNAME": (Kind.TEXT, None),
    "NU": (Kind.INT, None),
    "LOGID": (Kind.INT, None),
    "EXE": (Kind.TEXT, None),
    "RSS": (Kind.MEM, None),
    "PSS": (Kind.MEM, None),
    "PSan": (Kind.MEM, None),
    "PSfd": (Kind.MEM, None),
    "PSsh": (Kind.MEM, None),
    "USS": (Kind.MEM, None),
    "ioR": (Kind.MEM, None),
    "ioRop": (Kind.MEM, None),
    "ioW": (Kind.MEM, None),
    "ioWop": (Kind.MEM, None),
    "AGID": (Kind.INT, None),
    "AGNI": (Kind.INT, None),
    "STARTED": (Kind.TEXT, None),
    "ELAPSED": (Kind.TEXT, None),
    "%CUU": (Kind.PCT, None),
    "%CUC": (Kind.PCT, None),
    "nsCGROUP": (Kind.INT, None),
    "nsTIME": (Kind.INT, None),
}
"""Every column name of the grammar's KNOWN_NAME: its cell kind and the `TopRow` field it
fills (None: kept as text in ``extra``). Counts that top scales like memory (nMaj, ioR...) use
the MEM cell rule; their text is kept, not converted."""

Layout = tuple[str, ...]
"""A header's column names, in order."""

DEFAULT_LAYOUT: Layout = (
    "PID",
    "USER",
    "PR",
    "NI",
    "VIRT",
    "RES",
    "SHR",
    "S",
    "%CPU",
    "%MEM",
    "TIME+",
    "COMMAND",
)
"""The columns of every procps top from 3.2 to 4.0 without a toprc: used for rows read
before any header (a capture cut after its first lines)."""


SPACED: frozenset[str] = frozenset(["COMMAND", "ENVIRON", "CGROUPS", "CGNAME", "EXE", "LXC"])
"""Text columns whose cells may hold blanks (a thread name, a command line with -c)."""


@cache
def layout_shapes(layout: Layout) -> tuple[Shape, ...]:
    """Each column's `Shape`: the last column that may hold blanks (`SPACED`; or the last
    column, when it is text) takes the words the others leave."""
    spaced = [index for index, name in enumerate(layout) if name in SPACED]
    if layout and COLUMNS.get(layout[-1], (None,))[0] is Kind.TEXT:
        spaced.append(len(layout) - 1)
    rest = max(spaced) if spaced else None
    return tuple(Shape.REST if index == rest else Shape.ONE for index in range(len(layout)))


def unknown_columns(layout: Layout) -> tuple[str, ...]:
    return tuple(name for name in layout if name not in COLUMNS)


# --- cell conversions (shared by both parsers) ---------------------------------------------

_MEM_SCALE = {"": 1.0, "k": 1.0, "m": 1024.0, "g": 1024.0**2, "t": 1024.0**3}
_MEM_SCALE.update({"p": 1024.0**4, "e": 1024.0**5})


def mem_kib(text: str) -> float | None:
    """``149048`` -> 149048.0; ``1.2g`` -> 1258291.2; ``?``/``-`` -> None."""
    if text in ("?", "-"):
        return None
    suffix = text[-1].lower() if text[-1].isalpha() else ""
    number = text[:-1] if suffix else text
    return decimal(number) * _MEM_SCALE[suffix]


_TIME_FORMS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"([0-9]+):([0-9]{2})\.([0-9]{2})"), 0.01),
    (re.compile(r"([0-9]+):([0-9]{2})"), 1.0),
    (re.compile(r"([0-9]+),([0-9]{2})"), 60.0),
    (re.compile(r"([0-9]+)[dD]\+([0-9]+)[hH]"), 3600.0),
    (re.compile(r"([0-9]+)[wW]\+([0-9]+)[dD]"), 86400.0),
    (re.compile(r"([0-9]+)[hH]"), 3600.0),
    (re.compile(r"([0-9]+)[dD]"), 86400.0),
    (re.compile(r"([0-9]+)[wW]"), 604800.0),
)


def cpu_time(text: str) -> tuple[float, float] | tuple[None, None]:
    """(seconds, resolution) of a TIME/TIME+ cell (see the grammar's CPU_TIME)."""
    for pattern, resolution in _TIME_FORMS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        numbers = [int(group) for group in match.groups()]
        if resolution == 0.01:
            return numbers[0] * 60 + numbers[1] + numbers[2] / 100, resolution
        if resolution == 1.0:
            return float(numbers[0] * 60 + numbers[1]), resolution
        if resolution == 60.0:
            return float(numbers[0] * 3600 + numbers[1] * 60), resolution
        if len(numbers) == 2:  # Dd+Hh, Ww+Dd: the larger unit then the smaller
            big = 86400 if resolution == 3600.0 else 604800
            return float(numbers[0] * big + numbers[1] * resolution), resolution
        return float(numbers[0] * resolution), resolution
    return None, None


_Setter = Callable[[list[object], str], None]
_MISSING = frozenset(["?", "-"])


def _setter(kind: Kind, field: str) -> _Setter:
    """The function that stores a cell of `kind` into the `TopRow` values of `field`."""
    at = TopRow._fields.index(field)
    if kind is Kind.INT:

        def set_int(values: list[object], cell: str) -> None:
            values[at] = None if cell in _MISSING else int(cell)

        return set_int
    if kind is Kind.PRIO:
        realtime_at = TopRow._fields.index("realtime")

        def set_prio(values: list[object], cell: str) -> None:
            if cell in _MISSING:
                values[at] = values[realtime_at] = None
            elif cell in ("rt", "RT"):
                values[at], values[realtime_at] = None, True
            else:
                values[at], values[realtime_at] = int(cell), False

        return set_prio
    if kind is Kind.MEM:

        def set_mem(values: list[object], cell: str) -> None:
            values[at] = mem_kib(cell)

        return set_mem
    if kind is Kind.PCT:

        def set_pct(values: list[object], cell: str) -> None:
            values[at] = None if cell in _MISSING else decimal(cell)

        return set_pct
    if kind is Kind.TIME:
        resolution_at = TopRow._fields.index("time_res_s")

        def set_time(values: list[object], cell: str) -> None:
            if cell in _MISSING:
                values[at] = values[resolution_at] = None
            else:
                values[at], values[resolution_at] = cpu_time(cell)

        return set_time

    def set_text(values: list[object], cell: str) -> None:
        values[at] = cell

    return set_text


@cache
def _plan(layout: Layout) -> tuple[tuple[tuple[int, _Setter], ...], tuple[tuple[int, str], ...]]:
    """(the setter of each column that fills a field, the (index, name) of the others): the
    first column that fills a field wins (TIME and TIME+ both show), later ones are extra."""
    setters: list[tuple[int, _Setter]] = []
    extra: list[tuple[int, str]] = []
    filled: set[str] = set()
    for index, name in enumerate(layout):
        kind, field = COLUMNS[name]
        if field is None or field in filled:
            extra.append((index, name))
        else:
            filled.add(field)
            setters.append((index, _setter(kind, field)))
    return tuple(setters), tuple(extra)


_EMPTY_ROW: tuple[object, ...] = tuple(TopRow())


def row_record(layout: Layout, cells: Sequence[str]) -> TopRow:
    """A `TopRow` from the cells of a row whose every cell passed its kind's rule."""
    setters, extra = _plan(layout)
    values = list(_EMPTY_ROW)
    for index, setter in setters:
        setter(values, cells[index])
    values[-1] = tuple((name, cells[index]) for index, name in extra)
    return TopRow._make(values)


def uptime_seconds(days: int, hours: int, minutes: int) -> int:
    return days * 86400 + hours * 3600 + minutes * 60


def clock_seconds(text: str) -> int:
    """``08:14:40`` -> 29680."""
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds)


MEMORY_UNITS: dict[str, float] = {
    "": 1.0,
    "k": 1.0,
    "KiB": 1.0,
    "MiB": 1024.0,
    "GiB": 1024.0**2,
    "TiB": 1024.0**3,
    "PiB": 1024.0**4,
    "EiB": 1024.0**5,
}
MEMORY_FIELDS: dict[str, str] = {
    "total": "total",
    "free": "free",
    "used": "used",
    "buff/cache": "buff_cache",
    "buffers": "buffers",
    "cached": "cached",
    "cached Mem": "cached",
    "avail Mem": "avail",
}
TASK_FIELDS: dict[str, str] = {
    "running": "running",
    "sleeping": "sleeping",
    "sleep": "sleeping",
    "d-sleep": "d_sleep",
    "stopped": "stopped",
    "zombie": "zombie",
}


def memory_label(label: str) -> tuple[str, str]:
    """``MiB Mem :`` -> (``mem``, ``MiB``); ``Swap:`` -> (``swap``, ``""``)."""
    words = label.rstrip(":").split()
    unit = words[0] if len(words) == 2 else ""
    return ("swap" if words[-1] == "Swap" else "mem"), unit


def memory_amount(text: str, unit: str) -> tuple[float, str]:
    """The KiB of one amount and the unit it was in (``8193748k`` -> (8193748.0, ``k``))."""
    if text.endswith("k"):
        return decimal(text[:-1]), "k"
    return decimal(text) * MEMORY_UNITS[unit], unit


def graph_mode_reason(text: str) -> str | None:
    """The reason for a summary line top drew as a bar graph (its t/m toggles), if it is one."""
    label = re.match(r"(%?Cpu[^:]*|%Node[0-9]+[ \t]*|([KMGTPE]iB[ \t]+)?(Mem|Swap)[ \t]*):", text)
    if label and "[" in text and text.rstrip().endswith("]"):
        return "summary line in graph mode (top's t/m toggles): its numbers are not itemized"
    return None
