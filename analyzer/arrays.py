"""Small Arrow helpers that the stages share."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array with the values of `array`: the only chunk of a single-chunk column as it
    is (`ChunkedArray.combine_chunks` copies even then: 10-30 ms for a million strings),
    the chunks concatenated otherwise."""
    if isinstance(array, pa.ChunkedArray):
        return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def numbers(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def is_in(column: pa.ChunkedArray | pa.Array, names: frozenset[str]) -> np.ndarray:
    """Boolean mask: the column's value is one of `names` (nulls are False)."""
    mask = pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(names))), False)
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
