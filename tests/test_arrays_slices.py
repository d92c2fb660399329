"""The slice-by-slice scans of `analyzer.arrays` select what one whole-table pass would, and
give back the pages of a mapped table as they go."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer import arrays
from analyzer.arrays import numbers, row_slices, selected_rows, take_rows


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


def _mapped(tmp_path: Path, table: pa.Table, batch_rows: int) -> pa.Table:
    """`table` written as an Arrow IPC file in batches of `batch_rows` rows, and mapped
    read-only as `store.map_table` maps a long trace's calls."""
    path = tmp_path / "calls.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=batch_rows)
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, int]]]:
    released: list[list[tuple[int, int]]] = []
    original = arrays.release_pages

    def record(pages: Sequence[tuple[int, int]]) -> None:
        released.append(list(pages))
        original(pages)

    monkeypatch.setattr(arrays, "release_pages", record)
    return released


def _pages_of(table: pa.Table, columns: Sequence[str]) -> set[tuple[int, int]]:
    return set(arrays.mapped_pages([chunk for name in columns for chunk in table[name].chunks]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_a_scan_of_a_mapped_table_gives_back_each_chunks_pages_after_its_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 40_000
    table = pa.table(
        {
            "n": np.arange(rows, dtype=np.float64),
            "s": pa.array([f"call {i}" for i in range(rows)]),
            "other": np.zeros(rows),
        }
    )
    # slices of two chunks each: a chunk that ran on into the next slice would be given
    # back after the first, and read again
    mapped = _mapped(tmp_path, table, 5_000)
    released = _recorded(monkeypatch)
    seen = []
    for offset, part in row_slices(mapped, ["n", "s"], 10_000):
        # the chunks of the slices before this one are given back, not this one's
        done = {page for pages in released for page in pages}
        assert len(released) == offset // 10_000
        assert not done & _pages_of(mapped.slice(offset, 10_000), ["n", "s"])
        seen.extend(part["s"].to_pylist())
    assert seen == table["s"].to_pylist()
    # every page of the columns read, once; none of the column not read
    given_back = [page for pages in released for page in pages]
    assert sorted(given_back) == sorted(_pages_of(mapped, ["n", "s"]))
    assert not set(given_back) & _pages_of(mapped, ["other"])
    # a table in memory is never given back (its pages would be zeroed)
    released.clear()
    assert [part.num_rows for _, part in row_slices(table, ["n"], 10_000)] == [10_000] * 4
    assert all(pages == [] for pages in released)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_taking_many_rows_of_a_mapped_table_gives_back_the_pages_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 40_000
    table = pa.table({"n": np.arange(rows, dtype=np.int64), "s": [str(i) for i in range(rows)]})
    mapped = _mapped(tmp_path, table, 4_000)
    released = _recorded(monkeypatch)
    wanted = np.random.default_rng(3).permutation(rows)[: arrays.RELEASE_AFTER_ROWS * 4]
    assert take_rows(mapped, wanted).to_pylist() == table.take(wanted).to_pylist()
    assert {page for pages in released for page in pages} == _pages_of(mapped, ["n", "s"])
    released.clear()
    assert take_rows(mapped["s"], wanted[:3]).to_pylist() == table["s"].take(wanted[:3]).to_pylist()
    assert released == []


def _mappings_split(maps: bytes) -> list[tuple[int, int]]:
    """The field-by-field reading of a maps file the regex of `file_mappings_in` replaced."""
    return [
        (int(span.split("-")[0], 16), int(span.split("-")[1], 16))
        for span, *rest in (line.split(maxsplit=5) for line in maps.decode().splitlines())
        if len(rest) == 5 and rest[4].startswith("/") and rest[0][1] != "w"
    ]


_MAPS_LINES = st.builds(
    lambda low, size, perms, offset, inode, pad, path: (
        f"{low:x}-{low + size:x} {perms} {offset:08x} fe:00 {inode}{pad}{path}"
    ),
    st.integers(0, 1 << 47),
    st.integers(1, 1 << 30),
    st.sampled_from(["r--p", "r-xp", "rw-p", "---p", "rw-s", "r--s", "-w-p", "--xp"]),
    st.integers(0, 1 << 32),
    st.integers(0, 1 << 24),
    st.sampled_from(["", " ", "       ", "                          "]),
    st.sampled_from(
        ["", "/usr/lib/libc.so.6", "[heap]", "[vdso]", "/tmp/calls (deleted)", "/a b/c", "anon"]
    ),
)


@given(st.lists(_MAPS_LINES, max_size=12))
def test_file_mappings_are_the_lines_a_field_split_keeps(lines: list[str]) -> None:
    maps = "".join(line + "\n" for line in lines).encode()
    assert arrays.file_mappings_in(maps) == _mappings_split(maps)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_file_mappings_of_this_process_are_the_lines_a_field_split_keeps() -> None:
    with open("/proc/self/maps", "rb") as maps:
        text = maps.read()
    found = arrays.file_mappings_in(text)
    assert found and found == _mappings_split(text)


def test_a_scan_of_a_table_in_memory_never_reads_the_mappings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse() -> list[tuple[int, int]]:
        raise AssertionError("read /proc/self/maps for a table in memory")

    monkeypatch.setattr(arrays, "_file_mappings", refuse)
    table = pa.table({"n": np.arange(5_000, dtype=np.float64)})
    table = pa.concat_tables([table.slice(0, 2_000), table.slice(2_000)])
    assert sum(part.num_rows for _, part in row_slices(table, ["n"], 1_000)) == 5_000
    assert take_rows(table, np.arange(0, 5_000, 3)).num_rows == 1_667
    assert arrays.mapped_pages(table["n"].chunks) == []
