"""`engine.session`: a query that runs out of the engine's memory is tried again within
`RETRY_LIMIT` before it is let loose (a 100M-line trace's unlimited retry peaked at 3.2 GiB)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest

from analyzer import engine


@pytest.mark.parametrize(
    ("failing", "ladder"),
    [
        # the retry within RETRY_LIMIT is enough
        ({engine.MEMORY_LIMIT}, [engine.MEMORY_LIMIT, engine.RETRY_LIMIT]),
        # the limit is lifted only when the retry runs out too
        (
            {engine.MEMORY_LIMIT, engine.RETRY_LIMIT},
            [engine.MEMORY_LIMIT, engine.RETRY_LIMIT, None],
        ),
    ],
    ids=["retried-within-the-retry-limit", "lifted-after-the-retry"],
)
def test_a_query_out_of_memory_climbs_the_ladder_of_limits(
    monkeypatch: pytest.MonkeyPatch, failing: set[str], ladder: list[str | None]
) -> None:
    limits: list[str | None] = []
    run = engine._run

    def tight(work: Any, setup: Any, tables: Any, limit: str | None) -> Any:
        limits.append(limit)
        if limit in failing:
            raise duckdb.OutOfMemoryException("failed to pin block")
        return run(work, setup, tables, limit)

    monkeypatch.setattr(engine, "_run", tight)
    result = engine.query("SELECT sum(x) AS total FROM t", t=pa.table({"x": [1, 2, 3]}))
    assert result["total"].to_pylist() == [6]
    assert limits == ladder
