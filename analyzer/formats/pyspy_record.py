"""The record of one line of `py-spy dump` text: what `pyspy_lark.parse_line` returns.

`grammars/pyspy.lark` is the specification of the format. A dump is a few dozen lines, so
there is no fast path: every line goes through the grammar (measured: the committed captures,
about 800 lines, parse in well under a second).

Line kinds (``kind``) and the fields each one sets (every other field is None):

``process``  ``Process 15847: /usr/bin/python3.11 app.py``: ``pid``, ``command`` (the text
             after ``": "``, None when empty).
``parent``   ``Parent Process 15000: bash run.sh`` (``--subprocesses``): ``pid``, ``command``.
``python``   ``Python v3.11.2 (/usr/bin/python3.11)``: ``python_version`` (``3.11.2``),
             ``executable`` (the text between the outer parentheses).
``thread``   ``Thread 15847 (active+gil): "MainThread"``: ``thread_id`` the id as printed;
             ``native_tid`` that id as an integer when it is decimal (the OS thread id);
             ``pthread_id`` when it is ``0x`` hex (the pthread_t py-spy prints when it does
             not know the OS id); ``state`` ``idle`` or ``active``; ``holds_gil`` True for
             ``active+gil``, else False; ``name`` the text between the quotes (None when
             py-spy printed no name).
``frame``    ``    Condition.wait (threading.py:324)``: ``function`` as printed; ``file``
             the location without its line (``threading.py``, ``libc.so.6``, ``?``; None
             when no location was printed); ``line`` the integer after the last ``:`` of the
             location when it is all digits, else None; ``address`` the function text when it
             is a ``0x`` hex address (an unsymbolised native frame); ``native``: see below.
``section``  ``        Arguments:`` / ``        Locals:`` (``--locals``): ``section``
             ``arguments`` or ``locals``.
``local``    ``            name: repr``: ``local_name``, ``repr`` (text after ``": "``;
             ``""`` when py-spy printed nothing after the colon).
``date``     a ``date`` line between dumps: ``time_text`` as printed; ``ts`` epoch seconds
             when the text fixes the instant (ISO or RFC 2822 with an offset or ``Z``,
             ``date +%s``, or the default form with the zone ``UTC``/``GMT``/``Z`` or a
             numeric zone); None when the zone is a name like ``CET`` (its offset is not in
             the text) or missing.
``message``  py-spy's own messages: ``Error: ...`` and env_logger lines: ``text``.
``separator`` the dashes between processes (``--subprocesses``).
``blank``    an empty or blank-only line.

``native`` (frames): True when the frame is not a line of Python source: it has no
``:line`` (``(libc.so.6)``, ``(python3.11)``, ``(?)``) and its file does not end in ``.py``,
or its file is C/C++/Cython/Rust source (``.c .h .cc .cpp .cxx .hpp .pyx .pxd .rs .cu``),
or it is a bare hex address. Python frames (``(app.py:12)``, ``(<frozen runpy>:88)``,
``(<string>:1)``) are False; a frame printed without any location (an edited paste) is
None (unknown).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

LINE_KINDS: tuple[str, ...] = (
    "process",
    "parent",
    "python",
    "thread",
    "frame",
    "section",
    "local",
    "date",
    "message",
    "separator",
    "blank",
)


class PySpyRecord(NamedTuple):
    """One parsed `py-spy dump` line (see the module docstring for the rules)."""

    kind: str
    pid: int | None = None
    command: str | None = None
    python_version: str | None = None
    executable: str | None = None
    thread_id: str | None = None
    native_tid: int | None = None
    pthread_id: int | None = None
    state: str | None = None
    holds_gil: bool | None = None
    name: str | None = None
    function: str | None = None
    file: str | None = None
    line: int | None = None
    address: str | None = None
    native: bool | None = None
    section: str | None = None
    local_name: str | None = None
    repr: str | None = None
    time_text: str | None = None
    ts: float | None = None
    text: str | None = None


class Unparsed(NamedTuple):
    """A line that is not `py-spy dump` output, with the reason it was rejected."""

    reason: str


BLANK = PySpyRecord("blank")
SEPARATOR = PySpyRecord("separator")

_NATIVE_SOURCE = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".pyx", ".pxd", ".rs", ".cu")
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def frame_fields(function: str, location: str | None) -> dict[str, object]:
    """The frame fields of ``function`` and its location text (without the parentheses)."""
    fields: dict[str, object] = {"function": function}
    if _HEX_ADDRESS.fullmatch(function):
        fields["address"] = function
    if location is None:
        fields["native"] = True if "address" in fields else None
        return fields
    file, colon, digits = location.rpartition(":")
    if colon and digits.isdigit() and file:
        fields["file"] = file
        fields["line"] = int(digits)
    else:
        file = location
        fields["file"] = location
    lowered = file.lower()
    fields["native"] = (
        "address" in fields
        or lowered.endswith(_NATIVE_SOURCE)
        or (fields.get("line") is None and not lowered.endswith((".py", ".pyw")))
    )
    return fields


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DEFAULT = re.compile(
    r"[A-Za-z]{3} (?P<mon>[A-Za-z]{3}) +(?P<day>[0-9]{1,2}) (?P<h>[0-9]{2}):(?P<m>[0-9]{2}):"
    r"(?P<s>[0-9]{2})(?: (?P<ampm>[AP]M))? (?P<zone>\S+) (?P<year>[0-9]{4})"
)
_RFC2822 = re.compile(
    r"[A-Za-z]{3}, (?P<day>[0-9]{1,2}) (?P<mon>[A-Za-z]{3}) (?P<year>[0-9]{4}) "
    r"(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2}) (?P<zone>[+-][0-9]{4})"
)
_ISO = re.compile(
    r"(?P<year>[0-9]{4})-(?P<mon>[0-9]{2})-(?P<day>[0-9]{2})[T ](?P<h>[0-9]{2}):(?P<m>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:[.,](?P<frac>[0-9]+))?)?(?P<zone>[+-][0-9]{2}(?::?[0-9]{2})?|Z)?"
)
_NUMERIC_ZONE = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})?")


def zone_offset(zone: str | None) -> timedelta | None:
    """``UTC``/``GMT``/``Z`` -> 0, ``+0530``/``-03:00``/``+03`` -> the offset, else None."""
    if zone is None:
        return None
    if zone in ("UTC", "GMT", "Z", "UCT"):
        return timedelta(0)
    match = _NUMERIC_ZONE.fullmatch(zone)
    if match is None:
        return None
    sign = -1 if match[1] == "-" else 1
    return sign * timedelta(hours=int(match[2]), minutes=int(match[3] or 0))


def _epoch(
    year: int, month: int, day: int, hms: tuple[int, int, int], frac: str, offset: timedelta
) -> float:
    moment = datetime(year, month, day, *hms, tzinfo=timezone(offset))
    return moment.timestamp() + (float("0." + frac) if frac else 0.0)


def date_ts(kind: str, text: str) -> float | None:
    """Epoch seconds of a ``date`` line of the given terminal kind, or None (zone unknown)."""
    if kind == "DATE_EPOCH":
        return float(text)
    pattern = {"DATE_DEFAULT": _DEFAULT, "DATE_RFC2822": _RFC2822, "DATE_ISO": _ISO}[kind]
    match = pattern.fullmatch(text)
    if match is None:
        return None
    offset = zone_offset(match["zone"])
    if offset is None:
        return None
    month = int(match["mon"]) if kind == "DATE_ISO" else _MONTHS[match["mon"]]
    hour = int(match["h"])
    ampm = match.groupdict().get("ampm")
    if ampm is not None:
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    seconds = int(match["s"] or 0)
    frac = match.groupdict().get("frac") or ""
    try:
        return _epoch(
            int(match["year"]),
            month,
            int(match["day"]),
            (hour, int(match["m"]), seconds),
            frac,
            offset,
        )
    except ValueError:
        return None
