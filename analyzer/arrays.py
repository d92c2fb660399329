"""Small Arrow helpers that the stages share."""

from __future__ import annotations

import pyarrow as pa


def contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array with the values of `array`: the only chunk of a single-chunk column as it
    is (`ChunkedArray.combine_chunks` copies even then: 10-30 ms for a million strings),
    the chunks concatenated otherwise."""
    if isinstance(array, pa.ChunkedArray):
        return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array
