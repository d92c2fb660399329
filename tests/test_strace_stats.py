"""The engine's grouped statistics equal pandas' to the digit the report prints, rounding ties
and the order of equal totals included (`analyzer.sections.strace_stats`, through the tests'
one-summary query `tests.strace_grouped.grouped`, which the shared scans are checked
against in test_strace_views.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analyzer.clean import clean
from analyzer.sections import strace_stats
from tests import strace_grouped
from tests.strace_traces import TRACES

DURATIONS = [1.3e-05, 1.1e-05, 1.1e-05, 1.7e-05, 1.1e-05, 1.3e-05]
"""Six reads of one file in fixtures/diagnosis/logs/lock_convoy.f_tt_T.log: in-order Kahan
gives 7.599999999999999e-05 where a correctly rounded sum gives 7.6e-05."""


def test_kahan_sum_adds_as_pandas_groupby_does() -> None:
    """pandas' Cython sum of groups whose rows interleave (np.add.reduceat is its path for
    groups that are runs of rows, without NaN)."""
    values = [v for d in DURATIONS for v in (d, 1e-6)]
    frame = pd.DataFrame({"group": [0, 1] * len(DURATIONS), "value": values})
    by_pandas = frame.groupby("group", sort=False)["value"].sum()
    assert strace_stats.kahan_sum(np.array(DURATIONS)) == by_pandas[0]
    assert strace_stats.kahan_sum(np.array(DURATIONS)) != math.fsum(DURATIONS)


def _calls(rows: int, seed: int, runs: bool = False) -> pa.Table:
    """Calls of made-up durations in microseconds (whose means often end on a rounding tie);
    with `runs`, each thread's calls in one run of rows and every duration known."""
    rng = np.random.default_rng(seed)
    micros = rng.choice([3, 5, 8, 11, 13, 16, 17, 40, 1200], size=rows)
    duration = micros / 1e6
    if not runs:
        duration[rng.random(rows) < 0.05] = np.nan
    tids = rng.integers(1, 9, rows)
    names = np.array(["read", "write", "futex", "madvise", "close"])
    return pa.table(
        {
            "tid": np.sort(tids) if runs else tids,
            "syscall": np.full(rows, "read") if runs else names[rng.integers(0, len(names), rows)],
            "duration_s": pa.array(duration, from_pandas=True),
            "errno": pa.array(np.where(rng.random(rows) < 0.1, "EAGAIN", None)),
            "status": np.where(rng.random(rows) < 0.95, "complete", "in-flight"),
        }
    )


def _rounded(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, object]]:
    return [clean(row, digits=9) for row in frame[columns].to_dict(orient="records")]


def test_grouped_statistics_equal_pandas_after_rounding() -> None:
    figures = ["calls", "errors", "total_s", "min_s", "avg_s", "p50_s", "p95_s", "p99_s", "max_s"]
    for seed in range(6):
        calls = _calls(20_000, seed, runs=seed >= 4)
        ours = strace_grouped.grouped(
            calls, ["tid", "syscall"], "status = 'complete'", (0.5, 0.95, 0.99), mean=True
        )
        frame = calls.filter(pa.compute.equal(calls["status"], "complete")).to_pandas()
        frame["error"] = frame["errno"].notna()
        grouped = frame.groupby(["tid", "syscall"], sort=False)
        size = grouped.size()
        levels = grouped["duration_s"].quantile([0.5, 0.95, 0.99]).unstack().reindex(size.index)
        theirs = pd.DataFrame(
            {
                "calls": size,
                "errors": grouped["error"].sum(),
                "total_s": grouped["duration_s"].sum(min_count=1),
                "min_s": grouped["duration_s"].min(),
                "avg_s": grouped["duration_s"].mean(),
                "p50_s": levels[0.5],
                "p95_s": levels[0.95],
                "p99_s": levels[0.99],
                "max_s": grouped["duration_s"].max(),
            }
        ).reset_index()
        assert (
            ours[["tid", "syscall"]].values.tolist() == theirs[["tid", "syscall"]].values.tolist()
        )
        assert _rounded(ours, figures) == _rounded(theirs, figures)


TIES = {
    "interleaved": [9, 28, 29, 33, 5, 15, 9, 47, 7, 52, 16, 22, 23, 32, 25, 37],
    "runs": [50, 27, 7, 55, 56, 7, 37, 50, 48, 27, 52, 50, 11, 5, 10, 25],
}
"""Made-up durations in microseconds (found by search, not captured): 16 calls whose mean
lies on a rounding tie at the nanosecond, rounded one way after pandas' sum (Kahan's for the
first, `np.add.reduceat` for the second when its calls are one run of rows) and the other way
after a correctly rounded sum."""


def tie_calls(layout: str, micros: list[int], other_syscall: str = "read") -> pa.Table:
    """Calls of thread 1 with the durations `micros`, beside calls of thread 2 (syscall
    `other_syscall`): one run of rows then one call of thread 2, or interleaved one by one."""
    tie = np.array(micros) / 1e6
    if layout == "interleaved":
        tids = [1, 2] * len(micros)
        durations = [v for value in tie for v in (value, 1e-6)]
    else:
        tids = [1] * len(micros) + [2]
        durations = [*tie, 1e-6]
    return pa.table(
        {
            "tid": tids,
            "syscall": ["read" if tid == 1 else other_syscall for tid in tids],
            "duration_s": durations,
            "errno": pa.nulls(len(tids), pa.string()),
            "status": ["complete"] * len(tids),
        }
    )


def test_a_mean_on_a_rounding_tie_rounds_as_pandas_rounded_it() -> None:
    for layout, micros in TIES.items():
        tie = np.array(micros) / 1e6
        calls = tie_calls(layout, micros)
        ours = strace_grouped.grouped(calls, ["tid"], "status = 'complete'", mean=True)
        frame = calls.to_pandas().groupby("tid", sort=False)["duration_s"]
        assert math.fsum(tie) / len(tie) != frame.mean()[1]
        assert clean(float(ours["avg_s"][0]), digits=9) == clean(frame.mean()[1], digits=9)
        assert clean(float(ours["total_s"][0]), digits=9) == clean(frame.sum()[1], digits=9)


def test_quantiles_are_pandas_own_to_the_last_bit() -> None:
    """The quantiles are read off the engine's counts of each (group, duration) and
    interpolated as pandas interpolates: equal to pandas' groupby quantile exactly, for
    durations of any precision (made up, not captured)."""
    rng = np.random.default_rng(7)
    rows = 5000
    micros = rng.choice([3, 5, 8, 11, 1200], size=rows) / 1e6
    duration = np.where(rng.random(rows) < 0.5, micros, rng.random(rows) / 7.0)
    duration[rng.random(rows) < 0.05] = np.nan
    calls = pa.table(
        {
            "tid": rng.integers(1, 30, rows),
            "duration_s": pa.array(duration, from_pandas=True),
            "errno": pa.nulls(rows, pa.string()),
            "status": ["complete"] * rows,
        }
    )
    quantiles = (0.5, 0.95, 0.99)
    ours = strace_grouped.grouped(calls, ["tid"], "status = 'complete'", quantiles)
    grouped = calls.to_pandas().groupby("tid", sort=False)["duration_s"]
    levels = grouped.quantile(list(quantiles)).unstack()
    for q, name in zip(quantiles, ("p50_s", "p95_s", "p99_s"), strict=True):
        theirs = levels[q].reindex(ours["tid"]).to_numpy()
        assert np.array_equal(ours[name].to_numpy(), theirs, equal_nan=True)


def test_only_the_groups_shown_come_back_with_the_quantiles_they_had() -> None:
    """With `top`, the groups of the largest totals (and any within a few units in the last
    place of the last of them) come back, with the figures they have without `top`; the
    others stay in the engine."""
    calls = _calls(20_000, 3)
    args = (calls, ["tid", "syscall"], "status = 'complete'", (0.5, 0.95))
    every = strace_grouped.grouped(*args, mean=True)
    some = strace_grouped.grouped(*args, mean=True, top=5)
    assert 5 <= len(some) < len(every) // 2
    largest = every.sort_values("total_s", ascending=False).head(5)
    keys = ["tid", "syscall"]
    assert set(map(tuple, largest[keys].values.tolist())) <= set(
        map(tuple, some[keys].values.tolist())
    )
    merged = some.merge(every, on=keys, suffixes=("", "_every"))
    assert len(merged) == len(some)
    for name in ("calls", "total_s", "avg_s", "p50_s", "p95_s", "max_s"):
        assert merged[name].tolist() == merged[f"{name}_every"].tolist()
    # in the order of their first call, as every group is
    order = [tuple(row) for row in every[keys].values.tolist()]
    assert sorted(map(tuple, some[keys].values.tolist()), key=order.index) == list(
        map(tuple, some[keys].values.tolist())
    )


def test_pairwise_sum_of_a_stream_is_numpys_sum_of_the_whole() -> None:
    """`pairwise_sum` over arrays of any lengths, in slices of any size, gives
    ``np.add.reduceat`` of their concatenation to the last bit (made-up durations)."""
    rng = np.random.default_rng(11)
    for size in [*range(1, 300), 1000, 4099, 70_001]:
        values = rng.integers(1, 10**6, size) / 1e6 * rng.choice([1e-3, 1.0, 1e3], size)
        chunks = np.split(values, np.sort(rng.integers(0, size, rng.integers(0, 5))))
        for block in (128, 136, 1000):
            got = strace_stats.pairwise_sum(iter(chunks), size, block)
            assert got == float(np.add.reduceat(values, [0])[0]), (size, block)


class _Counting:
    """What a session's statements bring back whole: the rows of each result."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def session(self, original: Any) -> Any:
        def session(work: Any, *args: Any, **tables: Any) -> Any:
            def counted(ask: Any) -> Any:
                return work(_CountingAsk(ask, self.rows))

            return original(counted, *args, **tables)

        return session


class _CountingAsk:
    def __init__(self, ask: Any, rows: list[int]) -> None:
        self._ask = ask
        self._rows = rows

    def __call__(self, sql: str) -> pa.Table:
        result = self._ask(sql)
        self._rows.append(result.num_rows)
        return result


def test_fragile_groups_are_summed_as_pandas_without_coming_back_whole(monkeypatch: Any) -> None:
    """Every group made fragile (any value counts as near a tie): their totals and means are
    pandas' own to the last bit, interleaved (Kahan) or in runs (`np.add.reduceat`), read
    back from the engine in batches of a few rows: no result of as many rows as a group's
    calls comes back whole (it did: a syscall of 100M lines was 1 GiB)."""
    from analyzer import engine

    monkeypatch.setattr(strace_stats, "ULPS", 10**15)
    monkeypatch.setattr(strace_stats, "BATCH", 1000, raising=False)
    monkeypatch.setattr(strace_stats, "BLOCK", 200, raising=False)
    counting = _Counting()
    monkeypatch.setattr(engine, "session", counting.session(engine.session))
    for seed, runs in ((0, False), (1, True)):
        calls = _calls(30_000, seed, runs=runs)
        keys = ["tid"]
        ours = strace_grouped.grouped(calls, keys, "status = 'complete'", (0.5,), mean=True)
        frame = calls.filter(pa.compute.equal(calls["status"], "complete")).to_pandas()
        grouped = frame.groupby(keys, sort=False)["duration_s"]
        assert ours["total_s"].tolist() == grouped.sum(min_count=1).tolist()
        assert ours["avg_s"].tolist() == grouped.mean().tolist()
        assert ours["p50_s"].tolist() == grouped.quantile(0.5).tolist()
        assert min(ours["calls"]) > 3000
        assert 0 < max(counting.rows) < 1000, counting.rows


def _untimed_calls(rows: int, seed: int, timed: int) -> pa.Table:
    """Calls of a trace without ``-T`` (no durations) to many targets, a few of them (`timed`
    calls) with a duration; made up, with many targets of equal counts."""
    rng = np.random.default_rng(seed)
    names = np.array([f"socket:[{n}]" for n in range(rows // 4)] + ["/a", "/b", "é", "Z"])
    target = names[rng.integers(0, len(names), rows)].astype(object)
    target[rng.random(rows) < 0.05] = None
    duration = np.full(rows, np.nan)
    duration[rng.choice(rows, timed, replace=False)] = rng.integers(1, 50, timed) / 1e6
    return pa.table(
        {
            "tid": rng.integers(1, 5, rows),
            "syscall": np.array(["read", "write", "close"])[rng.integers(0, 3, rows)],
            "target": pa.array(target, pa.string()),
            "target_kind": np.where(rng.random(rows) < 0.5, "socket", "file"),
            "duration_s": pa.array(duration, from_pandas=True),
            "errno": pa.nulls(rows, pa.string()),
            "status": ["complete"] * rows,
        }
    )


def test_without_durations_only_the_groups_shown_come_back() -> None:
    """When fewer groups than a report shows have a duration (a trace without ``-T``), the
    others come back by calls, then keys: the report's targets and latency rows are those of
    every group, and no more than it shows come back (every target came back: a million)."""
    from analyzer.sections import strace

    for seed, timed in ((0, 0), (1, 12)):
        calls = _untimed_calls(8000, seed, timed)
        theirs = (
            strace.target_summary(strace_grouped.target_frame(calls, None), calls, 20),
            strace.latency_by_target(strace_grouped.latency_frame(calls, None), 30),
        )
        by_target = strace_grouped.target_frame(calls, 20)
        by_latency = strace_grouped.latency_frame(calls, 30)
        sizes = [len(by_target), len(by_latency)]
        ours = (
            strace.target_summary(by_target, calls, 20),
            strace.latency_by_target(by_latency, 30),
        )
        assert ours == theirs
        assert len(ours[0]) == 20 and len(ours[1]) == 30
        assert sizes[0] <= 20 + timed and sizes[1] <= 30 + timed, sizes


def _strace_run(path: Path) -> tuple[list[Any], dict[str, Any]]:
    from analyzer import pipeline
    from analyzer.config import Config

    inputs = pipeline.parse_inputs([path], Config())
    return inputs, pipeline.derive(inputs, Config())


@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_coded_calls_give_the_sections_of_the_texts(monkeypatch: Any, path: Path) -> None:
    """The strace sections over calls whose syscalls and targets are coded (`coded`, every
    trace up to `CODED_CALLS`) equal those over the texts (beyond it), on every strace
    capture."""
    from analyzer.sections import strace

    inputs, derived = _strace_run(path)
    ours = strace.section(inputs, derived["strace"])
    monkeypatch.setattr(strace_stats, "CODED_CALLS", -1)
    assert strace_stats.coded(derived["strace"].tables["syscalls"], strace.CODED).texts == {}
    assert strace.section(inputs, derived["strace"]) == ours


def test_codes_order_and_group_as_the_texts_do() -> None:
    """Made-up calls of targets whose byte order is not their first-seen order (``é`` after
    ``Z``, missing targets, ties in calls): every summary of the coded calls is that of the
    texts, for targets with and without durations."""
    from analyzer.sections import strace

    for seed, timed in ((0, 0), (1, 12), (2, 8000)):
        calls = _untimed_calls(8000, seed, timed)
        coded = strace_stats.coded(calls, strace.CODED)
        assert set(coded.texts) == {"syscall", "target"}
        assert pa.types.is_integer(coded.table["target"].type)
        tasks = pa.table({"tid": [1, 2, 3, 4], "pid": [1, 1, 1, 1], "comm": ["a", "b", "c", "d"]})
        ours = strace_grouped.summaries_alone(coded, tasks, targets=20, latency=30)
        theirs = strace_grouped.summaries_alone(calls, tasks, targets=20, latency=30)
        for name in ("syscalls", "targets", "latency", "threads"):
            assert ours[name] == theirs[name], name
