"""Figures of chosen rows of a trace's calls table, read without whole-column copies.

A long trace's calls table is a mapped file of millions of rows: ``numbers(calls[c])[rows]``
copies the whole column as float64 (8 bytes per call, 65 MiB at 10M lines) to keep a few
rows. These take the rows first and convert them after: the same values, at the cost of the
rows asked for. A scan that must look at every call (the calls of some threads) reads a
slice at a time (`analyzer.arrays.selected_rows`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import ROWS_PER_SLICE, numbers, selected_rows, take_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_tasks import _EXECS, _OPENS, PYTHON_FILES, process_runtime


def taken(calls: pa.Table, columns: Collection[str], rows: np.ndarray) -> pa.Table:
    """The `columns` of the calls at `rows` (in the order given), taken chunk by chunk
    (`arrays.take_rows`: Arrow's own take copies whole columns of a mapped trace first)."""
    result: pa.Table = take_rows(calls.select(list(columns)), rows)
    return result


def numbers_at(calls: pa.Table, column: str, rows: np.ndarray) -> np.ndarray:
    """``numbers(calls[column])[rows]``: float64, NaN for nulls."""
    return numbers(taken(calls, [column], rows)[column])


def lines_at(calls: pa.Table, rows: np.ndarray) -> np.ndarray:
    """``cited_lines(calls)[rows]``: the line each call started on, else (a resumed half whose
    start was never seen) the line it returned on."""
    table = taken(calls, ["line_start", "line_end"], rows)
    start = numbers(table["line_start"])
    return np.where(np.isnan(start), numbers(table["line_end"]), start)


def rows_of(
    calls: pa.Table, column: str, values: Collection[float], rows_per_slice: int = ROWS_PER_SLICE
) -> np.ndarray:
    """The rows (ascending) whose numeric `column` is one of `values`, found a slice at a
    time."""
    wanted = np.asarray(list(values), dtype=np.float64)
    return selected_rows(
        calls, [column], lambda part: np.isin(numbers(part[column]), wanted), rows_per_slice
    )


RUNTIME_COLUMNS = ("syscall", "retval", "pid", "start_s", "args")
"""What `strace_tasks.process_runtime` reads of the calls."""


def process_runtime_of(
    trace: StraceTables, pid: int, rows_per_slice: int = ROWS_PER_SLICE
) -> str | None:
    """`strace_tasks.process_runtime` of the trace, given only the calls it can decide on,
    found a slice at a time: the successful execs, and the open-like calls that open a
    Python file. Given every call, it held the argument texts of every open and stat of
    the process at once (114 MiB at 10M lines) to find one Python file among them."""

    def decisive(part: pa.Table) -> np.ndarray:
        execs = pc.and_(
            pc.fill_null(pc.is_in(part["syscall"], _EXECS), False),
            pc.fill_null(pc.equal(part["retval"], 0), False),
        )
        keep = np.asarray(execs, dtype=bool).copy()
        opens = pc.fill_null(pc.is_in(part["syscall"], _OPENS), False)
        at = np.flatnonzero(np.asarray(opens, dtype=bool))
        if len(at):
            found = pc.match_substring_regex(part["args"].filter(opens), PYTHON_FILES)
            keep[at[np.asarray(pc.fill_null(found, False), dtype=bool)]] = True
        return keep

    calls = trace.syscalls
    rows = selected_rows(calls, ["syscall", "retval", "args"], decisive, rows_per_slice)
    few = taken(calls, RUNTIME_COLUMNS, rows)
    return process_runtime(dataclasses.replace(trace, syscalls=few), pid)
