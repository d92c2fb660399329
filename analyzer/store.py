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
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute

PARQUET_COMPRESSION = "zstd"
"""Measured on the 1M-line trace's lines: zstd writes as fast as lz4 or no compression
(0.35 CPU-s) and reads fastest (0.22 s), at a third of lz4's size."""

PLAIN_COLUMNS = frozenset({"args", "text"})
"""String columns written without a dictionary: nearly every value differs, so the writer's
attempt at one is wasted. Measured on the 1M-line trace's calls (814k rows, one file):
a dictionary for every column wrote in 0.50 CPU-s and 31 MiB, one for the other string
columns only in 0.33-0.35 CPU-s and 24 MiB (read 0.20 s either way); lz4 instead of zstd
would write in 0.28 s but take 42 MiB."""


TRIM_RANGES = 16
"""`ParquetSink.write_sorted` gives the C heap's free memory back every so many key ranges
(4M rows): with Arrow on the C library's malloc the row groups it reads and drops left the
heap in pieces it kept, and the merge of 30M lines grew from 815 to 1,093 MiB."""


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
        self.mapped: list[pa.Buffer] = []
        """The files the run mapped (`map_table`), each as a buffer over its whole mapping:
        held here, so a mapping `release_pages` advises is never one already unmapped."""

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

    def release_pages(self) -> None:
        """Drop the resident pages of the run's mapped tables from the process (`madvise`
        ``MADV_DONTNEED``): the next read of them is served from the file cache again. Called
        between the stages that read a whole table, so the process holds only what the
        running stage touches of a table that would otherwise be resident whole (1.7 GiB of
        calls at 10M lines). Linux only; elsewhere nothing is released."""
        if not self.mapped:
            return
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            for buffer in self.mapped:
                libc.madvise(buffer.address, buffer.size, MADV_DONTNEED)

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


MADV_DONTNEED = 4


def give_back_free_memory() -> None:
    """Give what Arrow's pool and the C heap hold free back to the system (numpy and pandas
    allocate in the C heap, not in Arrow's pool; glibc only, elsewhere the C heap keeps it):
    a stage that follows one that allocated much then does not add its peak on top of what
    the other freed (≈0.65 GiB after the windows of a long trace are derived)."""
    pa.default_memory_pool().release_unused()
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def map_table(path: Path) -> pa.Table:
    """The Arrow IPC file at `path` as a table whose buffers are the file's pages, mapped
    read-only: nothing is copied, and what a stage touched is given back by
    `WorkDir.release_pages` (the pages stay in the system's file cache, out of the
    process). The mapping outlives the file, so the work directory can be removed while the
    table is still read."""
    mapped = pa.memory_map(str(path), "r")
    table = pa.ipc.open_file(mapped).read_all()
    directory = CURRENT.get()
    if directory is not None:
        mapped.seek(0)
        directory.mapped.append(mapped.read_buffer())
    return table


def _file_pages_kib() -> int:
    """The process's resident file-backed memory (``RssFile``), in KiB; 0 where unknown."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    return 0


class PageWatch:
    """While it runs, the resident pages of the run's mapped tables are given back whenever
    they grow by more than `budget_mib` (checked every `interval_s`): a pass that reads
    column after column of a long trace holds what it read in the last moments, not every
    column it touched (the pages are read again from the file cache when touched again).

    The pages are clean, so this is what the kernel would do under memory pressure; done
    here, the process's peak RSS no longer counts them."""

    def __init__(self, directory: WorkDir, budget_mib: int = 192, interval_s: float = 0.05):
        self.directory = directory
        self.budget_kib = budget_mib * 1024
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.releases = 0

    def __enter__(self) -> PageWatch:
        if self.directory.mapped and _file_pages_kib():
            base = _file_pages_kib()
            self._thread = threading.Thread(target=self._watch, args=(base,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.directory.release_pages()

    def _watch(self, base_kib: int) -> None:
        while not self._stop.wait(self.interval_s):
            if _file_pages_kib() - base_kib > self.budget_kib:
                self.directory.release_pages()
                self.releases += 1


CURRENT: ContextVar[WorkDir | None] = ContextVar("work_dir", default=None)
"""The work directory of the run in progress (set by `pipeline.analyze`); None outside a run,
where a trace of several windows is kept in memory."""


@contextlib.contextmanager
def current(directory: WorkDir) -> Iterator[WorkDir]:
    """`directory` made current (`CURRENT`) for the block, and left open after it: for a
    caller that keeps the work directory of a run beyond it."""
    token = CURRENT.set(directory)
    try:
        yield directory
    finally:
        CURRENT.reset(token)


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

    row_group_rows = 128 * 1024

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
            row_group_size=self.row_group_rows,
            use_dictionary=[
                field.name
                for field in table.schema
                if pa.types.is_string(field.type) and field.name not in PLAIN_COLUMNS
            ],
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

    def write_sorted(
        self,
        name: str,
        key: str,
        target: Path,
        finish: Callable[[pa.Table], pa.Table],
        batch_rows: int = 1 << 18,
    ) -> None:
        """Write the table `name` in `key` order (rows of equal keys in the order they were
        written) to the Arrow IPC file `target`, in record batches of `batch_rows` rows, each
        batch passed through `finish` first (which drops `key`).

        The keys are cut into ranges of `batch_rows` values and the rows are gathered range
        by range, each from the row groups that hold keys of it (a first reading of the key
        column notes which ranges each row group holds). The windows' files are nearly in
        order already (only calls carried from one window to a later one are out of place),
        so a range takes a few row groups: the memory this takes is a few row groups and one
        range's keys, whatever the size of the table (a sort of all the keys at once held
        16 bytes per call: 1.2 GiB at 100M lines)."""
        import pyarrow.parquet as pq

        paths = self.files(name)
        groups = [(path, g) for path in paths for g in range(pq.read_metadata(path).num_row_groups)]

        def read_group(number: int, columns: list[str] | None = None) -> pa.Table:
            # A reader per read, not one kept open per file: a reader keeps ~2.5 MiB of what
            # it read, so readers of every file grew the merge by that much per file (30M
            # lines: peak 860 -> 491 MiB, flat in the trace's length; CPU the same).
            path, group = groups[number]
            return pq.ParquetFile(path).read_row_group(group, columns=columns)

        def keys_of(number: int) -> np.ndarray:
            column = read_group(number, [key])[key]
            return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)

        extremes: list[tuple[int, int] | None] = []
        for number in range(len(groups)):
            keys = keys_of(number)
            extremes.append((int(keys.min()), int(keys.max())) if len(keys) else None)
        base = min((ends[0] for ends in extremes if ends is not None), default=0)
        spans = [
            ((ends[0] - base) // batch_rows, (ends[1] - base) // batch_rows)
            if ends is not None
            else (0, -1)
            for ends in extremes
        ]
        # A group holds keys of ranges first..last, but not necessarily of each one between
        # (a call carried long is far from its window's): which ones it holds is read once.
        held: list[np.ndarray] = []
        for number, (first, last) in enumerate(spans):
            if last - first <= 1:
                held.append(np.arange(first, last + 1, dtype=np.int64))
            else:
                held.append(np.unique((keys_of(number) - base) // batch_rows))
        wanted: dict[int, list[int]] = {}
        for number, ranges in enumerate(held):
            for item in ranges.tolist():
                wanted.setdefault(item, []).append(number)
        del held
        cache: dict[int, tuple[pa.Table, np.ndarray]] = {}
        pending: list[pa.Table] = []
        pending_rows = 0
        writer: pa.ipc.RecordBatchFileWriter | None = None

        def group_with_keys(number: int) -> tuple[pa.Table, np.ndarray]:
            table = read_group(number)
            column = table[key].to_numpy(zero_copy_only=False)
            return table, np.asarray(column, dtype=np.int64)

        # The next range's groups are read and decoded on a second thread while this one
        # gathers and writes the current range: the merge ran on one core after the parse
        # (10M lines: 2.8 s of its 5 CPU-s decoding, the rest taking and writing).
        reader = ThreadPoolExecutor(1, thread_name_prefix="iodiag-merge-read")
        coming: dict[int, Future[tuple[pa.Table, np.ndarray]]] = {}

        def read_ahead(at: int) -> None:
            if at < len(ordered):
                for number in wanted[ordered[at]]:
                    if number not in cache and number not in coming:
                        coming[number] = reader.submit(group_with_keys, number)

        def group(number: int) -> tuple[pa.Table, np.ndarray]:
            if number not in cache:
                arriving = coming.pop(number, None)
                cache[number] = arriving.result() if arriving else group_with_keys(number)
            return cache[number]

        def write(batch: pa.Table) -> None:
            nonlocal writer
            batch = finish(batch.combine_chunks())
            if writer is None:
                writer = pa.ipc.new_file(str(target), batch.schema)
            writer.write_table(batch, max_chunksize=batch_rows)

        ordered = sorted(wanted)
        try:
            for at, item in enumerate(ordered):
                if at and at % TRIM_RANGES == 0:
                    give_back_free_memory()
                needed = wanted[item]
                for number in needed:
                    group(number)
                read_ahead(at + 1)
                pieces: list[pa.Table] = []
                piece_keys: list[np.ndarray] = []
                for number in needed:
                    table, keys = cache[number]
                    inside = np.flatnonzero((keys - base) // batch_rows == item)
                    # Taken, not sliced, even when consecutive: the values under null
                    # slots stay those of a take (the file is the same bytes).
                    pieces.append(table.take(pa.array(inside)))
                    piece_keys.append(keys[inside])
                # Groups not needed by the next range are dropped (read again if a later
                # range needs them: a carried call's group, rarely).
                following = set(wanted[ordered[at + 1]]) if at + 1 < len(ordered) else set()
                for stale in [number for number in cache if number not in following]:
                    del cache[stale]
                gathered = pa.concat_tables(pieces)
                # The pieces are in group order: a stable sort keeps equal keys in the order
                # they were written.
                gathered_keys = np.concatenate(piece_keys)
                if (gathered_keys[1:] < gathered_keys[:-1]).any():
                    order = np.argsort(gathered_keys, kind="stable")
                    gathered = gathered.take(pa.array(order))
                pending.append(gathered)
                pending_rows += gathered.num_rows
                while pending_rows >= batch_rows:
                    table = pa.concat_tables(pending)
                    write(table.slice(0, batch_rows))
                    rest = table.slice(batch_rows)
                    pending, pending_rows = [rest], rest.num_rows
            if pending_rows:
                write(pa.concat_tables(pending))
            if writer is None:
                empty = finish(pq.read_schema(paths[0]).empty_table())
                writer = pa.ipc.new_file(str(target), empty.schema)
        finally:
            reader.shutdown(cancel_futures=True)
            if writer is not None:
                writer.close()
