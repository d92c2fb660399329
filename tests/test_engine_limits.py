"""`engine.session`: a query that runs out of the engine's memory is tried again within
`RETRY_LIMIT` before it is let loose (a 100M-line trace's unlimited retry peaked at 3.2 GiB)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest

from analyzer import engine


def test_a_query_out_of_memory_is_retried_within_the_retry_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits: list[str | None] = []
    run = engine._run

    def tight(work: Any, setup: Any, tables: Any, limit: str | None) -> Any:
        limits.append(limit)
        if limit == engine.MEMORY_LIMIT:
            raise duckdb.OutOfMemoryException("failed to pin block")
        return run(work, setup, tables, limit)

    monkeypatch.setattr(engine, "_run", tight)
    result = engine.query("SELECT sum(x) AS total FROM t", t=pa.table({"x": [1, 2, 3]}))
    assert result["total"].to_pylist() == [6]
    assert limits == [engine.MEMORY_LIMIT, engine.RETRY_LIMIT]


def test_the_limit_is_lifted_only_when_the_retry_runs_out_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits: list[str | None] = []
    run = engine._run

    def tight(work: Any, setup: Any, tables: Any, limit: str | None) -> Any:
        limits.append(limit)
        if limit is not None:
            raise duckdb.OutOfMemoryException("failed to pin block")
        return run(work, setup, tables, limit)

    monkeypatch.setattr(engine, "_run", tight)
    assert engine.query("SELECT 1 AS one")["one"].to_pylist() == [1]
    assert limits == [engine.MEMORY_LIMIT, engine.RETRY_LIMIT, None]
