"""The derivation's speed-ups against the computations they replace: the sort-grouped
chunk-wise gather, the calls' argument texts gathered from one concatenated array, the fd
tables replayed from the fd-changing calls alone (built beside the other columns), the
slimmed lines the report keeps, and the pipeline's report built beside the passes. Lines
written here by hand are marked as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from strace_traces import FIXTURES, TRACES, parsed_in_small_chunks

from analyzer import pipeline
from analyzer.derive import strace_calls, strace_fds
from analyzer.formats import strace
from analyzer.render.jsonout import dumps


@pytest.mark.parametrize("seed", range(20))
def test_take_chunked_equals_take_on_random_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 6, size=rng.integers(1, 9))
    chunks = [
        pa.array([None if rng.random() < 0.2 else f"v{i}" for i in range(int(size))], pa.string())
        for size in sizes
    ]
    values = pa.chunked_array(chunks, pa.string())
    total = int(sizes.sum())
    rows = rng.integers(-1, max(total, 1), size=rng.integers(0, 30)) if total else np.full(4, -1)
    rows = rows.astype(np.int64)
    expected = strace_calls.take(values.combine_chunks(), rows)
    assert strace_calls.take_chunked(values, rows).equals(expected)


def _call_args_as_it_was(
    table: pa.Table, entry: np.ndarray, exit_: np.ndarray, split: np.ndarray
) -> pa.Array:
    """Entry half's text, entry + exit for split calls, "" for a missing half (row by row)."""
    args = table["args"].to_pylist()
    out = []
    for first, last, both in zip(entry.tolist(), exit_.tolist(), split.tolist(), strict=True):
        head = (args[first] or "") if first >= 0 else ""
        out.append(head + ((args[last] or "") if both else ""))
    return pa.array(out, pa.string())


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_call_args_equal_the_row_by_row_texts(path: Path) -> None:
    lines = parsed_in_small_chunks(path).lines
    view = strace_calls.LineView.build(lines, 0)
    calls = strace_calls.pair_halves(view, strace_calls.effective_tids(view))
    entry, exit_ = calls.entry, calls.exit
    split = (entry >= 0) & (exit_ >= 0) & (entry != exit_)
    got = strace_calls._call_args(lines, entry, exit_, split)
    assert got.equals(_call_args_as_it_was(lines, entry, exit_, split))
    # a few of the calls (every 7th): gathered chunk by chunk instead
    few = np.arange(0, len(entry), 7)
    got = strace_calls._call_args(lines, entry[few], exit_[few], split[few])
    assert got.equals(_call_args_as_it_was(lines, entry[few], exit_[few], split[few]))


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_replaying_the_fd_changing_calls_alone_gives_the_same_events(path: Path) -> None:
    lines = parsed_in_small_chunks(path).lines
    view = strace_calls.LineView.build(lines, 0)
    calls = strace_calls.pair_halves(view, strace_calls.effective_tids(view))
    exit_rows = np.flatnonzero(view.kind == strace_calls.EXIT)
    columns = strace_calls.build_calls(view, calls, exit_rows)
    codes = np.flatnonzero(strace_fds.changes_fds(view.syscall_names))
    changers = calls.select(np.isin(view.syscall_code[calls.first_rows()], codes))
    alone = strace_fds.replay_calls(strace_calls.build_calls(view, changers, exit_rows))
    every = strace_fds.replay_calls(columns)
    assert alone.task_table == every.task_table
    for name in ("table", "fd", "position", "order"):
        assert np.array_equal(getattr(alone, name), getattr(every, name)), name
    assert alone.target.equals(every.target)
    combined = {
        k: v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for k, v in columns.items()
    }
    resolved = strace_fds.resolve(columns, alone)
    assert resolved.keys() == strace_fds.resolve(combined).keys()
    for name, value in strace_fds.resolve(combined).items():
        assert resolved[name].equals(value), name


def test_for_report_keeps_what_the_report_reads() -> None:
    parsed = parsed_in_small_chunks(FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log")
    slim = parsed.for_report()
    assert slim.lines.column_names == list(strace.REPORT_COLUMNS)
    assert slim.lines.num_rows == parsed.lines.num_rows
    assert np.array_equal(slim.clock_ns, parsed.clock_ns, equal_nan=True)
    assert strace.input_report(slim) == strace.input_report(parsed)
    assert slim.unparsed.equals(parsed.unparsed)
    assert (slim.line_count, slim.non_utf8_lines) == (parsed.line_count, parsed.non_utf8_lines)


@pytest.mark.parametrize(
    "path",
    [FIXTURES / "strace" / "logs" / "pool8.f_tt_T_C_w.log", *TRACES[:3]],
    ids=lambda p: p.name,
)
def test_report_beside_the_passes_equals_the_serial_report(path: Path) -> None:
    threaded = pipeline.analyze(path, pipeline.Config(threads=2))
    serial = pipeline.analyze(path, pipeline.Config(threads=1))
    assert dumps(threaded.report) == dumps(serial.report)
    assert threaded.tables.keys() == serial.tables.keys()
    for name, table in threaded.tables.items():
        assert table.equals(serial.tables[name]), name


def test_slim_lines_still_give_the_summary_table_lines() -> None:
    """The `-C` table lines the report compares with are read from the slim lines."""
    parsed = parsed_in_small_chunks(FIXTURES / "strace" / "logs" / "pool8.f_tt_T_C_w.log")
    slim = parsed.for_report()
    kinds = pc.equal(parsed.lines["kind"], "summary")
    assert pc.sum(kinds).as_py() > 0
    assert slim.lines["text"].filter(kinds).equals(parsed.lines["text"].filter(kinds))
