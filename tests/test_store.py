"""The work directory's mapped tables: read in place, and what a stage touched given back."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import examples

from analyzer import store


def _file_pages_mib() -> float:
    return store._file_pages_kib() / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")
def test_a_page_watch_gives_back_the_pages_of_a_mapped_table(tmp_path: Path) -> None:
    path = tmp_path / "calls.arrow"
    values = np.arange(8 << 20, dtype=np.int64)  # 64 MiB in 8 chunks of 8 MiB
    with pa.ipc.new_file(str(path), pa.schema([("x", pa.int64())])) as writer:
        writer.write_table(pa.table({"x": values}), max_chunksize=1 << 20)
    with store.work_dir(tmp_path / "work") as directory:
        mapped = store.map_table(path)
        assert len(directory.mapped) == 1
        before = _file_pages_mib()
        with store.PageWatch(directory, budget_mib=12, interval_s=0.005) as watch:
            total = 0
            for chunk in mapped["x"].chunks:
                total += int(chunk.to_numpy().sum())
                time.sleep(0.05)
        assert watch.releases > 0
        assert _file_pages_mib() - before < 32  # all 64 MiB were read
        assert total == int(values.sum())  # pages given back are read again
        assert int(pa.compute.sum(mapped["x"]).as_py()) == int(values.sum())


@st.composite
def _windows(draw: st.DrawFn) -> list[list[int]]:
    """Keys of a few windows (the first not empty: an empty table is not merged): each
    window's own keys in order, before or after them some keys carried from earlier windows
    (any earlier key, repeated or not)."""
    count = draw(st.integers(1, 6))
    windows: list[list[int]] = []
    key = 0
    for number in range(count):
        own = list(range(key, key + draw(st.integers(0 if number else 1, 40))))
        key += len(own) + draw(st.integers(0, 3))
        carried = draw(st.lists(st.integers(0, max(key, 1)), max_size=5))
        windows.append(sorted(carried) + own if draw(st.booleans()) else own + carried)
    return windows


@settings(max_examples=examples(150), deadline=None)
@given(windows=_windows(), group_rows=st.integers(1, 9), batch_rows=st.integers(1, 17))
def test_merged_windows_equal_a_stable_sort_in_batches_of_the_same_size(
    tmp_path_factory: pytest.TempPathFactory,
    windows: list[list[int]],
    group_rows: int,
    batch_rows: int,
) -> None:
    """`write_sorted` gathers key range by key range: whatever the keys (far out of place,
    repeated, gaps), the file is the stable sort of all rows, in record batches of
    `batch_rows` rows as one sort cut in batches writes them."""
    folder = tmp_path_factory.mktemp("sink")
    sink = store.ParquetSink(folder)
    sink.row_group_rows = group_rows
    for number, keys in enumerate(windows):
        if keys:
            index = list(range(len(keys)))
            sink.write("t", pa.table({"row": keys, "window": [number] * len(keys), "at": index}))
    target = folder / "t.arrow"
    sink.write_sorted("t", "row", target, lambda t: t.drop_columns(["row"]), batch_rows=batch_rows)
    merged = pa.ipc.open_file(pa.memory_map(str(target))).read_all()
    keyed = [(key, (n, i)) for n, keys in enumerate(windows) for i, key in enumerate(keys)]
    expected = [at for _, at in sorted(keyed, key=lambda pair: pair[0])]
    assert (
        list(zip(merged["window"].to_pylist(), merged["at"].to_pylist(), strict=True)) == expected
    )
    sizes = [len(chunk) for chunk in merged["at"].chunks]
    total = len(expected)
    assert sizes == [batch_rows] * (total // batch_rows) + (
        [total % batch_rows] if total % batch_rows else []
    )


def test_the_merge_keeps_no_reader_open_beside_the_rows_it_gathers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Parquet reader keeps ~2.5 MiB of what it read: readers of every spilled file kept
    open through the merge grew it by that much per file (30M lines: 860 MiB peak where a
    reader per read peaks at 491 MiB, flat in the trace's length)."""
    import weakref

    import pyarrow.parquet as pq

    alive: weakref.WeakSet[pq.ParquetFile] = weakref.WeakSet()
    real = pq.ParquetFile

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            alive.add(self)

    monkeypatch.setattr(pq, "ParquetFile", Counted)
    sink = store.ParquetSink(tmp_path)
    sink.row_group_rows = 3
    for start in range(0, 40, 8):
        sink.write("t", pa.table({"row": list(range(start, start + 8))}))
    seen: list[int] = []

    def finish(table: pa.Table) -> pa.Table:
        seen.append(len(alive))
        return table

    target = tmp_path / "t.arrow"
    sink.write_sorted("t", "row", target, finish, batch_rows=4)
    assert len(seen) == 10
    assert max(seen) <= 1  # five files
    assert store.map_table(target)["row"].to_pylist() == list(range(40))
