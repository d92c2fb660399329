"""The slice-by-slice scans of `analyzer.arrays` select what one whole-table pass would."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from analyzer.arrays import numbers, row_slices, selected_rows


@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=60),
    st.integers(1, 7),
)
def test_selected_rows_equal_a_whole_table_filter(values: list[float | None], size: int) -> None:
    table = pa.table({"x": pa.array(values, pa.float64()), "y": pa.array(range(len(values)))})
    whole = np.flatnonzero(numbers(table["x"]) > 0)
    sliced = selected_rows(table, ["x"], lambda part: numbers(part["x"]) > 0, size)
    assert sliced.dtype == np.int64
    assert sliced.tolist() == whole.tolist()


def test_row_slices_cover_every_row_once_with_only_the_columns_asked() -> None:
    table = pa.table({"a": list(range(10)), "b": list(range(10, 20))})
    seen = [
        (offset, part.column_names, part["a"].to_pylist())
        for offset, part in row_slices(table, ["a"], 4)
    ]
    assert [offset for offset, _, _ in seen] == [0, 4, 8]
    assert all(names == ["a"] for _, names, _ in seen)
    assert [value for _, _, values in seen for value in values] == list(range(10))
