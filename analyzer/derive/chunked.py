"""Reading a few rows of a long table without copying its columns.

Arrow's `take` on a table or chunked array of several chunks concatenates every chunk first:
a copy of whole columns to read a few rows of a mapped trace (one chunk per batch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa


def take(values: pa.Table | pa.ChunkedArray, rows: np.ndarray) -> Any:
    """`values.take(rows)` chunk by chunk. Arrow's `take` on a table or chunked array of
    several chunks (a mapped trace has one per batch) first concatenates every chunk: a
    copy of the whole column to read a few rows (190 MiB for the targets at 10M lines)."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(values, pa.Table):
        chunks: list[Any] = values.to_batches()
    else:
        chunks = list(values.chunks)
    if len(chunks) <= 1:
        return values.take(pa.array(rows, pa.int64()))
    bounds = np.cumsum([0] + [len(chunk) for chunk in chunks])
    chunk_of = np.searchsorted(bounds, rows, side="right") - 1
    order = np.argsort(chunk_of, kind="stable")
    pieces = []
    for index in np.unique(chunk_of).tolist():
        local = rows[order][chunk_of[order] == index] - bounds[index]
        pieces.append(chunks[index].take(pa.array(local, pa.int64())))
    if isinstance(values, pa.Table):
        result: Any = pa.Table.from_batches(pieces, schema=values.schema)
    else:
        result = pa.chunked_array(pieces, type=values.type)
    if len(rows) and np.any(np.diff(chunk_of) < 0):
        result = result.take(pa.array(np.argsort(order, kind="stable"), pa.int64()))
    return result
