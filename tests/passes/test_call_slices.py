"""The slice-by-slice strace passes give what a whole-trace computation gives, whatever the
slice size, and do not fall back to whole-trace arrays (issue 15 item 1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, STRACE_LOGS, hand_built, inputs_of

from analyzer.arrays import mapped_pages, take_rows
from analyzer.derive import strace_waits
from analyzer.derive.strace_waits import (
    _BOUND,
    _CONNECTED,
    resource_waits,
    server_side,
    waits_for_client,
)
from analyzer.passes import (
    PassConfig,
    PassInputs,
    call_slices,
    call_waits,
    data_limits,
    pipe_backpressure,
    sleep_retry,
    slow_storage,
    slow_syscall,
)
from analyzer.passes.call_slices import ResourceEncoder, exact_sum
from analyzer.passes.targets import (
    encode_resources,
    target_classes,
    trace_resources,
    with_paths,
)
from analyzer.schema import WAIT_FDS

TRACES = [
    *sorted(STRACE_LOGS.glob("*.log")),
    DIAGNOSIS_LOGS / "fsync_writer.f_tt_T.log",
    DIAGNOSIS_LOGS / "lock_convoy.f_tt_T.log",
    DIAGNOSIS_LOGS / "sqlite_writers.f_tt_T.log",
    DIAGNOSIS_LOGS / "asyncio_server.f_tt_T.log",
    ROOT / "fixtures" / "incidents" / "stderr_pipe_backpressure" / "strace.f_tt_T_yy.log.gz",
]
SLICES = (13, 200)


@pytest.fixture(scope="module")
def traces() -> dict[Path, PassInputs]:
    return {path: inputs_of(path) for path in TRACES}


def with_slices(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    monkeypatch.setattr(call_slices, "SLICE_ROWS", rows)


@pytest.mark.parametrize("rows", SLICES)
def test_resource_codes_slice_by_slice_equal_the_whole_trace_encoding(
    traces: dict[Path, PassInputs], monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    checked = 0
    for inputs in traces.values():
        for trace in inputs.traces:
            whole = encode_resources(with_paths(trace.syscalls))
            with_slices(monkeypatch, rows)
            sliced = trace_resources(trace)
            monkeypatch.undo()
            np.testing.assert_array_equal(sliced.codes, whole.codes)
            assert (sliced.names, sliced.classes) == (whole.names, whole.classes)
            checked += int((whole.codes >= 0).sum())
    assert checked > 100


def findings_by_slices(
    run: Callable[[PassInputs, PassConfig], list[Any]],
    inputs: PassInputs,
    monkeypatch: pytest.MonkeyPatch,
    config: PassConfig,
) -> Iterator[tuple[int, list[Any], list[Any]]]:
    whole = run(inputs, config)
    calls = sum(trace.syscalls.num_rows for trace in inputs.traces)
    for rows in SLICES if calls < 10_000 else (1000, 7000):
        with_slices(monkeypatch, rows)
        yield rows, whole, run(inputs, config)
        monkeypatch.undo()


SLICED_PASSES = (slow_syscall, sleep_retry, slow_storage, data_limits, pipe_backpressure)


@pytest.mark.parametrize("module", SLICED_PASSES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_findings_do_not_depend_on_the_slice_size(
    traces: dict[Path, PassInputs], monkeypatch: pytest.MonkeyPatch, module: Any
) -> None:
    config = PassConfig(slow_syscall_s=0.005, sleep_retry_min_s=0.01)
    found = 0
    for path, inputs in traces.items():
        for rows, whole, sliced in findings_by_slices(module.run, inputs, monkeypatch, config):
            assert sliced == whole, (path.name, rows)
            found += len(whole)
    assert found >= 1


SYSCALLS = ("read", "write", "recvfrom", "futex", "poll", "fsync", "openat", "munmap")
TARGETS = (None, "pipe:[11]", "pipe:[12]", "TCP:[1.2.3.4:5->6.7.8.9:80]", "/var/db", None)


@st.composite
def call_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 60))
    rows = []
    for index in range(count):
        target = draw(st.sampled_from(TARGETS))
        duration = draw(
            st.one_of(st.none(), st.sampled_from([0.0, 0.001, 0.02, 0.3, 2.0]), st.floats(0, 3))
        )
        start = index * 0.05 + draw(st.floats(0, 0.04))
        rows.append(
            {
                "syscall": draw(st.sampled_from(SYSCALLS)),
                "tid": draw(st.sampled_from([1, 2, 3])),
                "pid": 1,
                "fd": None if target is None else 3,
                "target": target,
                "target_kind": None if target is None else target.split(":")[0].lower(),
                "start_s": start,
                "duration_s": duration,
                "end_s": None if duration is None else start + duration,
                "status": "complete",
                "line_start": index + 1,
                "line_end": index + 1,
                "errno": draw(st.sampled_from([None, None, "EAGAIN"])),
            }
        )
    return rows


@settings(max_examples=80, deadline=None)
@given(
    rows=call_rows(),
    slice_rows=st.integers(1, 8),
    buckets=st.sampled_from([1, 2, 3]),
    share=st.sampled_from([0.05, 0.5]),
)
def test_slow_syscall_on_random_calls_equals_one_slice(
    rows: list[dict[str, Any]], slice_rows: int, buckets: int, share: float
) -> None:
    """Tiny slices, and few buckets (groups that share a bucket with a candidate)."""
    inputs = hand_built(rows, last_s=4.0)
    config = PassConfig(slow_syscall_s=0.01, slow_syscall_share=share)
    whole = slow_syscall.run(inputs, config)
    original = call_slices.SLICE_ROWS, slow_syscall.BUCKETS
    call_slices.SLICE_ROWS, slow_syscall.BUCKETS = slice_rows, buckets
    try:
        assert slow_syscall.run(inputs, config) == whole
    finally:
        call_slices.SLICE_ROWS, slow_syscall.BUCKETS = original


def test_slow_syscall_reads_durations_and_targets_a_slice_at_a_time(
    traces: dict[Path, PassInputs], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass that went back to whole-trace columns would call these on the whole table."""
    limit = 5
    inputs = traces[STRACE_LOGS / "pool8.f_tt_T.log"]
    # the few rows of the reported calls are read together: far fewer than the trace's
    few = inputs.traces[0].syscalls.num_rows // 10
    seen: list[int] = []

    def bounded(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(table: Any, *args: Any) -> Any:
            seen.append(table.num_rows)
            assert table.num_rows <= max(limit, few), function.__name__
            return function(table, *args)

        return wrapper

    with_slices(monkeypatch, limit)
    monkeypatch.setattr(slow_syscall, "call_durations", bounded(slow_syscall.call_durations))
    monkeypatch.setattr(slow_syscall, "with_paths", bounded(slow_syscall.with_paths))
    assert slow_syscall.run(inputs, PassConfig(slow_syscall_s=0.005))
    assert len([n for n in seen if n <= limit]) > 100


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=200),
    labels=st.data(),
)
def test_sum_of_a_group_alone_is_within_ulps_of_its_sum_among_others(
    values: list[float], labels: st.DataObject
) -> None:
    keys = labels.draw(st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values)))
    frame = pd.DataFrame({"key": keys, "value": values})
    sums = frame.groupby("key", sort=False)["value"].sum()
    for key, total in sums.items():
        alone = frame.loc[frame["key"] == key, "value"].to_numpy()
        # pandas' group sums depend a little on the other groups: 1-2 ULP, which the
        # report's rounding absorbs
        assert abs(exact_sum(alone) - total) <= 4 * np.spacing(total)
        # a large group's correctly rounded sum is as close
        original = call_slices.LARGE_GROUP
        call_slices.LARGE_GROUP = 0
        try:
            assert abs(exact_sum(alone) - total) <= 4 * np.spacing(total)
        finally:
            call_slices.LARGE_GROUP = original


def test_resource_encoder_numbers_resources_by_first_call() -> None:
    encoder = ResourceEncoder()
    first = encoder.encode(pa.array(["/b", None, "TCP:[1.1.1.1:1->2.2.2.2:80]"]))
    second = encoder.encode(pa.array(["TCP:[1.1.1.1:2->2.2.2.2:80]", "/a", "/b"]))
    assert first.tolist() == [0, -1, 1] and second.tolist() == [1, 2, 0]
    assert encoder.names == ["/b", "tcp 2.2.2.2:80", "/a"]
    assert encoder.classes == ["file", "tcp", "file"]


@st.composite
def retry_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Threads making calls on a few resources and short or long sleeps, merged by start
    time as strace writes them (sometimes shuffled: the whole-trace fallback)."""
    rows: list[dict[str, Any]] = []
    for tid in range(1, draw(st.integers(1, 4)) + 1):
        clock = draw(st.floats(0, 0.01))
        for _ in range(draw(st.integers(0, 25))):
            sleeping = draw(st.booleans())
            target = None if sleeping else draw(st.sampled_from(RETRY_TARGETS))
            duration = (
                draw(st.sampled_from([0.001, 0.002, 0.005, 0.01, 0.05, 0.3, 1.5]))
                if sleeping
                else 1e-5
            )
            rows.append(
                {
                    "tid": tid,
                    "pid": 1,
                    "syscall": "clock_nanosleep" if sleeping else "fcntl",
                    "start_s": clock,
                    "end_s": clock + duration,
                    "duration_s": duration,
                    "target": target,
                    "fd": 3 if target else None,
                    "args": "",
                    "status": "complete",
                }
            )
            clock += duration + draw(st.sampled_from([1e-5, 0.001, 0.03]))
    rows.sort(key=lambda row: row["start_s"])
    if draw(st.booleans()) and len(rows) > 2:
        rows = draw(st.permutations(rows))
    for line, row in enumerate(rows, 1):
        row["line_start"] = line
    return rows


RETRY_TARGETS = ("/db.sqlite", "/db.sqlite-journal", "/x.lock", None)


@settings(max_examples=80, deadline=None)
@given(rows=retry_rows(), slice_rows=st.integers(1, 6))
def test_sleep_retry_slice_by_slice_equals_the_whole_trace_walk(
    rows: list[dict[str, Any]], slice_rows: int
) -> None:
    if not rows:
        return
    inputs = hand_built(rows, last_s=10.0)
    config = PassConfig(sleep_retry_min_s=0.005)
    whole = sleep_retry._attributed_whole(inputs.traces[0], config)
    original = call_slices.SLICE_ROWS
    call_slices.SLICE_ROWS = slice_rows
    try:
        sliced = sleep_retry._attributed_sleeps(inputs.traces[0], config)
        findings = sleep_retry.run(inputs, config)
    finally:
        call_slices.SLICE_ROWS = original
    assert (whole is None) == (sliced is None)
    if whole is None or sliced is None:
        return
    # resources are numbered as needed: compare their names and classes, not their codes
    frames = []
    for sleeps, names, classes in (sliced, whole):
        frame = sleeps.reset_index(drop=True)
        frame["class"] = [classes[code] for code in frame["resource"]]
        frame["resource"] = [names[code] for code in frame["resource"]]
        frames.append(frame)
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert findings == sleep_retry.run(inputs, config)


@settings(max_examples=100, deadline=None)
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, None]),
            st.one_of(st.none(), st.floats(0, 1)),
            st.booleans(),
        ),
        max_size=40,
    ),
    shuffle=st.booleans(),
    slice_rows=st.integers(1, 6),
    data=st.data(),
)
def test_data_limits_steps_back_slice_by_slice_equal_the_whole_sort(
    calls: list[tuple[int | None, float | None, bool]],
    shuffle: bool,
    slice_rows: int,
    data: st.DataObject,
) -> None:
    rows = [
        {"tid": tid, "start_s": start, "line_start": line if has_line else None}
        for line, (tid, start, has_line) in enumerate(calls, 1)
    ]
    if shuffle:
        rows = data.draw(st.permutations(rows))
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("tid", pa.int64()), ("start_s", pa.float64()), ("line_start", pa.int64())]
        ),
    )
    whole = data_limits.steps_back(data_limits.calls_by_task_in_line_order(table), 0.001)
    original = call_slices.SLICE_ROWS
    call_slices.SLICE_ROWS = slice_rows
    try:
        assert data_limits.strace_steps_back(table, 0.001) == whole
    finally:
        call_slices.SLICE_ROWS = original


@pytest.mark.parametrize("rows", SLICES)
def test_sliced_waits_equal_the_whole_trace_functions(
    traces: dict[Path, PassInputs], monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    servers = 0
    for inputs in traces.values():
        for trace in inputs.traces:
            calls, fds = trace.syscalls, trace.wait_fds
            client, one = waits_for_client(calls, fds), resource_waits(calls, fds)
            with_slices(monkeypatch, rows)
            np.testing.assert_array_equal(call_waits.client_waits(calls, fds), client)
            np.testing.assert_array_equal(call_waits.one_resource_waits(calls, fds), one)
            # with the trace: its names and listeners as the passes share them
            fresh = dataclasses.replace(trace)
            np.testing.assert_array_equal(call_waits.client_waits(calls, fds, fresh), client)
            np.testing.assert_array_equal(call_waits.one_resource_waits(calls, fds, fresh), one)
            monkeypatch.undo()
            servers += int(client.sum()) + int(one.sum())
    assert servers > 10


def test_every_target_of_a_resource_has_the_resources_class(
    traces: dict[Path, PassInputs],
) -> None:
    """slow_syscall takes a resource's class from any of its targets (the class of its
    first target, as `encode_resources` has it, without numbering every resource)."""
    checked = 0
    for inputs in traces.values():
        for trace in inputs.traces:
            texts = with_paths(trace.syscalls)
            encoded = encode_resources(texts)
            classes = target_classes(texts).to_pylist()
            for code, cls in zip(encoded.codes.tolist(), classes, strict=True):
                if code >= 0:
                    assert cls == encoded.classes[code]
                    checked += 1
    assert checked > 1000


def test_pages_of_a_mapped_table_are_given_back_and_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = np.arange(300_000, dtype=np.float64)
    table = pa.table({"a": values, "s": pa.array([str(i) for i in range(300_000)])})
    path = tmp_path / "calls.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    mapped = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    assert mapped_pages([c for column in mapped.columns for c in column.chunks])
    # memory of the process (not a mapped file) is never given back: it would be zeroed
    assert mapped_pages([c for column in table.columns for c in column.chunks]) == []
    with_slices(monkeypatch, 50_000)
    for source in (mapped, table):
        read = [
            (part["a"].to_numpy(), part["s"].to_pylist())
            for _, part in call_slices.slices(source, ["a", "s"])
        ]
        np.testing.assert_array_equal(np.concatenate([a for a, _ in read]), values)
        assert [s for _, texts in read for s in texts] == table["s"].to_pylist()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), min_size=1, max_size=5),
    data=st.data(),
)
def test_chunked_take_equals_arrows_take(sizes: list[int], data: st.DataObject) -> None:
    chunks = [
        pa.record_batch({"n": pa.array(range(start, start + size), pa.int64())})
        for start, size in zip(np.cumsum([0, *sizes]).tolist(), sizes, strict=False)
    ]
    table = pa.Table.from_batches(chunks, schema=chunks[0].schema)
    rows = np.array(
        data.draw(st.lists(st.integers(0, max(table.num_rows - 1, 0)), max_size=12))
        if table.num_rows
        else [],
        dtype=np.int64,
    )
    expected = table.take(pa.array(rows, pa.int64()))
    assert take_rows(table, rows).to_pylist() == expected.to_pylist()
    assert take_rows(table["n"], rows).to_pylist() == expected["n"].to_pylist()


@pytest.mark.parametrize("rows", SLICES)
def test_slow_storage_thread_times_slice_by_slice_equal_the_whole_trace_sums(
    traces: dict[Path, PassInputs], monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    """The quick check of slow_storage carries per thread the seconds and slowest call on
    regular files (bit for bit what one bincount over the trace's file calls gives, the
    sums in row order), not the calls' durations."""
    added: list[tuple[np.ndarray, np.ndarray]] = []
    original = slow_storage._ThreadFileTimes.add

    def record(self: Any, durations: np.ndarray, tids: np.ndarray) -> None:
        added.append((durations, tids))
        original(self, durations, tids)

    checked = 0
    for inputs in traces.values():
        for trace in inputs.traces:
            with_slices(monkeypatch, max(trace.syscalls.num_rows, 1))
            monkeypatch.setattr(slow_storage._ThreadFileTimes, "add", record)
            added.clear()
            slow_storage._file_times(trace)
            monkeypatch.undo()
            if not added:
                continue
            assert len(added) == 1
            durations, tids = added[0]
            inverse, thread_ids = pd.factorize(np.nan_to_num(tids, nan=-1))
            known = np.nan_to_num(durations, nan=0.0)
            file_s = np.bincount(inverse, weights=known)
            slowest = np.zeros(len(thread_ids))
            np.maximum.at(slowest, inverse, known)
            with_slices(monkeypatch, rows)
            sliced = slow_storage._file_times(trace)
            monkeypatch.undo()
            assert sliced.tids.tolist() == list(thread_ids)
            assert sliced.file_s.tobytes() == file_s.tobytes()
            assert sliced.slowest.tolist() == slowest.tolist()
            lifetimes = slow_storage._thread_spans(trace)
            for threshold in (0.0005, 0.005, 0.5, 50.0):
                config = PassConfig(slow_syscall_s=threshold)
                whole = slow_storage._may_qualify(durations, tids, lifetimes, config).any()
                assert sliced.any_may_qualify(lifetimes, config) == whole
            checked += len(durations)
    assert checked > 1000


def row_by_row_server_side(calls: pa.Table, among: np.ndarray | None = None) -> np.ndarray:
    """`server_side` as it was before it ran its regex once per distinct target: the regex
    on every row looked at."""
    found = np.zeros(calls.num_rows, dtype=bool)
    syscalls = calls["syscall"].to_pylist()
    targets = calls["target"].to_pylist()
    listening = {
        match.group(1)
        for name, text in zip(syscalls, targets, strict=True)
        if name in ("accept", "accept4", "listen") and text and (match := _BOUND.match(text))
    }
    for row, text in enumerate(targets):
        if among is not None and not among[row]:
            continue
        match = _CONNECTED.match(text) if text is not None else None
        found[row] = match is not None and match.group("local") in listening
    return found


def test_server_side_equals_the_row_by_row_regex(traces: dict[Path, PassInputs]) -> None:
    servers = 0
    for inputs in traces.values():
        for trace in inputs.traces:
            calls = trace.syscalls
            reads = pc.fill_null(pc.is_in(calls["syscall"], pa.array(["read", "recvfrom"])), False)
            among = np.asarray(reads.to_numpy(zero_copy_only=False), dtype=bool)
            for mask in (None, among):
                found = server_side(calls, mask)
                np.testing.assert_array_equal(found, row_by_row_server_side(calls, mask))
                servers += int(found.sum())
    assert servers > 10


_ADDRESSES = st.sampled_from(["127.0.0.1:80", "10.0.0.2:5432", "[::1]:8080", ""])


@st.composite
def _target(draw: st.DrawFn) -> str | None:
    local, remote = draw(_ADDRESSES), draw(_ADDRESSES)
    kind = draw(st.sampled_from(["TCP", "TCPv6", "UDP", "x-y"]))
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return None
    if shape == 1:
        return f"{kind}:[{local}]"
    if shape == 2:
        return f"{kind}:[{local}->{remote}]"
    return draw(st.text(alphabet="TCP:[]->0127.:", max_size=12))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["accept", "listen", "read", "recvfrom", "write"]), _target()),
        max_size=30,
    ),
    st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_server_side_equals_the_row_by_row_regex_on_any_targets(
    rows: list[tuple[str, str | None]], looked_at: list[bool]
) -> None:
    calls = pa.table(
        {
            "syscall": pa.array([name for name, _ in rows], pa.string()),
            "target": pa.array([target for _, target in rows], pa.string()),
        }
    )
    among = np.asarray(looked_at[: len(rows)], dtype=bool)
    for mask in (None, among):
        np.testing.assert_array_equal(server_side(calls, mask), row_by_row_server_side(calls, mask))


@pytest.mark.parametrize("rows", (1, 2, 200))
def test_a_server_polling_its_client_is_found_among_the_polls(
    monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    """Hand-built rows (not a capture): a server listens, polls one accepted connection for
    input (its `wait_fds` row) and writes on it; the poll is a wait for the client, as the
    whole-trace function finds, with and without the trace."""
    listening, connected = "TCP:[10.0.0.1:8080]", "TCP:[10.0.0.1:8080->10.0.0.2:5555]"
    calls = [
        {"syscall": "listen", "target": listening, "tid": 1},
        {"syscall": "accept4", "target": listening, "tid": 1},
        {"syscall": "poll", "target": connected, "tid": 1},
        {"syscall": "write", "target": connected, "tid": 1},
        {"syscall": "poll", "target": connected, "tid": 1},
    ]
    (trace,) = hand_built(calls).traces
    wants = [(2, "in"), (4, "out")]
    fds = pa.Table.from_pylist(
        [{"row": row, "tid": 1, "fd": 5, "want": want, "target": connected} for row, want in wants],
        schema=WAIT_FDS.schema,
    )
    expected = waits_for_client(trace.syscalls, fds)
    assert expected.tolist() == [False, False, True, False, False]
    with_slices(monkeypatch, rows)
    assert call_waits.client_waits(trace.syscalls, fds).tolist() == expected.tolist()
    fresh = dataclasses.replace(trace)
    assert call_waits.client_waits(trace.syscalls, fds, fresh).tolist() == expected.tolist()


def test_the_client_reads_are_the_receives_waits_for_client_looks_at() -> None:
    assert call_waits.CLIENT_READS == strace_waits._RECEIVES
