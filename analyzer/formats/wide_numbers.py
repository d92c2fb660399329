"""Numbers too wide for the tables' 64-bit integer columns.

Every integer a format reads (pids, times in nanoseconds, return values, periods ...) goes
into an int64 column. A line carrying a wider one (a corrupt or hostile log, a fuzzer's
input) is not strace or perf output as any tool printed it: it is counted as unparsed with
`REASON`, never a traceback. `suspect_lines` picks, with one RE2 pass over a chunk, the few
lines that may hold such a number, so that only those take the exact (Python) check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: the light fold path (`analyzer.cli.fold`) needs neither
    import numpy as np
    import pyarrow as pa

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

REASON = "a number outside 64 bits"

SUSPECT = r"\d{19}|0x[0-9a-fA-F]{17}|(?:^|[^0-9])(?:\d{11}|9\d{9})\.\d"
"""A superset of the lines with an integer field outside int64: 19 or more digits, more than
16 hex digits, or at least 9e9 whole seconds (which overflow as nanoseconds)."""


def suspect_lines(lines: pa.StringArray) -> np.ndarray:
    """Which lines may hold a number that overflows int64 once read (see `SUSPECT`)."""
    import pyarrow.compute as pc

    from analyzer.arrays import filled_numpy

    found = pc.match_substring_regex(lines, SUSPECT)
    return filled_numpy(found, False)


def fits(value: object) -> bool:
    """Whether a parsed field fits an int64 column (non-integers always do)."""
    return not isinstance(value, int) or isinstance(value, bool) or INT64_MIN <= value <= INT64_MAX


def all_fit(values: Iterable[object]) -> bool:
    """Whether every field of a parsed record (a tuple of fields) fits its int64 column."""
    return all(fits(value) for value in values)


def record_fits(record: object) -> bool:
    """`all_fit` for a record that is a named tuple or a dataclass (nested tuples, lists and
    dicts of values are looked into)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        values: Iterable[object] = (getattr(record, f.name) for f in dataclasses.fields(record))
    elif isinstance(record, tuple | list):
        values = record
    elif isinstance(record, dict):
        values = record.values()
    else:
        return fits(record)
    return all(record_fits(value) for value in values)
