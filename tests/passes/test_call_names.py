"""`call_names.calls_named` (a trace's kept name codes) selects what ``is_in`` on the slice's
names selects, for any slicing of the calls, and `slow_syscall` numbers syscalls from them as
it did from its own encoding."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, hand_built, inputs_of

from analyzer.arrays import contiguous, is_in, row_slices, selected_rows
from analyzer.derive.strace_families import IDLE_WAITS, SLEEPS
from analyzer.passes import call_names, call_slices, common, slow_syscall, targets

CAPTURES = sorted(
    [path for path in STRACE_LOGS.glob("*.log") if "stderr" not in path.name]
    + list(DIAGNOSIS_LOGS.glob("*_T.log"))
)
NAMES = (SLEEPS, IDLE_WAITS, frozenset({"read", "futex"}), frozenset({"nothing"}))


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda path: path.name)
def test_the_calls_named_in_every_slicing_are_those_is_in_finds(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    for trace in inputs_of(capture).traces:
        trace = dataclasses.replace(trace)
        for rows in (97, 60, 250):
            for names in NAMES:
                for offset, part in row_slices(trace.syscalls, ["syscall"], rows):
                    found = call_names.calls_named(trace, offset, part, names)
                    assert found.tolist() == is_in(part["syscall"], names).tolist()
                scan = call_names.NamedScan(trace, names)
                assert selected_rows(trace.syscalls, ["syscall"], scan, rows).tolist() == (
                    np.flatnonzero(is_in(trace.syscalls["syscall"], names)).tolist()
                )
        assert any(key[0] == "syscall codes" for key in trace.memo)


@settings(max_examples=60)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["read", "futex", "nanosleep", "poll"]))),
    st.integers(1, 9),
    st.integers(1, 9),
)
def test_the_calls_named_of_generated_names_are_those_is_in_finds(
    names: list[str | None], kept: int, rows: int
) -> None:
    """Hand-built rows (not a capture), nulls among the names, slices of other sizes."""
    (trace,) = hand_built([{"syscall": name} for name in names]).traces
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(call_slices, "SLICE_ROWS", kept)
        for wanted in (frozenset({"read", "poll"}), frozenset({"futex"})):
            for offset, part in row_slices(trace.syscalls, ["syscall"], rows):
                found = call_names.calls_named(trace, offset, part, wanted)
                assert found.tolist() == is_in(part["syscall"], wanted).tolist()


def test_without_kept_slices_nothing_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "MEMO_ROWS", -1)
    (trace,) = hand_built([{"syscall": "read"}, {"syscall": "poll"}]).traces
    part = trace.syscalls.select(["syscall"])
    assert call_names.calls_named(trace, 0, part, frozenset({"poll"})).tolist() == [False, True]
    assert not trace.memo


@pytest.mark.parametrize("capture", CAPTURES[:6], ids=lambda path: path.name)
def test_slow_syscall_numbers_syscalls_as_its_own_encoding_did(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    for trace in inputs_of(capture).traces:
        numbered = []
        for keep in (True, False):
            keys = slow_syscall._Keys(keep)
            waiting = np.ones(trace.syscalls.num_rows, dtype=bool)
            waiting[::3] = False
            found = [
                keys._numbers(trace, offset, part, np.flatnonzero(waiting[offset:][: len(part)]))
                for offset, part in call_slices.slices(trace.syscalls, ["syscall"])
            ]
            numbered.append(([n.tolist() for n in found], keys.syscall_names))
        assert numbered[0] == numbered[1]
        assert pa.array(numbered[0][1]).null_count == 0


@given(
    st.one_of(
        st.lists(st.integers(-3, 40_000)),
        st.lists(st.floats(allow_nan=True, allow_infinity=True)),
        st.lists(st.sampled_from([28805.0, 28806.0, -1.0, 0.0, -0.0, 7e9])),
    )
)
def test_a_stable_order_is_numpys(keys: list[float]) -> None:
    values = np.array(keys)
    assert common.stable_order(values).tolist() == np.argsort(values, kind="stable").tolist()


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda path: path.name)
def test_the_kept_paths_and_their_codes_are_the_slices_encoding(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`targets.coded_slice_paths`: the slice's `with_paths` dictionary-encoded (indices
    rebuilt on the codes) and codes equal to ``fill_null(indices, -1)``, with the classes of
    its dictionary; the resource codes `ResourceEncoder` gives from those codes and classes
    are those it gives from the indices."""
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    for trace in inputs_of(capture).traces:
        given, own = call_slices.ResourceEncoder(), call_slices.ResourceEncoder()
        for offset, part in call_slices.slices(trace.syscalls, ["target", "fd", "args"]):
            paths = targets.coded_slice_paths(trace, offset, part)
            expected = pc.dictionary_encode(contiguous(targets.with_paths(part)))
            assert paths.encoded.equals(expected)
            assert paths.codes.tolist() == pc.fill_null(expected.indices, -1).to_pylist()
            assert targets.slice_paths(trace, offset, part) is paths.encoded
            assert paths.classes().equals(targets.target_classes(expected.dictionary))
            assert given.encode(paths.encoded, paths.codes, paths.classes()).tolist() == (
                own.encode(expected).tolist()
            )
        assert given.names == own.names and given.classes == own.classes


_PIECES = st.sampled_from(
    [
        "/",
        "/dev/",
        "/dev/null",
        "<char 1:3>",
        "<block 8:0>",
        "<char",
        " 1:3>",
        "TCP:",
        "TCPv6:",
        "UDP:",
        "UNIX",
        "NETLINK",
        "socket",
        "RAW",
        "pipe:",
        "anon_inode:[eventfd]",
        "anon_inode:[eventpoll]",
        "anon_inode:[timerfd]",
        "anon_inode:[signalfd]",
        "anon_inode",
        "x",
        "é",
        "",
    ]
)


@given(
    st.lists(st.one_of(st.none(), st.lists(_PIECES, max_size=4).map("".join)), max_size=40),
    st.integers(0, 5),
)
@example(["/x<char", " 1:3>", None, "/dev/x<block 8:0>"], 0)  # a mark across two texts
def test_target_classes_by_bytes_are_those_of_the_kernels(
    texts: list[str | None], skip: int
) -> None:
    """Generated texts (pieces of every prefix and mark, nulls, empties), an array sliced at
    an offset and in chunks: the classes read from the bytes are those of the kernel tests."""
    array = pa.array(texts, pa.string()).slice(min(skip, len(texts)))
    expected = targets._target_classes_by_kernels(array)
    assert targets.target_classes(array).equals(expected)
    half = len(array) // 2
    chunked = pa.chunked_array([array.slice(0, half), array.slice(half)], pa.string())
    assert targets.target_classes(chunked).equals(expected)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda path: path.name)
def test_target_classes_of_every_capture_are_those_of_the_kernels(capture: Path) -> None:
    for trace in inputs_of(capture).traces:
        texts = contiguous(targets.with_paths(trace.syscalls))
        for array in (texts, pc.dictionary_encode(texts).dictionary):
            assert targets.target_classes(array).equals(targets._target_classes_by_kernels(array))
