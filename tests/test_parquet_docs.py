"""Every query of docs/parquet.md (DuckDB SQL, pandas/pyarrow and Polars), run on the
`--format parquet` dataset of a real capture and checked against the in-memory tables of the
same run: the documented queries must work as written and answer what their heading says."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analyzer import analyze
from analyzer.outputs import atomic_directory
from analyzer.pipeline import Config
from analyzer.render.parquet import ParquetRenderer

duckdb = pytest.importorskip("duckdb")
polars = pytest.importorskip("polars")

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "parquet.md"
TRACE = REPO / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"
"""A real capture (fixtures/strace/programs/pool8.py): 10 threads, futex waits, file reads."""

FILE = "/srv/app/data.db"
WINDOW = ("34200.0", "34200.5")
BUSY = ">= 1000"
"""The placeholders the doc's queries use, replaced by values of the capture (whose busiest
targets have tens of calls, not thousands)."""
BUSY_HERE = 5


def _blocks() -> list[tuple[str, str, str]]:
    """(section heading, language, code) of every sql and python block under a ``##``."""
    found = []
    heading = ""
    for match in re.finditer(r"^## ([^\n]+)$|^```(\w+)\n(.*?)^```$", DOC.read_text(), re.M | re.S):
        if match[1]:
            heading = match[1]
        elif match[2] in ("sql", "python"):
            found.append((heading, match[2], match[3]))
    return found


BLOCKS = _blocks()


def _engine(language: str, code: str) -> str:
    if language == "sql":
        return "duckdb"
    return "polars" if "import polars" in code else "pandas"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The capture analyzed and written as the doc says; the values for the placeholders."""
    where = tmp_path_factory.mktemp("parquet-docs")
    result = analyze(TRACE, Config())
    with atomic_directory(where / "out") as temporary:
        ParquetRenderer().write(result, temporary)
    calls = result.tables["syscalls"].to_pandas()
    files = calls[calls["target_kind"] == "file"]["target"].value_counts()
    start = float(calls["start_s"].min())
    return {
        "folder": where,
        "calls": calls,
        "file": str(files.index[0]),
        "window": (start + 0.1, start + 0.15),
    }


def _answer(language: str, code: str, run: dict[str, Any], monkeypatch: Any) -> pd.DataFrame:
    low, high = run["window"]
    assert "'" not in run["file"] and '"' not in run["file"]
    code = code.replace(FILE, run["file"])
    code = code.replace(WINDOW[0], repr(low)).replace(WINDOW[1], repr(high))
    code = code.replace(BUSY, f">= {BUSY_HERE}")
    assert FILE not in code and WINDOW[0] not in code
    monkeypatch.chdir(run["folder"])
    if language == "sql":
        return duckdb.connect().sql(code).df()
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)
    result = scope["result"]
    return result.to_pandas() if isinstance(result, polars.DataFrame) else result


def _slow_calls(answer: pd.DataFrame, run: dict[str, Any]) -> None:
    assert run["file"] != FILE
    calls = run["calls"]
    on_file = calls[calls["target"] == run["file"]]
    expected = sorted(on_file["duration_s"].dropna(), reverse=True)[:10]
    assert len(on_file) > 10
    assert list(answer["duration_s"]) == expected
    keys = set(zip(on_file["start_s"], on_file["tid"], on_file["syscall"], strict=True))
    assert set(zip(answer["start_s"], answer["tid"], answer["syscall"], strict=True)) <= keys
    assert set(answer["input"]) == {str(TRACE)}


def _futex(answer: pd.DataFrame, run: dict[str, Any]) -> None:
    calls = run["calls"]
    futex = calls[calls["syscall"] == "futex"]
    expected = futex.groupby(["input", "pid", "tid"], dropna=False)["duration_s"].agg(
        ["size", "sum", "max"]
    )
    assert len(expected) > 1
    got = {
        (row.input, row.pid, row.tid): (row.calls, row.futex_s, row.longest_s)
        for row in answer.itertuples()
    }
    want = {key: tuple(value) for key, value in expected.iterrows()}
    assert got.keys() == want.keys()
    for key, (count, total, longest) in want.items():
        assert got[key][0] == count
        assert got[key][1] == pytest.approx(total, abs=1e-9)
        assert got[key][2] == pytest.approx(longest)
    assert list(answer["futex_s"]) == sorted(answer["futex_s"], reverse=True)


def _window(answer: pd.DataFrame, run: dict[str, Any]) -> None:
    calls = run["calls"]
    low, high = run["window"]
    expected = calls[(calls["start_s"] < high) & (calls["end_s"] >= low)]
    assert 0 < len(expected) < len(calls) / 2
    columns = ["start_s", "end_s", "tid", "syscall", "duration_s", "target", "ret"]
    assert list(answer.columns) == columns
    assert list(answer["start_s"]) == sorted(answer["start_s"])
    order = ["start_s", "tid", "syscall", "end_s"]
    got = answer.sort_values(order).reset_index(drop=True).astype(object)
    want = expected[columns].sort_values(order).reset_index(drop=True).astype(object)
    pd.testing.assert_frame_equal(got.where(got.notna(), None), want.where(want.notna(), None))


def _percentiles(answer: pd.DataFrame, run: dict[str, Any]) -> None:
    """Only the busy targets (the placeholder replaced), the right counts and maxima, and
    percentiles near the exact ones."""
    calls = run["calls"]
    timed = calls.dropna(subset=["target", "duration_s"])
    groups = {
        name: np.sort(group.to_numpy())
        for name, group in timed.groupby("target")["duration_s"]
        if len(group) >= BUSY_HERE
    }
    assert len(answer) == min(20, len(groups)) and len(groups) > 20
    p99 = list(answer["p99_s"])
    assert p99 == sorted(p99, reverse=True)
    for row in answer.itertuples():
        durations = groups[row.target]
        assert row.calls == len(durations)
        assert row.max_s == durations[-1]
        for q, value in ((0.5, row.p50_s), (0.99, row.p99_s)):
            # approximate (t-digest) or exact: between the durations 5% of the calls away
            rank = q * (len(durations) - 1)
            low = durations[max(0, math.floor(rank - 0.05 * len(durations)))]
            high = durations[min(len(durations) - 1, math.ceil(rank + 0.05 * len(durations)))]
            assert low <= value <= high, (row.target, q, value, low, high)
    slowest = max(groups, key=lambda name: np.quantile(groups[name], 0.99))
    assert groups[slowest][-1] >= p99[0]


CHECKS: dict[str, Callable[[pd.DataFrame, dict[str, Any]], None]] = {
    "Top slow calls on a file": _slow_calls,
    "Time each thread spent in futex": _futex,
    "Calls running during a time window": _window,
    "Latency percentiles per target": _percentiles,
}


def _cases() -> Iterator[Any]:
    for heading, language, code in BLOCKS:
        if heading in CHECKS:
            yield pytest.param(heading, language, code, id=f"{heading}-{_engine(language, code)}")


@pytest.mark.parametrize(("heading", "language", "code"), list(_cases()))
def test_documented_query(
    heading: str, language: str, code: str, run: dict[str, Any], monkeypatch: Any
) -> None:
    CHECKS[heading](_answer(language, code, run, monkeypatch), run)


def test_every_question_has_a_query_for_each_engine() -> None:
    engines: dict[str, set[str]] = {}
    for heading, language, code in BLOCKS:
        engines.setdefault(heading, set()).add(_engine(language, code))
    asked = {heading: found for heading, found in engines.items() if heading in CHECKS}
    assert asked == {heading: {"duckdb", "pandas", "polars"} for heading in CHECKS}
    # a query block under a heading no check covers would go untested
    assert set(engines) <= set(CHECKS)
