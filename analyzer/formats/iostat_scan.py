"""Fast `iostat` line scanner: device rows, cpu values and blank lines with one regex each.

A long `iostat -x 1` capture is almost all device rows (one per device per second); the
banner, stamps and headers are a few lines per report. `scan_line(text)` reads:

- ``""`` or blanks only -> blank;
- a line that starts with a blank and is numbers separated by blanks -> cpu values;
- a name followed by numbers -> a device row, unless the name is one the grammar's lexer
  takes for something else at the start of a line (``Linux``, ``Device``/``Device:``, a
  word starting with ``avg-cpu:``);

and returns None for every other line, which the grammar (`iostat_lark`) then decides:
the scanner never guesses. Tests check `scan_line(x) in (None, iostat_lark.parse_line(x))`
on every fixture line and on generated lines.
"""

from __future__ import annotations

import re

from analyzer.formats.iostat_record import BLANK, IostatRecord, number

_NUMBER = r"-?[0-9]+(?:[.,][0-9]+)?"
_VALUES = re.compile(rf"[ \t]+({_NUMBER}(?:[ \t]+{_NUMBER})*)[ \t]*")
_DEVICE = re.compile(rf"([^\s0-9]\S*)((?:[ \t]+{_NUMBER})+)[ \t]*")
_SPLIT = re.compile(r"[ \t]+")
_KEYWORDS = frozenset({"Linux", "Device", "Device:"})


def scan_line(text: str) -> IostatRecord | None:
    """The record of one line, or None when the grammar must decide."""
    if not text.strip(" \t"):
        return BLANK
    first = text[0]
    if first == " " or first == "\t":
        match = _VALUES.fullmatch(text)
        if match is None:
            return None
        return IostatRecord("values", values=tuple(number(part) for part in _SPLIT.split(match[1])))
    match = _DEVICE.fullmatch(text)
    if match is None:
        return None
    name = match[1]
    if name in _KEYWORDS or name.startswith("avg-cpu:"):
        return None
    return IostatRecord(
        "device",
        device=name,
        values=tuple(number(part) for part in _SPLIT.split(match[2].strip(" \t"))),
    )
