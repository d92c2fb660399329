"""The thread timeline read a few calls at a time is the timeline of the whole table.

`strace_timeline.timeline` reads a long trace's calls a slice at a time (three times) so
that it never holds whole-trace arrays; every sum is made in call order, so the result must
not depend on the slice size: same lanes, same seconds to the last bit, same dominant states
and resources. Checked on real captures of several shapes (many threads, futex convoys,
unfinished/resumed pairs, in-flight calls at the end).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyzer.config import Config
from analyzer.derive.strace_timeline import Timeline, timeline
from analyzer.pipeline import analyze

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "fixtures" / "strace" / "logs"
TRACES = [
    *sorted(LOGS.glob("*.log")),
    *sorted((ROOT / "fixtures" / "incidents").glob("*/strace*.log*")),
]


def assert_same(sliced: Timeline | None, whole: Timeline | None) -> None:
    assert (sliced is None) == (whole is None)
    if sliced is None or whole is None:
        return
    assert sliced.input == whole.input
    assert (sliced.start_s, sliced.bucket_s, sliced.threads, sliced.collapsed) == (
        whole.start_s,
        whole.bucket_s,
        whole.threads,
        whole.collapsed,
    )
    assert sliced.lanes == whole.lanes
    assert np.array_equal(sliced.seconds, whole.seconds)
    assert np.array_equal(sliced.state, whole.state)
    assert np.array_equal(sliced.share, whole.share)
    assert sliced.resource == whole.resource


@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_a_timeline_read_in_slices_is_the_whole_tables(path: Path) -> None:
    tables = analyze(path, Config(threads=1)).tables
    calls, tasks = tables["syscalls"], tables.get("tasks")
    for input_name in sorted(set(calls["input"].to_pylist())):
        mine = calls.filter(calls["input"].to_numpy(zero_copy_only=False) == input_name)
        theirs = (
            None
            if tasks is None
            else tasks.filter(tasks["input"].to_numpy(zero_copy_only=False) == input_name)
        )
        whole = timeline(mine, theirs, buckets=60, lanes=6, rows_per_slice=1 << 30)
        for size in (1, 3, 17):
            sliced = timeline(mine, theirs, buckets=60, lanes=6, rows_per_slice=size)
            assert_same(sliced, whole)


def test_there_are_traces_with_a_timeline() -> None:
    drawn = 0
    for path in TRACES[:10]:
        calls = analyze(path, Config(threads=1)).tables["syscalls"]
        drawn += timeline(calls, rows_per_slice=5) is not None
    assert drawn >= 3
