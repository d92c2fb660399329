"""The strace parser reads and parses chunks ahead of its caller (`WindowedParse`), a bounded
number of them, in input order, so the workers parse while the caller derives a window; and
the derived windows are spilled to Parquet by a thread of their own (`strace_stream._Spill`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from analyzer import store
from analyzer.derive.strace import derive_trace, stream_input
from analyzer.derive.strace_calls import LineView
from analyzer.derive.strace_stream import StreamOptions
from analyzer.formats import strace
from analyzer.inputs import LineChunk, iter_line_chunks, open_input
from tests.strace_traces import FIXTURES, parsed_in_small_chunks

TRACE = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"


def chunks_of(path: Path, chunk_bytes: int) -> Iterator[LineChunk]:
    opened = open_input(path)
    try:
        yield from iter_line_chunks(opened.stream, chunk_bytes=chunk_bytes)
    finally:
        opened.close()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_chunks_parsed_ahead_give_the_lines_of_one_chunk(threads: int) -> None:
    one = strace.parse(chunks_of(TRACE, 1 << 30), str(TRACE), threads=1)
    many = strace.parse(chunks_of(TRACE, 2048), str(TRACE), threads=threads)
    assert many.line_count == one.line_count > 1000
    assert many.lines.equals(one.lines)
    assert many.unparsed.equals(one.unparsed)
    assert many.non_utf8_lines == one.non_utf8_lines


def test_the_workers_parse_ahead_of_a_busy_caller_and_no_further() -> None:
    read: list[int] = []

    def counted() -> Iterator[LineChunk]:
        for chunk in chunks_of(TRACE, 1024):
            read.append(chunk.first_line_no)
            yield chunk

    windows = strace.WindowedParse(counted(), str(TRACE), threads=2, window_lines=1)
    tables = iter(windows)
    first = next(tables)
    assert first.num_rows
    # The caller holds its first window (deriving it), for which it took two parsed chunks:
    # the reader fills every slot (one per worker and READ_AHEAD) again, then reads one more
    # chunk and waits for a slot.
    expected = (2 + strace.READ_AHEAD) + 2 + 1
    deadline = time.monotonic() + 60
    while len(read) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(read) == expected
    rest = list(tables)
    assert sum(table.num_rows for table in [first, *rest]) > 0
    assert windows.line_count == strace.parse(chunks_of(TRACE, 1 << 30), "x").line_count


def test_a_reading_error_reaches_the_caller() -> None:
    def broken() -> Iterator[LineChunk]:
        yield from list(chunks_of(TRACE, 1024))[:5]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(strace.WindowedParse(broken(), str(TRACE), threads=2))


def test_a_caller_that_stops_early_stops_the_reader() -> None:
    before = threading.active_count()
    tables = iter(strace.WindowedParse(chunks_of(TRACE, 1024), str(TRACE), threads=2))
    next(tables)
    tables.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name == "strace-reader"]
    assert threading.active_count() == before


def test_windows_are_spilled_by_a_thread_of_their_own_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Parquet files of a trace of several windows are written off the deriving thread,
    each window's before the next window is derived, and all of them by `finish`."""
    whole = derive_trace(str(TRACE), parsed_in_small_chunks(TRACE))
    writers: list[tuple[str, str, int]] = []
    windows: list[int] = []
    real_write = store.ParquetSink.write
    real_build = LineView.build

    def write(self: store.ParquetSink, name: str, table: pa.Table) -> None:
        time.sleep(0.002)  # a slow disk: a write not waited for would be seen late
        real_write(self, name, table)
        writers.append((threading.current_thread().name, name, len(windows)))

    def build(table: pa.Table, default_tid: int, clock_ns: object = None) -> LineView:
        # A window's derivation starts: every write of the windows before it is done.
        assert len(writers) == 4 * len(windows)
        windows.append(table.num_rows)
        return real_build(table, default_tid, clock_ns)  # type: ignore[arg-type]

    monkeypatch.setattr(store.ParquetSink, "write", write)
    monkeypatch.setattr(LineView, "build", build)
    source = open_input(TRACE)
    try:
        with store.work_dir(tmp_path / "work"):
            parsed = stream_input(
                iter_line_chunks(source.stream, chunk_bytes=1 << 14),
                str(TRACE),
                options=StreamOptions(window_lines=500, lookahead_lines=16),
            )
            assert parsed.trace is not None
            assert parsed.trace.syscalls.equals(whole.syscalls)
            assert parsed.trace.wait_fds.equals(whole.wait_fds)
    finally:
        source.close()
    assert len(windows) > 3
    assert len(writers) == 4 * len(windows)
    assert {thread for thread, _, _ in writers} != {threading.current_thread().name}
    assert all(thread.startswith("strace-spill") for thread, _, _ in writers)
    # Each window's four tables, in the order they were made, window after window.
    assert [name for _, name, _ in writers[:4]] == ["syscalls", "wait_fds", "signals", "exits"]
    assert [window for _, _, window in writers] == sorted(window for _, _, window in writers)
