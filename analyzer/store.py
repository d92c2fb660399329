"""The work directory of a run: where the derived tables of a long trace are spilled.

A multi-gigabyte trace cannot be held in memory (≈370 MiB of lines and 463 MiB of derived
tables per million lines, measured for issue 15), so the strace derivation writes each
window's tables to a Parquet dataset here (``<work dir>/NNN-<input>/<table>/part-NNNNN.parquet``)
and reads them back in call order, column by column, once the trace is derived.

`WorkDir` is a temporary folder by default (removed when the run ends) or a folder the user
names (``--work-dir``; what the run wrote there is removed unless ``--keep-work-dir``, for
DuckDB, Polars or pandas to read). `TableSink` is where a derivation writes its windows:
`MemorySink` keeps them as Arrow tables (a trace of one window: nothing to bound, no file
written), `ParquetSink` writes each as one Parquet file.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute

PARQUET_COMPRESSION = "zstd"
"""Measured on the 1M-line trace's lines: zstd writes as fast as lz4 or no compression
(0.35 CPU-s) and reads fastest (0.22 s), at a third of lz4's size."""


class WorkDir:
    """A run's work directory: temporary unless a path is given. `close` removes what the run
    wrote (the whole folder when it is temporary) unless it is to be kept."""

    def __init__(self, path: str | Path | None = None, keep: bool = False) -> None:
        self.given = path is not None
        if path is None:
            self.path = Path(tempfile.mkdtemp(prefix="iodiag-work-"))
        else:
            self.path = Path(path)
            self.path.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._lock = threading.Lock()
        self._folders: list[Path] = []

    def folder(self, name: str) -> Path:
        """A new, empty folder of the work directory, named after `name` (unique per run)."""
        with self._lock:
            number = len(self._folders) + 1
            folder = self.path / f"{number:03d}-{name}"
            self._folders.append(folder)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def close(self) -> None:
        """Remove what the run wrote, unless it is kept; a folder the user named stays, with
        whatever else it holds."""
        if self.keep:
            return
        if not self.given:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)


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
        return ParquetSink(directory.folder(Path(name).name or "stdin"))

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

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counts: dict[str, int] = {}

    def path(self, name: str) -> Path:
        return self.folder / name

    def write(self, name: str, table: pa.Table) -> None:
        number = self.counts.get(name, 0)
        self.counts[name] = number + 1
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

    def read(self, name: str, schema: pa.Schema) -> pa.Table:
        import pyarrow.parquet as pq

        files = self.files(name)
        if not files:
            return schema.empty_table()
        return pa.concat_tables(pq.read_table(file) for file in files)

    def read_sorted(self, name: str, schema: pa.Schema, key: str) -> pa.Table:
        """The table in `key` order (rows of equal keys in the order they were written),
        gathered column by column: each column is read from the files and put in order
        before the next is read, so the copy costs one column beside the result."""
        import pyarrow.parquet as pq

        files = self.files(name)
        if not files:
            return schema.empty_table()

        def column(field: pa.Field) -> pa.ChunkedArray:
            parts = [pq.read_table(file, columns=[field.name])[field.name] for file in files]
            return pa.chunked_array([c for part in parts for c in part.chunks], field.type)

        order = pa.compute.sort_indices(column(schema.field(key)))  # a stable sort
        return pa.Table.from_arrays([column(field).take(order) for field in schema], schema=schema)
