"""The record of one line of sysstat `iostat` text: what both iostat line parsers return.

`grammars/iostat.lark` is the specification of the format; the Lark parser (`iostat_lark`)
and the fast line scanner (`iostat_scan`) both reduce a line to an `IostatRecord`, and tests
assert they agree. A line does not say what its numbers mean: the header line above it does,
so records keep the numbers in order and `iostat.py` names them from the last header.

Line kinds (``kind``) and the fields each sets (every other field is None):

``banner``         ``Linux 6.18.44 (vm) \\t12/05/26 \\t_x86_64_\\t(2 CPU)``: ``system``
                   (``Linux``), ``kernel``, ``host`` (without parentheses), ``date_text``
                   and ``day`` (the date as ``YYYY-MM-DD``) when printed, ``arch``
                   (``_x86_64_``), ``cpus``.
``time``           the ``-t`` stamp of a report: ``time_text`` as printed; ``day``; ``ts``
                   epoch seconds; ``utc_offset_known`` True only for ISO stamps with an
                   offset (``S_TIME_FORMAT=ISO``): the other forms print local time without
                   a zone, and ``ts`` reads that wall clock as if it were UTC (add the host's
                   offset to align with other sources).
``cpu_header``     ``avg-cpu:  %user ...``: ``columns`` (the names after ``avg-cpu:``).
``device_header``  ``Device  r/s ...`` or ``Device:  rrqm/s ...``: ``columns``.
``values``         an indented line of numbers (the avg-cpu values): ``values``.
``device``         ``vda  74.36 ...``: ``device`` and ``values``.
``blank``          an empty or blank-only line.

Numbers: ``values`` holds floats; a decimal comma (LC_NUMERIC=de_DE: ``20,38``) reads as a
decimal point.

Dates (``day``): ``12/05/26`` and ``12/05/2026`` are month/day/year (the C/POSIX and en_US
forms; a locale that prints day/month/year with slashes, such as en_GB, cannot be told apart
from the text and is read the same way); ``05.12.2026`` is day.month.year; ``2026-12-05``
is ISO. Two-digit years are 20YY. An impossible date (month 13) leaves ``day`` and ``ts``
None. Times with ``AM``/``PM`` are 12-hour clock times.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

LINE_KINDS: tuple[str, ...] = (
    "banner",
    "time",
    "cpu_header",
    "device_header",
    "values",
    "device",
    "blank",
)


class IostatRecord(NamedTuple):
    """One parsed `iostat` line (see the module docstring for the rules)."""

    kind: str
    system: str | None = None
    kernel: str | None = None
    host: str | None = None
    date_text: str | None = None
    day: str | None = None
    arch: str | None = None
    cpus: int | None = None
    time_text: str | None = None
    ts: float | None = None
    utc_offset_known: bool | None = None
    columns: tuple[str, ...] | None = None
    device: str | None = None
    values: tuple[float, ...] | None = None


class Unparsed(NamedTuple):
    """A line that is not `iostat` output, with the reason it was rejected."""

    reason: str


BLANK = IostatRecord("blank")


def number(text: str) -> float:
    """``"20.38"`` or ``"20,38"`` -> 20.38."""
    return float(text.replace(",", "."))


def parse_day(text: str) -> date | None:
    """The date of a banner or stamp date (see the module docstring), or None if impossible."""
    try:
        if "/" in text:
            month, day, year = text.split("/")
        elif "." in text:
            day, month, year = text.split(".")
        else:
            year, month, day = text.split("-")
        full_year = int(year) + (2000 if len(year) == 2 else 0)
        return date(full_year, int(month), int(day))
    except ValueError:
        return None


def stamp_fields(date_text: str, clock: str, ampm: str | None) -> dict[str, object]:
    """``time`` fields of a locale stamp: date text, ``HH:MM:SS``, optional AM/PM."""
    fields: dict[str, object] = {"utc_offset_known": False}
    day = parse_day(date_text)
    if day is None:
        return fields
    fields["day"] = day.isoformat()
    hour, minute, second = (int(part) for part in clock.split(":"))
    if ampm is not None:
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    if hour > 23 or minute > 59 or second > 60:
        return fields
    moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    fields["ts"] = moment.timestamp() + hour * 3600 + minute * 60 + second
    return fields


def iso_stamp_fields(text: str) -> dict[str, object]:
    """``time`` fields of ``2026-12-05T08:11:20+0000`` (offset optional)."""
    stamp, offset_text = text[:19], text[19:]
    fields: dict[str, object] = {"utc_offset_known": bool(offset_text)}
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return fields
    fields["day"] = moment.date().isoformat()
    offset = timedelta(0)
    if offset_text and offset_text != "Z":
        sign = -1 if offset_text[0] == "-" else 1
        offset = sign * timedelta(hours=int(offset_text[1:3]), minutes=int(offset_text[3:5]))
    fields["ts"] = moment.replace(tzinfo=timezone(offset)).timestamp()
    return fields
