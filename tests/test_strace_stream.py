"""The strace derivation window by window equals the derivation of the whole trace in one
window: calls paired across window boundaries, the fd tables replayed on, the same tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyzer import store
from analyzer.derive.strace import StraceTables, derive_trace, stream_input, trace_tables
from analyzer.derive.strace_stream import StreamOptions, TraceStream
from analyzer.formats.strace import ParsedLines
from analyzer.inputs import iter_line_chunks, open_input
from tests.strace_traces import FIXTURES, parsed_in_small_chunks

TRACES = sorted((FIXTURES / "strace").rglob("*.log")) + sorted(
    (FIXTURES / "diagnosis" / "logs").glob("*.f_tt*_T.log")
)
TRACES = [path for path in TRACES if path.stat().st_size < 4_000_000]


def tables_of(trace: StraceTables) -> dict[str, pa.Table]:
    return {
        "syscalls": trace.syscalls,
        "wait_fds": trace.wait_fds,
        "signals": trace.signals,
        "exits": trace.exits,
        "tasks": trace.tasks,
    }


def spilled(path: Path, work: Path, options: StreamOptions, keep: bool = True) -> ParsedLines:
    """`path` read as the command reads it (16 KiB chunks) and derived with `options` in the
    work directory `work`."""
    source = open_input(path)
    try:
        with store.work_dir(work, keep=keep):
            return stream_input(
                iter_line_chunks(source.stream, chunk_bytes=1 << 14), str(path), options=options
            )
    finally:
        source.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_tiny_windows_give_the_tables_of_one_window(path: Path) -> None:
    parsed = parsed_in_small_chunks(path)
    whole = derive_trace(str(path), parsed)
    windowed = derive_trace(str(path), parsed, StreamOptions(window_lines=5, lookahead_lines=16))
    for name, table in tables_of(whole).items():
        assert tables_of(windowed)[name].equals(table), name
    assert (windowed.first_s, windowed.last_s, windowed.clock) == (
        whole.first_s,
        whole.last_s,
        whole.clock,
    )
    assert (windowed.has_durations, windowed.follows_forks) == (
        whole.has_durations,
        whole.follows_forks,
    )


@pytest.mark.parametrize(
    "name", ["mt_pipes.f_tt_T.stderr.log", "pool8.f_tt_T.log", "signals.f_tt_T.log"]
)
def test_steps_of_a_window_give_the_tables_of_one_window(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window derived a few lines at a time equals it derived at once, even when the first
    step cannot tell the default task: the stderr capture prints no pid before line 522, so
    the stream derives again from the start once it has read the window (`_check_start`)."""
    path = FIXTURES / "strace" / "logs" / name
    parsed = parsed_in_small_chunks(path)
    whole = derive_trace(str(path), parsed)
    restarts: list[int] = []
    real_reset = TraceStream._reset

    def reset(self: TraceStream) -> None:
        restarts.append(self.facts.windows if hasattr(self, "facts") else -1)
        real_reset(self)

    monkeypatch.setattr(TraceStream, "_reset", reset)
    stream = TraceStream(str(path), options=StreamOptions(lookahead_lines=16, step_lines=7))
    for start in range(0, parsed.lines.num_rows, 10):  # as the parser hands chunks over
        stream.feed(parsed.lines.slice(start, 10))
    stream.finish()
    stepped = trace_tables(stream)
    for table_name, table in tables_of(whole).items():
        assert tables_of(stepped)[table_name].equals(table), table_name
    assert (stepped.first_s, stepped.last_s, stepped.clock, stepped.follows_forks) == (
        whole.first_s,
        whole.last_s,
        whole.clock,
        whole.follows_forks,
    )
    derived_again = len(restarts) > 1
    assert derived_again == name.endswith(".stderr.log")


def test_a_spilled_trace_derived_again_from_the_start_equals_one_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stderr capture in windows of 500 lines spilled to Parquet: the first step sees no
    pid, the first window does, so the stream derives again before anything is written."""
    path = FIXTURES / "strace" / "logs" / "mt_pipes.f_tt_T.stderr.log"
    whole = derive_trace(str(path), parsed_in_small_chunks(path))
    restarts: list[bool] = []
    real_check = TraceStream._check_start

    def check(self: TraceStream) -> bool:
        restarts.append(real_check(self))
        return restarts[-1]

    monkeypatch.setattr(TraceStream, "_check_start", check)
    options = StreamOptions(window_lines=500, lookahead_lines=16, step_lines=7)
    parsed = spilled(path, tmp_path / "work", options)
    assert restarts == [True]
    assert parsed.trace is not None
    for name, table in tables_of(whole).items():
        assert tables_of(parsed.trace)[name].equals(table), name
    parts = sorted((tmp_path / "work").glob("*/syscalls/part-*.parquet"))
    assert sum(pq.read_metadata(part).num_rows for part in parts) == whole.syscalls.num_rows


def test_calls_are_paired_across_window_boundaries() -> None:
    """Without look-ahead, the halves of the pool's blocked calls fall in different windows:
    the unfinished calls are carried until they resume, and pair as in one window."""
    path = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"
    parsed = parsed_in_small_chunks(path)
    whole = derive_trace(str(path), parsed)
    stream = TraceStream(str(path), options=StreamOptions(window_lines=5, lookahead_lines=0))
    stream.feed(parsed.lines)
    stream.finish()
    assert stream.facts.windows > 100
    assert stream.facts.carried_peak > 1
    windowed = trace_tables(stream)
    assert windowed.syscalls.equals(whole.syscalls)
    assert windowed.wait_fds.equals(whole.wait_fds)


def test_a_trace_of_several_windows_is_spilled_to_parquet_and_read_back(tmp_path: Path) -> None:
    """Within a run, each window's tables go to the work directory as Parquet; the trace read
    back in call order equals the one-window derivation, and the files stay when kept."""
    path = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"
    whole = derive_trace(str(path), parsed_in_small_chunks(path))
    parsed = spilled(path, tmp_path / "work", StreamOptions(window_lines=500, lookahead_lines=16))
    assert parsed.trace is not None
    for name, table in tables_of(whole).items():
        assert tables_of(parsed.trace)[name].equals(table), name
    parts = sorted((tmp_path / "work").glob("*/syscalls/part-*.parquet"))
    assert len(parts) > 3
    assert sum(pq.read_metadata(part).num_rows for part in parts) == whole.syscalls.num_rows


def test_a_named_work_dir_keeps_what_it_held_and_loses_what_the_run_wrote(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("the user's")
    with store.work_dir(tmp_path) as directory:
        spilled = directory.folder("trace.log")
        (spilled / "part.parquet").write_bytes(b"x")
    assert not spilled.exists()
    assert mine.read_text() == "the user's"
    with store.work_dir(tmp_path, keep=True) as directory:
        kept = directory.folder("trace.log")
    assert kept.exists()


def test_spilled_windows_are_merged_into_key_order_a_few_row_groups_at_a_time(
    tmp_path: Path,
) -> None:
    """Rows carried to a later window are put back in place: the merged file equals a stable
    sort of all the windows' rows, whatever the row groups and batches."""
    sink = store.ParquetSink(tmp_path)
    sink.row_group_rows = 3
    windows = [[0, 1, 3, 4, 6], [2, 5, 7, 8, 9, 10, 12], [11, 13, 5, 14]]
    for number, keys in enumerate(windows):
        sink.write("t", pa.table({"row": keys, "window": [number] * len(keys)}))
    target = tmp_path / "t.arrow"
    sink.write_sorted("t", "row", target, lambda t: t.drop_columns(["row"]), batch_rows=4)
    merged = store.map_table(target)
    everything = pa.concat_tables(pq.read_table(file) for file in sink.files("t"))
    expected = everything.take(pa.compute.sort_indices(everything["row"]))
    assert merged.column_names == ["window"]
    assert merged["window"].to_pylist() == expected["window"].to_pylist()
    assert merged.num_rows == sum(len(keys) for keys in windows)


def test_a_spilled_trace_gives_the_heap_back_once_a_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Arrow on malloc, steps derived beside the scan threads left the C heap in pieces
    (the scan of 30M lines grew from 756 to 978 MiB, a 100M-line run peaked at 1,959 MiB): a
    spilled trace gives it back once per window derived; one held in memory never pays."""
    from analyzer.derive import strace_stream

    path = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"
    given: list[str] = []
    monkeypatch.setattr(strace_stream, "give_back_free_memory", lambda: given.append("window"))
    options = StreamOptions(window_lines=500, lookahead_lines=16, step_lines=100)
    lines = sum(1 for _ in path.open(encoding="utf-8", errors="replace"))
    spilled(path, tmp_path / "work", options, keep=False)
    assert lines > 1500
    assert len(given) == (lines - 1) // 500
    given.clear()
    stream = TraceStream(str(path), options=StreamOptions(lookahead_lines=16, step_lines=7))
    stream.feed(parsed_in_small_chunks(path).lines)
    stream.finish()
    assert given == []


def test_the_merge_gives_the_heap_back_every_few_key_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[int] = []
    monkeypatch.setattr(store, "give_back_free_memory", lambda: given.append(1))
    monkeypatch.setattr(store, "TRIM_RANGES", 2)
    sink = store.ParquetSink(tmp_path)
    sink.row_group_rows = 3
    sink.write("t", pa.table({"row": list(range(20))}))
    target = tmp_path / "t.arrow"
    sink.write_sorted("t", "row", target, lambda t: t, batch_rows=2)  # 10 key ranges
    assert len(given) == 4  # before the 3rd, 5th, 7th and 9th range
    assert store.map_table(target)["row"].to_pylist() == list(range(20))
