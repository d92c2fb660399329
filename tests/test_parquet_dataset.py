"""The streaming writer of `--format parquet` (`analyzer.render.parquet_dataset`): partitions,
row groups and files of the documented sizes, the same rows from a table or a stream of
batches, and memory bounded by what it holds back, not by the table. The tables here are
built in the test (synthetic rows), not parsed from captures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from analyzer.render import parquet_dataset
from analyzer.render.parquet_dataset import write_table_dataset
from analyzer.schema import SYSCALLS

SCHEMA = pa.schema(
    [
        pa.field("input", pa.string()),
        pa.field("n", pa.int64(), metadata={"doc": "row number", "unit": "1"}),
        pa.field("start_s", pa.float64()),
    ],
    metadata={"iodiag.schema": "example/1"},
)


def _table(rows: int, inputs: list[str], start: int = 0) -> pa.Table:
    """`rows` rows whose inputs take turns (as the files of a -ff set do)."""
    numbers = range(start, start + rows)
    return pa.table(
        {
            "input": [inputs[n % len(inputs)] for n in numbers],
            "n": list(numbers),
            "start_s": [n / 10 for n in numbers],
        },
        schema=SCHEMA,
    )


def _numbers(names: list[str]) -> dict[str | None, int]:
    return {name: number for number, name in enumerate(names)}


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups of 100 rows, files of 300, 400 rows held back, 3 open files at most."""
    monkeypatch.setattr(parquet_dataset, "ROW_GROUP_ROWS", 100)
    monkeypatch.setattr(parquet_dataset, "FILE_ROWS", 300)
    monkeypatch.setattr(parquet_dataset, "PENDING_ROWS", 400)
    monkeypatch.setattr(parquet_dataset, "OPEN_FILES", 3)


def test_one_input_in_row_groups_and_files_of_the_sizes(small: None, tmp_path: Path) -> None:
    table = _table(1050, ["a.log"])
    written = write_table_dataset(tmp_path, table, _numbers(["a.log"]).__getitem__)
    assert written.rows == 1050
    assert written.files == [f"input_no=0/part-0000{n}.parquet" for n in range(4)]
    groups = [
        [
            pq.ParquetFile(tmp_path / name).metadata.row_group(g).num_rows
            for g in range(pq.ParquetFile(tmp_path / name).metadata.num_row_groups)
        ]
        for name in written.files
    ]
    assert groups == [[100, 100, 100], [100, 100, 100], [100, 100, 100], [100, 50]]
    back = pa.concat_tables(pq.read_table(tmp_path / name) for name in written.files)
    assert back.equals(table)
    assert back.schema.metadata == SCHEMA.metadata
    assert back.schema.field("n").metadata == {b"doc": b"row number", b"unit": b"1"}


def _batches(table: pa.Table, size: int) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=size)


@pytest.mark.parametrize("form", ["table", "reader", "batches"])
def test_interleaved_inputs_each_in_order_in_their_partition(
    small: None, tmp_path: Path, form: str
) -> None:
    names = ["x/1.log", "x/2.log", "x/3.log", "x/4.log", "x/5.log"]
    table = _table(2000, names)
    source: object = {
        "table": table,
        "reader": pa.RecordBatchReader.from_batches(SCHEMA, _batches(table, 77)),
        "batches": _batches(table, 77),
    }[form]
    written = write_table_dataset(tmp_path, source, _numbers(names).__getitem__)  # type: ignore[arg-type]
    assert written.rows == 2000
    for number, name in enumerate(names):
        files = sorted(f for f in written.files if f.startswith(f"input_no={number}/"))
        part = pa.concat_tables(pq.read_table(tmp_path / f) for f in files)
        assert part.equals(table.filter(pc.equal(table["input"], name)))
    # five inputs, three files open at most and 400 rows held back: files get closed and
    # row groups written early, but every row is there once
    dataset = ds.dataset(tmp_path, format="parquet", partitioning="hive")
    assert sorted(dataset.to_table()["n"].to_pylist()) == list(range(2000))
    assert set(dataset.to_table()["input_no"].to_pylist()) == {0, 1, 2, 3, 4}


def test_an_empty_table_still_has_a_file_with_its_schema(tmp_path: Path) -> None:
    written = write_table_dataset(tmp_path / "calls", iter([]), _numbers([]).get, SYSCALLS.schema)
    assert written.rows == 0 and written.files == ["input_no=0/part-00000.parquet"]
    schema = pq.read_schema(tmp_path / "calls" / written.files[0])
    assert schema.equals(SYSCALLS.schema, check_metadata=True)
    with pytest.raises(ValueError, match="schema"):
        write_table_dataset(tmp_path / "none", iter([]), _numbers([]).get)


def test_a_table_without_an_input_column_is_not_partitioned(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3]})
    written = write_table_dataset(tmp_path, table, _numbers([]).get)
    assert written.files == ["part-00000.parquet"]
    assert pq.read_table(tmp_path / "part-00000.parquet").equals(table)


def test_memory_is_bounded_by_what_is_held_back_not_by_the_stream(
    small: None, tmp_path: Path
) -> None:
    """A stream of 60 batches of 1,000 rows, each made when asked for: the writer holds at
    most a few of them (its rows held back), so Arrow's allocations stay near one batch."""
    peaks = []
    batch_bytes = []

    def stream() -> Iterator[pa.RecordBatch]:
        for start in range(0, 60_000, 1000):
            batch = _table(1000, ["a.log", "b.log"], start).combine_chunks().to_batches()[0]
            batch_bytes.append(batch.nbytes)
            peaks.append(pa.total_allocated_bytes())
            yield batch
            del batch

    before = pa.total_allocated_bytes()
    written = write_table_dataset(tmp_path, stream(), _numbers(["a.log", "b.log"]).__getitem__)
    assert written.rows == 60_000
    assert max(peaks) - before < 10 * max(batch_bytes)  # the whole stream is 60 batches
    assert ds.dataset(tmp_path, format="parquet", partitioning="hive").count_rows() == 60_000


def test_a_memory_mapped_table_is_written_without_copying_it_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A table whose buffers are the pages of an Arrow IPC file (how a long trace's calls can
    be held): the writer slices it, so Arrow allocates about a row group, not the table."""
    monkeypatch.setattr(parquet_dataset, "ROW_GROUP_ROWS", 1000)
    monkeypatch.setattr(parquet_dataset, "FILE_ROWS", 50_000)
    table = _table(200_000, ["a.log"]).combine_chunks()
    with pa.ipc.new_file(str(tmp_path / "calls.arrow"), table.schema) as writer:
        writer.write_table(table, max_chunksize=5000)
    mapped = pa.ipc.open_file(pa.memory_map(str(tmp_path / "calls.arrow"))).read_all()
    before = pa.total_allocated_bytes()
    peak = before

    def rows(name: str | None) -> int:
        nonlocal peak
        peak = max(peak, pa.total_allocated_bytes())
        return 0

    written = write_table_dataset(tmp_path / "out", mapped, rows)
    assert written.rows == 200_000 and len(written.files) == 4
    assert peak - before < table.nbytes / 20
    back = ds.dataset(tmp_path / "out", format="parquet", partitioning="hive").to_table()
    assert back.drop_columns(["input_no"]).equals(table)


def test_a_failing_stream_leaves_no_file_open(
    small: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[pq.ParquetWriter] = []
    real = parquet_dataset.pq.ParquetWriter

    class Recorded(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **options: object) -> None:
            super().__init__(*args, **options)
            opened.append(self)

    def stream() -> Iterator[pa.RecordBatch]:
        yield from _table(250, ["a.log", "b.log"]).to_batches()
        raise OSError("the disk went away")

    monkeypatch.setattr(parquet_dataset.pq, "ParquetWriter", Recorded)
    with pytest.raises(OSError, match="went away"):
        write_table_dataset(tmp_path, stream(), _numbers(["a.log", "b.log"]).__getitem__)
    assert opened and all(not writer.is_open for writer in opened)


FF = sorted((Path(__file__).resolve().parents[1] / "fixtures/strace/logs/ff").glob("mt_pipes.*"))
"""A real `strace -ff` capture: five files whose calls interleave in the merged trace."""
POOL8 = Path(__file__).resolve().parents[1] / "fixtures/strace/logs/pool8.f_tt_T.log"


def test_the_dataset_of_a_run_holds_its_tables_row_for_row(small: None, tmp_path: Path) -> None:
    """An -ff set and another trace in one run, in row groups of 100: read back input by
    input, each table is the run's own, in its order; the manifest names the inputs."""
    import json

    from analyzer import analyze
    from analyzer.render.parquet import ParquetRenderer

    result = analyze([*FF, POOL8])
    ParquetRenderer().write(result, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    numbers = {item["input"]: item["input_no"] for item in manifest["inputs"]}
    assert set(numbers) == {str(path) for path in [*FF, POOL8]}
    for name, table in result.tables.items():
        assert manifest["tables"][name]["rows"] == table.num_rows
        if "input" not in table.column_names or not table.num_rows:
            continue
        for path in {*table.column("input").to_pylist()}:
            files = sorted((tmp_path / name / f"input_no={numbers[path]}").glob("*.parquet"))
            back = pa.concat_tables(pq.read_table(file) for file in files)
            assert back.equals(table.filter(pc.equal(table["input"], path))), (name, path)
    calls = result.tables["syscalls"]
    assert len(set(calls.column("input").to_pylist())) == 6  # the -ff files interleave


def test_a_pyarrow_dataset_is_written_from_its_batches(small: None, tmp_path: Path) -> None:
    """Anything with a schema and `to_batches()` (a dataset on disk here) is a source."""
    table = _table(700, ["a.log", "b.log"])
    pq.write_table(table, tmp_path / "source.parquet", row_group_size=64)
    source = ds.dataset(tmp_path / "source.parquet", schema=SCHEMA)
    written = write_table_dataset(tmp_path / "out", source, _numbers(["a.log", "b.log"]).get)
    assert written.rows == 700
    back = ds.dataset(tmp_path / "out", format="parquet", partitioning="hive").to_table()
    assert sorted(back["n"].to_pylist()) == list(range(700))
    assert pq.read_schema(tmp_path / "out" / written.files[0]).field("n").metadata == {
        b"doc": b"row number",
        b"unit": b"1",
    }
