"""Which calls of a trace have one of some syscall names, without hashing every name again.

Most strace passes pick calls by name (the sleeps, the idle waits, the receives ...), each a
``pc.is_in`` over the names of every call: 1.8 ms a slice of 262,144 calls, some 25 times a
run. When the passes keep per-slice work for the trace (`targets.keeps_slices`), each slice's
names are encoded once (an int16 code per call, kept in `StraceTables.memo`) and a test by
name is a lookup of the codes; otherwise it is the `arrays.is_in` it replaces.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in
from analyzer.derive.strace import StraceTables
from analyzer.passes import call_slices
from analyzer.passes.targets import keeps_slices, once_per_trace


def calls_named(
    trace: StraceTables, offset: int, part: pa.Table, names: frozenset[str]
) -> np.ndarray:
    """``is_in(part["syscall"], names)`` of the slice `part` of the trace's calls that starts
    at row `offset` (any slicing)."""
    if not keeps_slices(trace):
        return is_in(part["syscall"], names)
    return _named(trace, offset, offset + part.num_rows, names)


class NamedScan:
    """`calls_named` as the `keep` of a scan that gives it each slice once, in row order
    (`arrays.selected_rows`, `strace_slices.rows_where`, `strace_slices.timed_rows`)."""

    def __init__(self, trace: StraceTables, names: frozenset[str]) -> None:
        self.trace = trace
        self.names = names
        self.offset = 0

    def __call__(self, part: pa.Table) -> np.ndarray:
        found = calls_named(self.trace, self.offset, part, self.names)
        self.offset += part.num_rows
        return found


def slice_codes(trace: StraceTables, offset: int, part: pa.Table) -> tuple[np.ndarray, list[str]]:
    """The syscall name codes (-1 for a null) of the calls of the slice `part` that starts at
    row `offset`, and the names they number (each once, in the order of their first call):
    the kept ones when the slice is one of `call_slices.slices` and the passes keep them."""
    size = call_slices.SLICE_ROWS
    if keeps_slices(trace) and offset % size == 0 and part.num_rows <= size:
        codes, dictionary = _slice_codes(trace, offset, size)
        return codes[: part.num_rows], dictionary
    return _encoded(part["syscall"])


def _named(trace: StraceTables, start: int, stop: int, names: frozenset[str]) -> np.ndarray:
    size = call_slices.SLICE_ROWS
    pieces = [np.zeros(0, dtype=bool)]
    for first in range(start - start % size, stop, size):
        codes, dictionary = _slice_codes(trace, first, size)
        lookup = np.array([name in names for name in dictionary] + [False], dtype=bool)
        pieces.append(lookup[codes[max(start - first, 0) : stop - first]])
    return np.concatenate(pieces)


def _slice_codes(trace: StraceTables, first: int, size: int) -> tuple[np.ndarray, list[str]]:
    """The syscall name codes (-1 for a null) of the calls [first, first + size) and the
    names they number, worked out once per trace."""
    found = once_per_trace(
        trace,
        ("syscall codes", first, size),
        lambda: _encoded(trace.syscalls["syscall"].slice(first, size)),
    )
    assert isinstance(found, tuple)
    return found


def _encoded(names: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    encoded = pc.dictionary_encode(contiguous(names))
    dictionary: list[str] = encoded.dictionary.to_pylist()
    kind = np.int16 if len(dictionary) < np.iinfo(np.int16).max else np.int32
    codes = np.asarray(filled_numpy(encoded.indices, -1), kind)
    return codes, dictionary
