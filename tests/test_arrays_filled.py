"""`analyzer.arrays.filled_numpy`: an Arrow column as numpy with its nulls filled, chunks
and all, in the column's own dtype."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from analyzer.arrays import filled_numpy


def test_a_chunked_mask_gets_its_fill_at_the_nulls_and_stays_bool() -> None:
    mask = pa.chunked_array([[True, None, False], [None], [], [False, True, None]])
    for fill in (False, True):
        found = filled_numpy(mask, fill)
        assert found.dtype == np.bool_
        assert found.tolist() == [True, fill, False, fill, False, True, fill]


def test_chunked_codes_get_their_fill_at_the_nulls_and_keep_their_width() -> None:
    codes = pa.chunked_array([pa.array([3, None], pa.int32()), pa.array([None, 0, 7], pa.int32())])
    found = filled_numpy(codes, -1)
    assert found.dtype == np.int32
    assert found.tolist() == [3, -1, -1, 0, 7]
    assert filled_numpy(pa.array([5, None, 2], pa.int64()), 0).tolist() == [5, 0, 2]


def test_an_empty_or_null_free_array_is_as_it_was() -> None:
    assert filled_numpy(pa.chunked_array([], pa.bool_()), False).dtype == np.bool_
    whole = pa.array(np.arange(4, dtype=np.int64))
    assert np.array_equal(filled_numpy(whole, -1), np.arange(4))
