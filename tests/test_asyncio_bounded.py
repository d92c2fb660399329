"""What keeps a log of millions of asyncio records in bounded memory reads the same values.

- A parse in a run writes its `loop_events` to the work directory beyond
  `asyncio.SPILL_BYTES` and returns the file mapped: the same rows as kept in memory.
- The passes and the section group `loop_events` by value codes (`derive.asyncio.first_codes`,
  `pair_codes`) and read single rows from the chunks that hold them (`take`, `RowValues`):
  checked against Arrow's own `dictionary_encode` and `take` on columns of several chunks.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import store
from analyzer.derive.asyncio import RowValues, first_codes, pair_codes, take
from analyzer.formats import asyncio as asyncio_format
from analyzer.inputs import iter_line_chunks, open_input

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from run_asyncio_benchmark import generate  # noqa: E402


def _parse(path: Path) -> asyncio_format.ParsedLog:
    source = open_input(path)
    try:
        # small chunks, so that the log makes many tables
        return asyncio_format.parse(iter_line_chunks(source.stream, chunk_bytes=64 * 1024), "log")
    finally:
        source.close()


def test_a_spilled_parse_reads_the_same_records(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "app.log"
    generate(log, 600_000, every=3)  # a third of the lines start asyncio records
    kept = _parse(log)
    monkeypatch.setattr(asyncio_format, "SPILL_BYTES", 100_000)
    with store.work_dir(tmp_path / "work") as directory:
        spilled = _parse(log)
        assert directory.mapped, "the records were not written to the work directory"
        assert list((tmp_path / "work").rglob("loop_events.arrow"))
        assert spilled.loop_events.num_rows == kept.loop_events.num_rows > 100
        assert spilled.loop_events.equals(kept.loop_events)
        assert spilled.record_count == kept.record_count
    assert kept.loop_events.num_rows and spilled.loop_events.schema == kept.loop_events.schema


def test_a_parse_outside_a_run_keeps_its_records(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "app.log"
    generate(log, 100_000, every=3)
    monkeypatch.setattr(asyncio_format, "SPILL_BYTES", 1)
    parsed = _parse(log)
    assert parsed.loop_events.num_rows > 10
    assert not list(tmp_path.rglob("*.arrow"))


values = st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "", "c:1", "é"])), max_size=40)


def _chunked(items: list, cuts: list[int]) -> pa.ChunkedArray:
    bounds = sorted({0, len(items), *(c % (len(items) + 1) for c in cuts)})
    parts = [pa.array(items[a:b], pa.string()) for a, b in itertools.pairwise(bounds)]
    return pa.chunked_array(parts or [pa.array([], pa.string())], pa.string())


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.integers(0, 50), max_size=5))
def test_first_codes_number_values_as_dictionary_encode(items: list, cuts: list[int]) -> None:
    column = _chunked(items, cuts)
    codes, names = first_codes(column.chunks)
    encoded = pc.dictionary_encode(pa.array(items, pa.string()))
    expected = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    assert codes.tolist() == list(expected)
    assert names == encoded.dictionary.to_pylist()


@settings(max_examples=200, deadline=None)
@given(values, values, st.lists(st.integers(0, 50), max_size=5))
def test_pair_codes_number_pairs_as_a_joined_key(left: list, right: list, cuts) -> None:
    size = min(len(left), len(right))
    left, right = [v or "" for v in left[:size]], [v or "" for v in right[:size]]
    first, _ = first_codes(_chunked(left, cuts).chunks)
    second, _ = first_codes(_chunked(right, cuts).chunks)
    joined = pc.binary_join_element_wise(
        pa.array(left, pa.string()), pa.array(right, pa.string()), "\x1f"
    )
    expected = pc.dictionary_encode(joined).indices.to_numpy(zero_copy_only=False)
    assert pair_codes(first, second).tolist() == list(expected)


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.integers(0, 50), max_size=5), st.data())
def test_take_from_chunks_is_arrows_take(items: list, cuts: list[int], data) -> None:
    column = _chunked(items, cuts)
    indexes = data.draw(st.lists(st.integers(0, max(len(items) - 1, 0)), max_size=20))
    if not items:
        indexes = []
    wanted = np.array(indexes, dtype=np.int64)
    assert take(column, wanted).to_pylist() == [items[i] for i in indexes]
    table = pa.table({"x": column, "n": pa.array(range(len(items)), pa.int64())})
    rows = RowValues(table, np.arange(len(items), dtype=np.int64)[::-1].copy())
    if items:
        assert rows.row(0, ["x", "n"]) == {"x": items[-1], "n": len(items) - 1}
        assert rows.values("x", [0]).tolist() == [items[-1]]


@pytest.mark.parametrize("chunks", [1, 3])
def test_row_values_give_numpy_values_as_to_numpy(chunks: int) -> None:
    pids = [1, None, 3, 4, None, 6]
    column = pa.chunked_array(
        [
            pa.array(pids[i::chunks] if chunks == 1 else pids[2 * i : 2 * i + 2])
            for i in range(chunks)
        ]
    )
    rows = RowValues(pa.table({"pid": column}), np.arange(6, dtype=np.int64))
    assert rows.values("pid", [0, 2]).dtype == np.int64
    got = rows.values("pid", [0, 1])
    assert got.dtype == np.float64 and got[0] == 1 and np.isnan(got[1])
