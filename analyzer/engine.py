"""The out-of-core engine the whole-trace aggregations run on: DuckDB over Arrow.

The report's summaries group every call of a trace (10M-line traces hold 8M calls); done in
pandas they copied the columns they grouped into frames (+1.4 GiB at 10M lines, issue 15).
DuckDB scans the Arrow tables (or readers) in place on both cores, under a memory limit,
spilling to a temporary folder beyond it, and hands back the small grouped result. The
engine study (issue 15) chose it over Polars' streaming engine: its grouped quantiles and
compensated sums stay within its memory limit, Polars' fall back to memory.

Exactness: `fsum` (compensated, deterministic) is within 1–2 ULP of pandas' groupby sum and
`quantile_cont` within 1–2 ULP of pandas' linear interpolation, which the report's rounding to
the nanosecond absorbs; plain `sum` over doubles is order-dependent and is never used. The
report's quantiles are no longer the engine's: they are read off its counts of each duration
and interpolated as pandas does (`sections.strace_stats`), exact and spillable.

DuckDB is imported only when a query runs: start-up of small runs does not pay for it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar

import numpy as np
import pyarrow as pa

MEMORY_LIMIT = "128MiB"
"""DuckDB's own memory, beyond which it spills to a temporary folder. Every aggregate the
report runs spills (no exact quantile states: `sections.strace_stats` counts durations
instead), so a small limit costs no time: at 10M lines the strace sections took 7.9 s of CPU
and +317 MiB with 128 MiB, 7.5 s and +532 MiB with 512 MiB (a million groups of targets)."""

RETRY_LIMIT = "1GiB"
"""The engine's memory for a second try of a query that ran out of `MEMORY_LIMIT`. Without a
limit DuckDB takes up to 80% of the machine's memory: at 100M lines (81M calls) one of the
strace sections' queries over every call runs out of 128 MiB, and its unlimited retry made
the run peak at 3,278 MiB where the rest stays under 1.7 GiB; within 1 GiB it finishes in
10.8 s and the run peaks at 1,639 MiB, with the same report."""


THREADS = 2
"""The engine's threads: both cores."""

DATABASE_SETTINGS: dict[str, int] = {"threads": THREADS}
"""What each database is opened with, and what a session that changed it puts back (a
``RESET`` would give DuckDB's default instead: for threads, every core)."""

ONE_THREAD = ("SET threads = 1",)
"""A session's setup that runs its statements on one thread, for work that runs beside other
work on the other core (the strace sections beside the passes): the same statements took
less CPU on one thread than on two (strace sections at 1M lines 0.43 -> 0.38-0.40 CPU-s, at
10M 6.0-6.3 -> 5.7; wall no longer at load 5), as the other core is busy anyway."""


Source: TypeAlias = pa.Table | Callable[[], pa.RecordBatchReader]
"""A table, or what makes a stream of its batches afresh (a stream is read once)."""


def query(sql: str, setup: tuple[str, ...] = (), **tables: Source) -> pa.Table:
    """The result of `sql` over `tables` (named as in the query) as an Arrow table, after the
    statements `setup` (settings of the connection).

    Within `MEMORY_LIMIT` the engine spills what it can; what cannot be spilled (exact
    quantiles, lists) may run out of memory, and the query is then run again within
    `RETRY_LIMIT`, and only then without a limit: a report that exceeds the memory bound
    beats no report."""
    return session(lambda ask: ask(sql), setup, **tables)


Ask: TypeAlias = Callable[[str], pa.Table]
"""Runs one statement on a session's connection: its result (empty for a ``CREATE``)."""
T = TypeVar("T")


def session(work: Callable[[Ask], T], setup: tuple[str, ...] = (), **tables: Source) -> T:
    """What `work` makes of several statements run on one connection over `tables` (a
    temporary table made by one and read by the next stays in the engine, within its memory
    limit, instead of coming back to Python); run again within `RETRY_LIMIT`, then without a
    limit, when it runs out of memory, as `query`. A stream among `tables` can be read by one
    statement only."""
    import duckdb

    for limit in (MEMORY_LIMIT, RETRY_LIMIT):
        try:
            return _run(work, setup, tables, limit)
        except duckdb.OutOfMemoryException:
            continue
    return _run(work, setup, tables, None)


class _Database:
    """An in-memory DuckDB database on both cores, spilling into a folder of its own that
    DuckDB makes only when it spills."""

    def __init__(self) -> None:
        import duckdb

        self.folder = tempfile.mkdtemp(prefix="iodiag-duckdb-")
        self.spill = os.path.join(self.folder, "spill")
        self.connection = duckdb.connect(config={**DATABASE_SETTINGS, "temp_directory": self.spill})

    def spilled(self) -> bool:
        return os.path.exists(self.spill)

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_idle: list[_Database] = []
"""Databases whose last session has ended and that never spilled, for the next session: a
new database took ~10-20 ms to open and close, which a small trace's report (11 sessions)
paid ten times over. One whose session spilled is closed instead, and its folder removed
with it (DuckDB cannot move its spill folder once it used it)."""
_idle_lock = threading.Lock()


def _take() -> _Database:
    with _idle_lock:
        if _idle:
            return _idle.pop()
    return _Database()


def _give_back(database: _Database) -> None:
    if database.spilled():
        database.close()
        return
    with _idle_lock:
        _idle.append(database)


@atexit.register
def _close_idle() -> None:
    with _idle_lock:
        while _idle:
            _idle.pop().close()


def _new_lock() -> None:
    global _idle_lock
    _idle_lock = threading.Lock()


# A forked child must not inherit a database: DuckDB's threads are not in it, and freeing its
# copy there crashes. The idle ones are closed before a fork (the next session opens one).
os.register_at_fork(before=_close_idle, after_in_child=_new_lock)


@contextmanager
def _connection(
    setup: tuple[str, ...], tables: dict[str, Source], limit: str | None
) -> Iterator[Any]:
    """A connection to a database of its own while it is open (one session at a time runs
    on a database), within `limit` (none: no limit), after the statements `setup` (``SET``
    statements, undone when it closes), with `tables` registered (for this connection
    only)."""
    settings = [_setting(statement) for statement in setup]
    database = _take()
    connection = database.connection.cursor()
    try:
        if limit is None:
            connection.execute("RESET memory_limit")
        else:
            connection.execute(f"SET memory_limit = '{limit}'")
        # its bar would be drawn on stdout, where a report may be going
        connection.execute("SET enable_progress_bar = false")
        for statement in setup:
            connection.execute(statement)
        for name, table in tables.items():
            connection.register(name, table if isinstance(table, pa.Table) else table())
        yield connection
    finally:
        try:
            connection.close()
            for name in settings:
                # the settings of `setup` are the database's: the next session starts without
                if name in DATABASE_SETTINGS:
                    database.connection.execute(f"SET {name} = {DATABASE_SETTINGS[name]}")
                else:
                    database.connection.execute(f"RESET {name}")
        except BaseException:
            database.close()
            raise
        _give_back(database)


def _setting(statement: str) -> str:
    """The name of the setting a ``SET name = value`` statement sets."""
    words = statement.split(None, 2)
    if len(words) < 2 or words[0].upper() != "SET":
        raise ValueError(f"a session's setup is SET statements, not {statement!r}")
    return words[1].split("=", 1)[0]


def _run(
    work: Callable[[Ask], T], setup: tuple[str, ...], tables: dict[str, Source], limit: str | None
) -> T:
    with _connection(setup, tables, limit) as connection:

        def ask(sql: str) -> pa.Table:
            result = connection.sql(sql)
            return pa.table({}) if result is None else result.to_arrow_table()

        return work(ask)


def numbered(table: pa.Table, name: str = "idx", rows: int = 1 << 18) -> pa.RecordBatchReader:
    """`table` as a stream of batches with a column `name` holding each row's position: the
    engine does not keep a scan's order, so a "first seen" order is `min(name)`."""
    schema = table.schema.append(pa.field(name, pa.int64()))

    def batches() -> Iterator[pa.RecordBatch]:
        start = 0
        for batch in table.to_batches(max_chunksize=rows):
            positions = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
            start += batch.num_rows
            yield pa.RecordBatch.from_arrays([*batch.columns, positions], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


@contextmanager
def stream(
    sql: str, rows: int = 1 << 16, setup: tuple[str, ...] = (), **tables: Source
) -> Iterator[pa.RecordBatchReader]:
    """The result of `sql` over `tables` as a stream of batches of at most `rows` rows, read
    while the context is open: for results as long as the trace (a sort of every call),
    which the engine spills within `MEMORY_LIMIT` and hands back a batch at a time. No retry
    without the limit: a sort spills whatever its size."""
    with _connection(setup, tables, MEMORY_LIMIT) as connection:
        yield connection.sql(sql).to_arrow_reader(rows)
