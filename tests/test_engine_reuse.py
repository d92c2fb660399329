"""`engine`'s sessions share a database while it has not spilled (opening one took ~10-20 ms,
paid by every one of a small trace's report queries), and nothing of one session is left
for the next: its tables, its `setup` settings, its memory limit, its spill folder."""

from __future__ import annotations

import os
import threading

import duckdb
import pyarrow as pa
import pytest

from analyzer import engine

SETTING = "SELECT current_setting('{name}') AS value"


def _value(name: str) -> object:
    return engine.query(SETTING.format(name=name))["value"][0].as_py()


def test_a_session_reuses_the_database_of_the_one_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine.query("SELECT 1 AS one")
    seen: list[engine._Database] = []
    taken = engine._take

    def take() -> engine._Database:
        database = taken()
        seen.append(database)
        return database

    monkeypatch.setattr(engine, "_take", take)
    for _ in range(3):
        assert engine.query("SELECT 2 AS two")["two"].to_pylist() == [2]
    assert len({id(database) for database in seen}) == 1


def test_nothing_of_a_session_is_left_for_the_next() -> None:
    default = _value("disabled_optimizers")
    engine.query(
        "SELECT count(*) AS n FROM t",
        ("SET disabled_optimizers = 'join_order,build_side_probe_side'",),
        t=pa.table({"x": [1, 2, 3]}),
    )
    assert _value("disabled_optimizers") == default
    with pytest.raises(duckdb.CatalogException):
        engine.query("SELECT * FROM t")
    engine.session(lambda ask: ask("CREATE TEMP TABLE g AS SELECT 1 AS x"))
    with pytest.raises(duckdb.CatalogException):
        engine.query("SELECT * FROM g")


def test_a_session_on_one_thread_leaves_the_next_on_both() -> None:
    """`engine.ONE_THREAD` holds for its session only; the next has `engine.THREADS` (not
    DuckDB's default of every core, which RESET would give)."""
    setting = "SELECT current_setting('threads') AS n"
    assert engine.query(setting, engine.ONE_THREAD)["n"].to_pylist() == [1]
    assert engine.query(setting)["n"].to_pylist() == [engine.THREADS]


def test_each_session_has_its_own_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    limits: list[object] = []
    run = engine._run

    def tight(work: object, setup: object, tables: object, limit: str | None) -> object:
        seen = run(lambda ask: ask(SETTING.format(name="memory_limit")), (), {}, limit)
        limits.append(seen["value"][0].as_py())  # type: ignore[index]
        if limit is not None:
            raise duckdb.OutOfMemoryException("failed to pin block")
        return run(work, setup, tables, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_run", tight)
    engine.query("SELECT 1 AS one")
    assert limits[0] == "128.0 MiB"
    assert limits[1] == "1.0 GiB"
    assert limits[2] not in ("128.0 MiB", "1.0 GiB")  # DuckDB's default: 80% of the memory


def test_a_setup_that_is_not_a_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="SET statements"):
        engine.query("SELECT 1 AS one", ("CREATE TABLE kept AS SELECT 1",))


@pytest.mark.slow
def test_a_database_that_spilled_is_closed_and_its_folder_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "MEMORY_LIMIT", "64MiB")
    folders: list[str] = []
    taken = engine._take

    def take() -> engine._Database:
        database = taken()
        folders.append(database.folder)
        return database

    monkeypatch.setattr(engine, "_take", take)
    spilling = "SELECT i, (i * 7919) % 20000011 AS r FROM range(10000000) t(i) ORDER BY r"
    with engine.stream(spilling, 1 << 16) as batches:
        rows = sum(batch.num_rows for batch in batches)
    assert rows == 10_000_000
    assert not os.path.exists(folders[0])
    assert all(database.folder != folders[0] for database in engine._idle)


def test_sessions_in_two_threads_take_two_databases() -> None:
    inside = threading.Barrier(2, timeout=30)
    results: list[list[int]] = []

    def work(ask: engine.Ask) -> list[int]:
        inside.wait()  # both sessions are open at once
        return list(ask("SELECT 3 AS three")["three"].to_pylist())

    threads = [
        threading.Thread(target=lambda: results.append(engine.session(work))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[3], [3]]


def test_a_forked_child_opens_its_own_database() -> None:
    engine.query("SELECT 1 AS one")
    assert engine._idle
    parent = {database.folder for database in engine._idle}
    child = os.fork()
    if child == 0:  # the child: a query of its own, then its exit closes only its databases
        code = 1
        try:
            if not engine._idle and engine.query("SELECT 4 AS four")["four"].to_pylist() == [4]:
                code = 0
        finally:
            os._exit(code)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not any(os.path.exists(folder) for folder in parent)  # closed before the fork
    assert engine.query("SELECT 5 AS five")["five"].to_pylist() == [5]
