"""Writing one table as a Hive-partitioned Parquet dataset, as its rows stream by.

`write_table_dataset` takes an Arrow table (held in memory or mapped from a file), a
`RecordBatchReader`, a pyarrow dataset (anything with a ``schema`` and ``to_batches()``) or
any iterable of record batches (a table read back window by window from a work directory) and
writes ``<folder>/input_no=<n>/part-NNNNN.parquet``: one partition per input of the run, in
the order the rows come (call order for the strace tables), row groups of `ROW_GROUP_ROWS`
rows and files of `FILE_ROWS` rows, so that a reader prunes by input from the path and by
time from each row group's min/max statistics, without opening more than the footers of the
files it skips. A table without an ``input`` column is written unpartitioned
(``<folder>/part-NNNNN.parquet``). The files keep the table's whole schema, its ``input``
column included (the key is a number: an input's path does not fit a folder name in general),
and its schema and field metadata (``iodiag.schema``, ``doc``, ``unit``).

At most `ROW_GROUP_ROWS` rows of a partition wait for their row group; when the rows of
several inputs interleave (the members of a `-ff` set), at most `PENDING_ROWS` rows wait in
all, the largest partition's being written early when more would, and at most `OPEN_FILES`
files are open at once. The memory the writer adds is therefore bounded whatever the
table's size.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "FILE_ROWS",
    "PARTITION_KEY",
    "ROW_GROUP_ROWS",
    "BatchSource",
    "Batches",
    "WrittenTable",
    "write_table_dataset",
]

ROW_GROUP_ROWS = 128 * 1024
"""Rows per row group: the unit a reader skips by statistics and decodes at once."""
FILE_ROWS = 8 * ROW_GROUP_ROWS
"""Rows per file (≈1M): about a hundred files per input for a 100M-call trace."""
PENDING_ROWS = 4 * ROW_GROUP_ROWS
"""Rows of all partitions held back for their row groups, at most."""
OPEN_FILES = 64
"""Files open at once, at most (each partition being written has one)."""
PARTITION_KEY = "input_no"
"""The Hive partition key: the input's position in the run (`inputs[]` of the report)."""
COMPRESSION = "zstd"


@runtime_checkable
class BatchSource(Protocol):
    """A table that gives its rows as record batches: a `pyarrow.dataset.Dataset`, or any
    table kept out of memory that says its schema."""

    @property
    def schema(self) -> pa.Schema: ...

    def to_batches(self) -> Iterable[pa.RecordBatch]: ...


Batches: TypeAlias = pa.Table | pa.RecordBatchReader | BatchSource | Iterable[pa.RecordBatch]
"""What a table can be written from: held whole, or as a stream of record batches."""


@dataclass
class WrittenTable:
    """What was written of one table: its row count and files (relative to its folder)."""

    rows: int = 0
    files: list[str] = field(default_factory=list)


class _Partition:
    """The files of one partition: rows are held until a row group is full, and a file is
    closed once it holds `FILE_ROWS` rows."""

    def __init__(self, folder: Path, schema: pa.Schema, written: WrittenTable) -> None:
        self.folder = folder
        self.schema = schema
        self.written = written
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.file_rows = 0
        self.file_count = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        while self.pending_rows >= ROW_GROUP_ROWS:
            self.flush(ROW_GROUP_ROWS)

    def flush(self, rows: int | None = None) -> None:
        """Write `rows` (all when None) of the held rows as one row group."""
        held = pa.Table.from_batches(self.pending, self.schema)
        rows = held.num_rows if rows is None else rows
        if rows == 0:
            return
        rest = held.slice(rows)
        self.pending = rest.to_batches()
        self.pending_rows = rest.num_rows
        group = held.slice(0, rows)
        while group.num_rows:  # a row group does not cross a file boundary
            writer = self._writer()
            size = min(group.num_rows, FILE_ROWS - self.file_rows)
            writer.write_table(group.slice(0, size), row_group_size=size)
            group = group.slice(size)
            self.file_rows += size
            if self.file_rows >= FILE_ROWS:
                self.close_file()

    def _writer(self) -> pq.ParquetWriter:
        if self.writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"part-{self.file_count:05d}.parquet"
            self.file_count += 1
            self.writer = pq.ParquetWriter(path, self.schema, compression=COMPRESSION)
            self.written.files.append(path.as_posix())
            self.file_rows = 0
        return self.writer

    def close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> None:
        self.flush()
        if self.file_count == 0:
            self._writer()  # an empty table still has a file, for readers to find its schema
        self.close_file()


def _stream(
    source: Batches, schema: pa.Schema | None
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if isinstance(source, pa.Table):
        return source.schema, iter(source.to_batches(max_chunksize=ROW_GROUP_ROWS))
    if isinstance(source, pa.RecordBatchReader):
        return source.schema, iter(source)
    if isinstance(source, BatchSource):  # a pyarrow dataset, or a table held on disk
        return source.schema, iter(source.to_batches())
    batches: Iterator[pa.RecordBatch] = iter(source)
    if schema is not None:
        return schema, batches
    first = next(batches, None)
    if first is None:
        raise ValueError("an empty stream of record batches needs its schema")

    def all_batches() -> Iterator[pa.RecordBatch]:
        yield first
        yield from batches

    return first.schema, all_batches()


def _by_value(batch: pa.RecordBatch, column: str) -> Iterator[tuple[Any, pa.RecordBatch]]:
    """The rows of `batch` grouped by the value of `column`, each group in batch order."""
    values = batch.column(column)
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    if len(encoded.dictionary) <= 1:
        yield (encoded.dictionary[0].as_py() if len(encoded.dictionary) else None), batch
        return
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    grouped = batch.take(pa.array(order))
    starts = np.searchsorted(codes[order], np.arange(len(encoded.dictionary)))
    ends = [*starts[1:], len(codes)]
    for code, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if end > start:
            yield encoded.dictionary[code].as_py(), grouped.slice(start, end - start)


def write_table_dataset(
    folder: Path,
    source: Batches,
    number_of: Callable[[str | None], int],
    schema: pa.Schema | None = None,
) -> WrittenTable:
    """Write `source` under `folder` (see the module docstring); `number_of` gives the
    partition number of an input's name. `schema` is needed only for an iterable of batches
    that may be empty. Returns the row count and the files, relative to `folder`."""
    schema, batches = _stream(source, schema)
    written = WrittenTable()
    partitioned = "input" in schema.names
    partitions: OrderedDict[int, _Partition] = OrderedDict()  # least recently used first

    def partition(number: int) -> _Partition:
        if number in partitions:
            partitions.move_to_end(number)
            return partitions[number]
        where = folder / f"{PARTITION_KEY}={number}" if partitioned else folder
        part = _Partition(where, schema, written)
        partitions[number] = part
        open_files = [p for p in partitions.values() if p.writer is not None]
        if len(open_files) >= OPEN_FILES:
            open_files[0].flush()
            open_files[0].close_file()
        return part

    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if batch.schema != schema:
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
            written.rows += batch.num_rows
            groups = _by_value(batch, "input") if partitioned else iter([(None, batch)])
            for name, rows in groups:
                partition(number_of(name) if partitioned else 0).add(rows)
            held = sum(p.pending_rows for p in partitions.values())
            while held > PENDING_ROWS:
                largest = max(partitions.values(), key=lambda p: p.pending_rows)
                held -= largest.pending_rows
                largest.flush()
        if not partitions:
            partition(0)
        for part in partitions.values():
            part.finish()
    finally:
        for part in partitions.values():  # after a failure: no file left open
            with contextlib.suppress(Exception):
                part.close_file()
    written.files = [Path(path).relative_to(folder).as_posix() for path in written.files]
    return written
