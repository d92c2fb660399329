"""Records of CloudWatch metric exports: one CSV line, or one JSON result's datapoint.

The JSON outputs of `aws cloudwatch get-metric-data` and `get-metric-statistics` are read
as whole documents (`cloudwatch.py`); the CSV form (a graph's data: a header naming the
columns, then one row per timestamp) is read line by line with `grammars/cloudwatch_csv.lark`
(`cloudwatch_lark.py`), each line to a `CsvRecord`:

``header``  ``labels``: the column labels in order (quotes removed, ``""`` -> ``"``); the
            first one names the time column.
``row``     ``time_text`` (the first cell as printed), ``ts`` (epoch seconds: ISO or
            space-separated times without a zone are UTC, which is how CloudWatch exports
            them; 13-digit epochs are milliseconds), ``values`` (one float or None per
            cell after the time; an empty cell is None: no datapoint at that time).
``blank``   an empty or blank-only line.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple


class CsvRecord(NamedTuple):
    """One parsed line of a CloudWatch CSV (see the module docstring)."""

    kind: str
    labels: tuple[str, ...] | None = None
    time_text: str | None = None
    ts: float | None = None
    values: tuple[float | None, ...] | None = None


class Unparsed(NamedTuple):
    """A line (or document) that is not a CloudWatch export, with the reason."""

    reason: str


BLANK = CsvRecord("blank")


def iso_ts(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 time (``Z``, ``+00:00``, ``+0000`` or no zone = UTC),
    ``YYYY/MM/DD HH:MM[:SS]``, or epoch seconds / milliseconds; None if impossible."""
    if text.isdigit():
        return int(text) / 1000 if len(text) == 13 else float(text)
    normal = text.replace("/", "-").replace(" ", "T")
    if normal.endswith("Z"):
        normal = normal[:-1] + "+00:00"
    if len(normal) > 16 and normal[-5] in "+-" and ":" not in normal[-5:]:
        normal = normal[:-2] + ":" + normal[-2:]
    try:
        moment = datetime.fromisoformat(normal)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
