"""Helpers the sections of the snapshot and metrics sources share (top, ps, pidstat, py-spy,
iostat, CloudWatch): time series cut to a size a report can show, the description of an
input's clock, and the JSON cleaning of a section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analyzer.clean import clean

__all__ = [
    "CLOCK_NOTES",
    "MAX_POINTS",
    "clock_of",
    "finished",
    "integer",
    "none",
    "series",
    "spread",
]

MAX_POINTS = 300
"""Points of one time series in a report at most (evenly spaced ones are kept, with the
first, the last and the largest)."""

CLOCK_NOTES: dict[str, str] = {
    "epoch": "Unix time (UTC), exact: the input printed its zone or epoch seconds",
    "local": (
        "the machine's local wall clock, shown as printed (the input has no zone); "
        "`findings[]` of kind timeline say how it lines up with the other inputs"
    ),
    "time_of_day": (
        "the machine's local time of day, without a date (seconds since the local midnight "
        "before the first moment, 86400 more per midnight crossed)"
    ),
}


def clock_of(kind: str | None) -> dict[str, Any]:
    """The ``clock`` object of a section: how its ``time`` values read (``kind``) and how the
    report shows them (``shown_as``: ``clock`` for a time of day, ``epoch`` for a UTC
    date and time)."""
    return {
        "kind": kind,
        "shown_as": "clock" if kind == "time_of_day" else ("epoch" if kind else None),
        "note": CLOCK_NOTES.get(kind or "", "the input has no times"),
    }


def none(value: Any) -> Any:
    """pandas' missing values (NaN, NA, NaT) as None, numpy scalars as Python scalars."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and np.isnan(value):
            return None
    return value


def integer(value: Any) -> int | None:
    """An id from a pandas column (where a null turns ints into floats) as an int or None."""
    value = none(value)
    return None if value is None else int(value)


def kept(count: int, limit: int = MAX_POINTS, always: Sequence[int] = ()) -> np.ndarray:
    """Indices of `count` points to keep: all of them up to `limit`, else evenly spaced ones
    plus the first, the last and `always`."""
    if count <= limit:
        return np.arange(count)
    chosen = set(np.linspace(0, count - 1, limit).round().astype(int).tolist())
    chosen.update(int(index) for index in always if 0 <= index < count)
    return np.array(sorted(chosen), dtype=np.int64)


def series(
    times: np.ndarray, values: np.ndarray, limit: int = MAX_POINTS, digits: int = 3
) -> list[list[float | None]]:
    """``[[time, value], ...]`` in time order, at most `limit` points (the peak is kept)."""
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    peak = [int(np.nanargmax(values))] if np.isfinite(values).any() else []
    rows = kept(len(times), limit, peak)
    return [[none(round(float(times[i]), 6)), none(round(float(values[i]), digits))] for i in rows]


def spread(values: np.ndarray) -> dict[str, float | None]:
    """``{min, mean, max}`` of the finite values (None each when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"min": None, "mean": None, "max": None}
    return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}


def finished(section: dict[str, Any]) -> dict[str, Any]:
    """The section as strict JSON (NaN as null, numpy scalars plain, floats to 6 digits)."""
    cleaned = clean(section, digits=6)
    assert isinstance(cleaned, dict)
    return cleaned
