"""The out-of-core engine the whole-trace aggregations run on: DuckDB over Arrow.

The report's summaries group every call of a trace (10M-line traces hold 8M calls); done in
pandas they copied the columns they grouped into frames (+1.4 GiB at 10M lines, issue 15).
DuckDB scans the Arrow tables (or readers) in place on both cores, under a memory limit,
spilling to a temporary folder beyond it, and hands back the small grouped result. The
engine study (issue 15) chose it over Polars' streaming engine: its grouped quantiles and
compensated sums stay within its memory limit, Polars' fall back to memory.

Exactness: `fsum` (compensated, deterministic) is within 1–2 ULP of pandas' groupby sum and
`quantile_cont` within 1–2 ULP of pandas' linear interpolation, which the report's rounding to
the nanosecond absorbs; plain `sum` over doubles is order-dependent and is never used.

DuckDB is imported only when a query runs: start-up of small runs does not pay for it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

MEMORY_LIMIT = "1GiB"
"""DuckDB's own memory (RSS is ≈ limit + 200 MiB at most, measured): leaves room for the
passes that run beside the report's sections within a 2 GiB peak."""


def query(
    sql: str, setup: tuple[str, ...] = (), **tables: pa.Table | pa.RecordBatchReader
) -> pa.Table:
    """The result of `sql` over `tables` (named as in the query) as an Arrow table, after the
    statements `setup` (settings of the connection)."""
    import duckdb

    spill = tempfile.mkdtemp(prefix="iodiag-duckdb-")
    try:
        connection = duckdb.connect(
            config={
                "threads": 2,
                "memory_limit": MEMORY_LIMIT,
                "temp_directory": spill,
                # its bar would be drawn on stdout, where a report may be going
                "enable_progress_bar": False,
            }
        )
        try:
            for statement in setup:
                connection.execute(statement)
            for name, table in tables.items():
                connection.register(name, table)
            return connection.sql(sql).to_arrow_table()
        finally:
            connection.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


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
