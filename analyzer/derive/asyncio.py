"""From parsed asyncio logs to the run's asyncio tables.

The asyncio source's derivation stage is a concatenation: the parser already made one row per
loop event (`loop_events`) and per aiomonitor task row (`tasks_snapshot`). Putting the log's
times on a strace trace's clock needs both sources: `clock_alignment` does that.

What the asyncio passes and section share to read `loop_events` without a Python object per
record (a log can hold millions): `first_codes` and `pair_codes` number the values of its
text columns for grouping, `RowValues` and `take` read the values of the few rows a finding
or a sample shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.model import Derived, ParsedInput

if TYPE_CHECKING:  # the parser's modules are heavy (Lark); only the type is needed here
    from analyzer.formats.asyncio import ParsedLog


def derive(inputs: Sequence[ParsedInput[ParsedLog]]) -> Derived:
    """The loop events and task snapshots of every asyncio log of the run."""
    return Derived(
        {
            "loop_events": pa.concat_tables([source.parsed.loop_events for source in inputs]),
            "tasks_snapshot": pa.concat_tables([source.parsed.tasks_snapshot for source in inputs]),
        }
    )


MISUSE_KINDS = (
    "exception",
    "task_destroyed_pending",
    "never_retrieved",
    "never_awaited",
    "resource_warning",
)


DEFAULT_SLOW_CALLBACK_S = 0.1


SAMPLE_CHARS = 2000


def first_codes(chunks: Iterable[pa.Array]) -> tuple[np.ndarray, list[Any]]:
    """The code of each value of a column given chunk by chunk (-1 for null) and the
    values the codes stand for, in order of first appearance (as `pc.dictionary_encode`
    numbers them): a million-row column is grouped without a Python object per row or a
    copy of its strings."""
    seen: dict[Any, int] = {}
    parts = [np.zeros(0, dtype=np.int64)]
    for chunk in chunks:
        encoded = pc.dictionary_encode(chunk)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        mapping = np.array(
            [seen.setdefault(value, len(seen)) for value in encoded.dictionary.to_pylist()] + [-1],
            dtype=np.int64,
        )
        indices = filled_numpy(encoded.indices, -1)
        parts.append(mapping[np.asarray(indices, dtype=np.int64)])
    return np.concatenate(parts), list(seen)


def pair_codes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Codes of the (first, second) pairs of two code arrays (no -1), in order of first
    appearance: what `pc.dictionary_encode` gives a key joined from the two columns."""
    if not len(first):
        return np.zeros(0, dtype=np.int64)
    pairs = first * (int(second.max()) + 1) + second
    _, where, inverse = np.unique(pairs, return_index=True, return_inverse=True)
    rank = np.empty(len(where), dtype=np.int64)
    rank[np.argsort(where, kind="stable")] = np.arange(len(where))
    return rank[inverse.reshape(-1)]


class RowValues:
    """The values of some rows of a table (`rows`, indexes into it), column by column and
    only where asked: a pass over millions of records makes Python objects only for the
    rows it reports. Values are as ``to_numpy(zero_copy_only=False)`` gives them."""

    def __init__(self, table: pa.Table, rows: np.ndarray) -> None:
        self.table = table
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def values(self, name: str, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        """Column `name` at `positions` (indexes into `rows`)."""
        taken = take(self.table[name], self.rows[np.asarray(positions, dtype=np.int64)])
        return np.asarray(taken.to_numpy(zero_copy_only=False))

    def row(self, position: int, names: Sequence[str]) -> dict[str, Any]:
        """The named columns of one row."""
        one = self.table.select(list(names)).slice(int(self.rows[position]), 1)
        return {name: one[name].to_numpy(zero_copy_only=False)[0] for name in names}


def take(column: pa.ChunkedArray, indexes: np.ndarray) -> pa.Array:
    """``column.take(indexes)`` from the chunks that hold them: Arrow's take of a chunked
    column concatenates all its chunks first (the whole text column, for one row)."""
    if column.num_chunks == 1:
        return column.chunk(0).take(pa.array(indexes, pa.int64()))
    lengths = np.array([len(chunk) for chunk in column.chunks], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    chunk_of = np.searchsorted(starts, indexes, side="right") - 1
    ascending = bool((np.diff(chunk_of) >= 0).all())
    order = np.arange(len(indexes)) if ascending else np.argsort(chunk_of, kind="stable")
    by_chunk, chunks = indexes[order], chunk_of[order]
    # where each chunk's indexes begin and end in by_chunk
    bounds = np.searchsorted(chunks, np.arange(len(lengths) + 1))
    pieces: list[pa.Array] = []
    for number in np.unique(chunk_of).tolist():
        local = by_chunk[bounds[number] : bounds[number + 1]] - starts[number]
        pieces.append(column.chunk(number).take(pa.array(local, pa.int64())))
    gathered = pa.concat_arrays(pieces) if pieces else pa.array([], column.type)
    if ascending:
        return gathered
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return gathered.take(pa.array(back, pa.int64()))
