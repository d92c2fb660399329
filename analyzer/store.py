"""The work directory of a run: where derived tables are spilled, and the DuckDB that reads them.

A multi-gigabyte trace cannot be held in memory (≈370 MiB of lines and 463 MiB of derived
tables per million lines, measured for issue 15), so the strace derivation appends each
window's tables to a Parquet dataset here (``<work dir>/<table>/part-NNNNN.parquet``), and the
whole-trace aggregations run on DuckDB over those files. DuckDB was chosen by measurement
(scratch report of issue 15: bounded memory on every workload at 30M calls, 3-4x less CPU
than pandas for the summaries); its `memory_limit` is set well under the run's 2 GiB budget
and it spills to a folder inside the work directory.

`WorkDir` is a temporary folder by default (removed when the run ends) or a folder the user
names (``--work-dir``, kept with ``--keep-work-dir``). `TableSink` is where a derivation
writes its windows: `MemorySink` keeps them as Arrow tables (a trace that fits one window:
nothing to bound, and no file is written), `ParquetSink` writes each as one Parquet file.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute

if TYPE_CHECKING:
    import duckdb

DUCKDB_MEMORY_LIMIT = "1GiB"
"""DuckDB's own budget: with the interpreter, Arrow buffers of one window and the passes'
working set beside it, the run stays under 2 GiB (issue 15's bound)."""
DUCKDB_THREADS = 2
PARQUET_COMPRESSION = "zstd"
"""Measured on the 1M-line trace's lines: zstd writes as fast as lz4 or no compression
(0.35 CPU-s) and reads fastest (0.22 s), at a third of lz4's size."""


class WorkDir:
    """A run's work directory: temporary unless a path is given; removed by `close` unless
    it is to be kept (then its datasets stay for DuckDB, Polars or pandas to read)."""

    def __init__(self, path: str | Path | None = None, keep: bool = False) -> None:
        self.given = path is not None
        if path is None:
            self.path = Path(tempfile.mkdtemp(prefix="iodiag-work-"))
        else:
            self.path = Path(path)
            self.path.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self.lock = threading.Lock()
        """Held while a query runs on the connection (one connection, used by one thread at a
        time)."""
        self._names = 0

    def folder(self, name: str) -> Path:
        """A new, empty folder of the work directory, named after `name` (unique per run)."""
        with self._lock:
            self._names += 1
            number = self._names
        folder = self.path / f"{number:03d}-{name}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """The run's DuckDB connection (made on first use), bounded and spilling here."""
        with self._lock:
            if self._connection is None:
                self._connection = connect(self.path / "duckdb-tmp")
            return self._connection

    def close(self) -> None:
        """Close DuckDB and remove the directory (unless it is kept)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        shutil.rmtree(self.path / "duckdb-tmp", ignore_errors=True)
        if not self.keep:
            if self.given:
                for child in self.path.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
            else:
                shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> WorkDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(temp_directory: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the run's memory limit, threads and spill folder."""
    import duckdb

    temp_directory.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(
        config={
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "threads": DUCKDB_THREADS,
            "temp_directory": str(temp_directory),
            "preserve_insertion_order": True,
        }
    )
    return connection


CURRENT: ContextVar[WorkDir | None] = ContextVar("work_dir", default=None)
"""The work directory of the run in progress (set by `pipeline.analyze`); None outside a run,
where a trace of several windows is kept in memory."""


@contextlib.contextmanager
def work_dir(path: str | Path | None = None, keep: bool = False) -> Iterator[WorkDir]:
    """The run's work directory, made current for the run and closed after it."""
    directory = WorkDir(path, keep)
    token = CURRENT.set(directory)
    try:
        yield directory
    finally:
        CURRENT.reset(token)
        directory.close()


def sink_for(name: str) -> Callable[[bool], TableSink]:
    """Where the windows of a trace go, decided at its first window: memory when that window
    is the only one (or no run is in progress), else a Parquet dataset in the work
    directory."""

    def choose(only_window: bool) -> TableSink:
        directory = CURRENT.get()
        if only_window or directory is None:
            return MemorySink()
        return ParquetSink(directory.folder(Path(name).name or "stdin"), directory)

    return choose


class TableSink(Protocol):
    """Where a derivation appends the windows of its tables."""

    def write(self, name: str, table: pa.Table) -> None: ...

    def read(self, name: str, schema: pa.Schema) -> pa.Table: ...


class MemorySink:
    """Windows kept as Arrow tables."""

    def __init__(self) -> None:
        self.parts: dict[str, list[pa.Table]] = {}

    def write(self, name: str, table: pa.Table) -> None:
        self.parts.setdefault(name, []).append(table)

    def read(self, name: str, schema: pa.Schema) -> pa.Table:
        parts = self.parts.get(name, [])
        return pa.concat_tables(parts) if parts else schema.empty_table()


class ParquetSink:
    """Windows written as Parquet files, one per window, under ``folder/<name>/``."""

    def __init__(self, folder: Path, directory: WorkDir | None = None) -> None:
        self.folder = folder
        self.directory = directory
        self.counts: dict[str, int] = {}
        self.schemas: dict[str, pa.Schema] = {}

    def path(self, name: str) -> Path:
        return self.folder / name

    def write(self, name: str, table: pa.Table) -> None:
        number = self.counts.get(name, 0)
        self.counts[name] = number + 1
        self.schemas.setdefault(name, table.schema)
        import pyarrow.parquet as pq  # only for traces of several windows: not at start-up

        target = self.path(name)
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table,
            target / f"part-{number:05d}.parquet",
            compression=PARQUET_COMPRESSION,
            row_group_size=128 * 1024,
        )

    def files(self, name: str) -> list[Path]:
        return [self.path(name) / f"part-{n:05d}.parquet" for n in range(self.counts.get(name, 0))]

    def batches(self, name: str) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        for file in self.files(name):
            yield from pq.ParquetFile(file).iter_batches()

    def read(self, name: str, schema: pa.Schema) -> pa.Table:
        import pyarrow.parquet as pq

        files = self.files(name)
        if not files:
            return schema.empty_table()
        return pa.concat_tables(pq.read_table(file) for file in files)

    def read_sorted(self, name: str, schema: pa.Schema, key: str) -> pa.Table:
        """The table in `key` order (rows of equal keys in the order they were written),
        sorted by DuckDB within its memory limit, spilling to the work directory."""
        files = self.files(name)
        if not files:
            return schema.empty_table()
        if self.directory is None:
            table = self.read(name, schema)
            return table.take(pa.compute.sort_indices(table[key]))
        query = (
            f"SELECT * EXCLUDE (filename, file_row_number) FROM read_parquet({sql_list(files)},"
            f" filename=true, file_row_number=true) ORDER BY {key}, filename, file_row_number"
        )
        with self.directory.lock:
            table = self.directory.duckdb().sql(query).to_arrow_table()
        return table.select(schema.names).cast(schema)


def sql_list(paths: list[Path]) -> str:
    """A DuckDB list literal of file paths (for ``read_parquet``)."""
    return "[" + ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths) + "]"


def describe(sink: Any) -> str:
    """Where a sink keeps its tables, for messages."""
    return str(getattr(sink, "folder", "memory"))
