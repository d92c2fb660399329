"""The summaries `section` makes of two shared scans (`strace_stats.grouped_views`) equal those
made of each summary's own query of the calls (`tests.strace_grouped`): per syscall and per
thread from one scan by (tid, syscall), targets and latency from one by (syscall, target)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from analyzer.clean import clean
from analyzer.sections import strace, strace_stats
from tests.strace_grouped import summaries_alone
from tests.strace_traces import TRACES

TASKS = pa.table({"tid": [1, 2, 3, 4], "pid": [1, 1, 1, 2], "comm": ["a", "b", "c", "d"]})


def _calls(rows: int, seed: int, timed: float) -> pa.Table:
    """Made-up calls (not captured): interleaved threads, syscalls and targets (a few
    missing, many of equal counts), microsecond durations for a share `timed` of them (some
    NaN), errors, calls that did not return; a target's kind varies from call to call, so
    its first call decides it."""
    rng = np.random.default_rng(seed)
    names = np.array([f"socket:[{n}]" for n in range(rows // 8)] + ["/a", "/b", "é", "Z"])
    target = names[rng.integers(0, len(names), rows)].astype(object)
    target[rng.random(rows) < 0.05] = None
    duration = rng.choice([3, 5, 8, 11, 13, 16, 17, 40, 1200], size=rows) / 1e6
    duration[rng.random(rows) >= timed] = np.nan
    tid = pa.array(rng.integers(1, 5, rows), pa.int64())
    tid = pa.compute.if_else(pa.array(rng.random(rows) < 0.02), pa.scalar(None, pa.int64()), tid)
    return pa.table(
        {
            "tid": tid,
            "syscall": np.array(["read", "write", "close", "futex"])[rng.integers(0, 4, rows)],
            "target": pa.array(target, pa.string()),
            "target_kind": np.where(rng.random(rows) < 0.5, "socket", "file"),
            "duration_s": pa.array(duration, from_pandas=True),
            "errno": pa.array(np.where(rng.random(rows) < 0.1, "EAGAIN", None)),
            "status": np.where(rng.random(rows) < 0.95, "complete", "in-flight"),
        }
    )


def _shared(calls: pa.Table | strace_stats.Coded) -> dict[str, Any]:
    per_syscall, per_thread = strace._by_syscall_and_thread(calls)
    by_target, by_latency = strace._by_target_and_latency(calls, 20, 30)
    return {
        "syscalls": strace.syscall_summary(per_syscall),
        "threads": strace.per_thread_summary(per_thread, TASKS),
        "targets": strace.target_summary(by_target, calls, 20),
        "latency": strace.latency_by_target(by_latency, 30),
    }


def _alone(calls: pa.Table | strace_stats.Coded) -> dict[str, Any]:
    return summaries_alone(calls, TASKS, targets=20, latency=30)


@pytest.mark.parametrize("timed", [1.0, 0.9, 0.001])
@pytest.mark.parametrize("seed", [0, 1])
def test_shared_scans_give_each_summarys_own(seed: int, timed: float) -> None:
    calls = _calls(6000, seed, timed)
    coded = strace_stats.coded(calls, strace.CODED)
    for table in (calls, coded):
        ours = _shared(table)
        assert all(ours.values())
        assert ours == _alone(table)


@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_shared_scans_give_each_summarys_own_on_every_capture(path: Path) -> None:
    from analyzer import pipeline
    from analyzer.config import Config

    inputs = pipeline.parse_inputs([path], Config())
    calls = pipeline.derive(inputs, Config())["strace"].tables["syscalls"]
    if strace._no_calls(calls):
        pytest.skip("no call returned")
    coded = strace_stats.coded(calls, strace.CODED)
    assert _shared(coded) == _alone(coded)


def test_a_rounding_tie_is_summed_as_pandas_summed_it_in_either_layout() -> None:
    """Made-up durations whose mean lies on a rounding tie (`TIES`): per syscall and per
    thread from the shared scan round as pandas rounded them, whether each group's calls are
    one run of rows (pandas' pairwise sum) or interleave (Kahan's)."""
    from tests.test_strace_stats import TIES, tie_calls

    # the durations found for runs, interleaved too: there Kahan's sum and numpy's differ
    for layout, micros in [*TIES.items(), ("interleaved", TIES["runs"])]:
        calls = tie_calls(layout, micros, other_syscall="write")
        frame = calls.to_pandas().groupby("tid", sort=False)["duration_s"]
        for ours in strace._by_syscall_and_thread(calls):
            assert clean(float(ours["avg_s"][0]), digits=9) == clean(frame.mean()[1], digits=9)
            assert clean(float(ours["total_s"][0]), digits=9) == clean(frame.sum()[1], digits=9)
