"""What an fd target is, in the words a finding needs: the class and the peer.

`fd_targets` already sorts targets into file/socket/pipe/device/anon; a diagnosis needs
finer classes (a TCP peer and a UNIX socket are different stories, as are an eventfd and an
epoll fd) and the resource two threads can share (the socket *peer*, not the local port).
Everything here is vectorised over Arrow string arrays.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy
from analyzer.derive.strace import StraceTables
from analyzer.formats.strace_bytes import LineBytes
from analyzer.formats.strace_scan import blank_to_null
from analyzer.passes.call_slices import ResourceEncoder, slices

TARGET_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("device", ("/dev/",)),
    ("file", ("/",)),
    ("tcp", ("TCP:", "TCPv6:")),
    ("udp", ("UDP:", "UDPv6:")),
    ("unix", ("UNIX",)),
    ("netlink", ("NETLINK",)),
    ("socket", ("socket", "RAW", "SCTP", "PACKET", "L2TP")),
    ("pipe", ("pipe:",)),
    ("eventfd", ("anon_inode:[eventfd]",)),
    ("epoll", ("anon_inode:[eventpoll]",)),
    ("timerfd", ("anon_inode:[timerfd]",)),
    ("signalfd", ("anon_inode:[signalfd]",)),
    ("anon", ("anon_inode",)),
    ("other", ("",)),
)
"""(class, prefixes of the target text): the first class with a matching prefix wins, except
that a `-yy` device decoration (DEVICE_MARKS) anywhere makes a device; "other" is any
non-empty text."""

DEVICE_MARKS: tuple[str, ...] = ("<char ", "<block ")

_PEER = r"^(?P<proto>TCP|UDP|TCPv6|UDPv6):\[(?:[^\]]*?)->(?P<peer>[^\]]+)\]"
_LOCAL = r"^(?P<proto>TCP|UDP|TCPv6|UDPv6):\[(?P<local>[^\]\->]+:\d+)\]"


def target_classes(targets: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The class of each target text (see TARGET_CLASSES); null where the target is null
    or empty. Literal prefix tests on the texts' bytes, not regexes: the candidates of a
    prefix are narrowed byte by byte (a slice's dictionary is some 20k paths, few of them
    anything but a file), and the device marks are found by one search of the bytes."""
    targets = contiguous(targets)
    if not pa.types.is_string(targets.type):
        return _target_classes_by_kernels(targets)
    raw = LineBytes(targets)
    length = raw.end - raw.start
    valid = np.asarray(targets.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    # the rows by first byte (0 for an empty text): a prefix's candidates are one run
    first = np.where(length > 0, raw.at(raw.start), 0).astype(np.uint8)
    by_first = np.argsort(first, kind="stable")
    bounds = np.searchsorted(first[by_first], np.arange(257))
    codes = np.full(len(targets), len(TARGET_CLASSES), dtype=np.int64)
    for code, (name, prefixes) in reversed(list(enumerate(TARGET_CLASSES))):
        if prefixes == ("",):
            matched = length > 0
        else:
            matched = np.zeros(len(targets), dtype=bool)
            for prefix in map(str.encode, prefixes):
                rows = by_first[bounds[prefix[0]] : bounds[prefix[0] + 1]]
                matched[_starting_with(raw, length, prefix, rows)] = True
        if name == "device":
            matched[_containing(raw, [mark.encode() for mark in DEVICE_MARKS])] = True
        codes[matched & valid] = code
    return _CLASS_NAMES.take(pa.array(codes))


def _starting_with(
    raw: LineBytes, length: np.ndarray, prefix: bytes, rows: np.ndarray
) -> np.ndarray:
    """The `rows` whose text starts with `prefix` (given those whose first byte is its)."""
    rows = rows[length[rows] >= len(prefix)]
    for at, byte in enumerate(prefix[1:], start=1):
        if len(rows) == 0:
            break
        rows = rows[raw.data[raw.start[rows] + at] == byte]
    return rows


def _containing(raw: LineBytes, marks: list[bytes]) -> np.ndarray:
    """The rows whose text holds one of `marks`."""
    if len(raw.start) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(raw.start[0]), int(raw.end[-1])
    text = raw.data[low:high].tobytes()
    found = []
    for mark in marks:
        at = text.find(mark)
        while at >= 0:
            found.append((low + at, len(mark)))
            at = text.find(mark, at + 1)
    if not found:
        return np.zeros(0, dtype=np.int64)
    places = np.array([place for place, _ in found], dtype=np.int64)
    ends = places + np.array([size for _, size in found], dtype=np.int64)
    rows = np.searchsorted(raw.start, places, side="right") - 1
    return np.unique(rows[(rows >= 0) & (ends <= raw.end[np.maximum(rows, 0)])])


def _target_classes_by_kernels(targets: pa.Array) -> pa.Array:
    """`target_classes` by Arrow kernels: one test of the whole array per prefix (any
    string type)."""
    codes = np.full(len(targets), len(TARGET_CLASSES), dtype=np.int64)
    for code, (name, prefixes) in reversed(list(enumerate(TARGET_CLASSES))):
        if prefixes == ("",):
            matched = pc.greater(pc.binary_length(targets), 0)
        else:
            matched = _any_of(pc.starts_with(targets, prefix) for prefix in prefixes)
        if name == "device":
            marked = (pc.match_substring(targets, mark) for mark in DEVICE_MARKS)
            matched = pc.or_(matched, _any_of(marked))
        mask = filled_numpy(matched, False)
        codes[mask] = code
    return _CLASS_NAMES.take(pa.array(codes))


_CLASS_NAMES = pa.array([name for name, _ in TARGET_CLASSES] + [None], pa.string())


def _any_of(masks: Iterable[pa.Array]) -> pa.Array:
    return functools.reduce(pc.or_, masks)


def resources(targets: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The shared resource behind each target: ``tcp 127.0.0.1:5432`` for a connected
    socket (its peer, so workers with different local ports share it), the listening
    address for a bound socket, otherwise the target text itself."""
    targets = contiguous(targets)
    sockets = pc.fill_null(
        pc.or_(pc.starts_with(targets, "TCP"), pc.starts_with(targets, "UDP")), False
    )
    if not pc.any(sockets).as_py():
        return targets
    named = targets.filter(sockets)
    peer = pc.extract_regex(named, _PEER)
    local = pc.extract_regex(named, _LOCAL)
    peer_text = pc.binary_join_element_wise(
        pc.utf8_lower(pc.struct_field(peer, "proto")), pc.struct_field(peer, "peer"), " "
    )
    local_text = pc.binary_join_element_wise(
        pc.utf8_lower(pc.struct_field(local, "proto")),
        pc.struct_field(local, "local"),
        " ",
    )
    return pc.replace_with_mask(targets, sockets, pc.coalesce(peer_text, local_text, named))


_LINE_PIPE = re.compile(r"^pipe:\[L(\d+)\]$")
"""Pipes without -y are named after the line of the pipe() call that made them."""


def describe(target_class: str | None, resource: str | None) -> str:
    """A resource in plain words: ``TCP peer 127.0.0.1:5432``, ``file /var/log/x``."""
    if resource is None:
        return "an unknown fd" if target_class is None else f"an unresolved {target_class} fd"
    if made_at := _LINE_PIPE.match(resource):
        return f"the pipe made at line {made_at.group(1)}"
    words = {
        "tcp": "TCP peer",
        "udp": "UDP peer",
        "unix": "UNIX socket",
        "file": "file",
        "device": "device",
        "pipe": "pipe",
        "eventfd": "eventfd",
        "epoll": "epoll fd",
    }
    if target_class in ("tcp", "udp") and " " in resource:
        return f"{words[target_class]} {resource.split(' ', 1)[1]}"
    label = words.get(target_class or "")
    return f"{label} {resource}" if label and not resource.startswith(label) else resource


@dataclass(frozen=True)
class EncodedResources:
    """The resource of each row as an integer code, computed once per distinct target.

    A trace has millions of calls but few distinct targets, so the regexes run on the
    dictionary of targets only. `codes` is -1 where the row has no target.
    """

    codes: np.ndarray
    names: list[str]
    classes: list[str | None]


def encode_resources(targets: pa.Array | pa.ChunkedArray) -> EncodedResources:
    """Resource codes per row, with the resource names and target classes per code."""
    encoded = pc.dictionary_encode(contiguous(targets))
    dictionary = encoded.dictionary
    if len(dictionary) == 0:
        return EncodedResources(np.full(len(encoded), -1, dtype=np.int64), [], [])
    target_codes = np.asarray(filled_numpy(encoded.indices, -1), dtype=np.int64)
    resource_texts = pc.dictionary_encode(resources(dictionary))
    mapping = np.asarray(resource_texts.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    names = resource_texts.dictionary.to_pylist()
    # A resource's class is its first target's (a peer "tcp 1.2.3.4:5" is no target text).
    first_targets = np.unique(mapping, return_index=True)[1]
    classes = target_classes(dictionary).take(pa.array(first_targets)).to_pylist()
    codes = np.where(target_codes >= 0, mapping[np.maximum(target_codes, 0)], -1)
    return EncodedResources(codes, names, classes)


_PATH_ARGUMENT = (
    r"^(?:AT_FDCWD(?:<(?P<cwd>[^>]*)>)?, |-?\d+(?:<(?P<dir>(?:[^<>]|<[^>]*>)*)>)?, )?"
    r'"(?P<path>(?:[^"\\]|\\.)*)"'
)
"""The path of a path-taking call: the first argument, or the second after a dirfd, with the
dirfd's `-y` decoration (``AT_FDCWD</srv>``, ``3</etc/ld.so.cache>``) when present."""


def _may_name_path(args: pa.StringArray) -> np.ndarray:
    """Whether each argument text can match `_PATH_ARGUMENT`, read from its first two bytes.

    A match starts with a quote, ``AT_FDCWD``, a minus or the digits of a dirfd; most calls
    without an fd (futex, mmap, clock_nanosleep ...) start with a ``0x`` address or a name
    and are ruled out here, before their texts are copied for the regex.
    """
    raw = LineBytes(args)
    return _can_name(raw, raw.start, raw.end)


def _can_name(raw: LineBytes, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """`_may_name_path` of the texts [start, end) of `raw`."""
    first, second = raw.at(start), raw.at(start + 1)
    starts = (first == ord('"')) | (first == ord("A")) | (first == ord("-"))
    digit = (first >= ord("0")) & (first <= ord("9"))
    hexadecimal = (first == ord("0")) & (second == ord("x"))
    return (start < end) & (starts | (digit & ~hexadecimal))


def may_name_path(args: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Whether each argument text can name a path (`with_paths` finds none in the others),
    chunk by chunk."""
    return np.concatenate(
        [np.zeros(0, dtype=bool)] + [_may_name_path(chunk) for chunk in _chunks(args)]
    )


def _naming_rows(args: pa.ChunkedArray | pa.Array, candidates: np.ndarray) -> np.ndarray:
    """The `candidates` (rows, ascending) whose argument text can name a path: `may_name_path`
    read at those rows alone (the calls without a target or fd are half a trace's)."""
    found = [np.zeros(0, dtype=np.int64)]
    start = 0
    for chunk in _chunks(args):
        low, high = np.searchsorted(candidates, [start, start + len(chunk)])
        if high > low:
            raw = LineBytes(chunk)
            local = candidates[low:high] - start
            found.append(candidates[low:high][_can_name(raw, raw.start[local], raw.end[local])])
        start += len(chunk)
    return np.concatenate(found)


def _chunks(column: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def with_paths(calls: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Each call's target, or for calls without one (unlink, stat, rename ...) the path
    they name, so a slow unlink is reported on its file: a relative path joined to its
    dirfd's decorated directory, and for ``AT_EMPTY_PATH`` (an empty path) the dirfd's own
    file."""
    targets = contiguous(calls["target"])
    missing = contiguous(pc.and_(pc.is_null(targets), pc.is_null(calls["fd"])))
    missing = pc.fill_null(missing, False)
    if not pc.any(missing).as_py():
        return targets
    # Chunk by chunk, and only the texts that may name a path are copied: the argument
    # texts are the largest column of a long trace (500 MiB at 10M lines).
    rows = _naming_rows(calls["args"], np.flatnonzero(missing.to_numpy(zero_copy_only=False)))
    named = contiguous(calls["args"].take(pa.array(rows, pa.int64())))
    parts = pc.extract_regex(named, _PATH_ARGUMENT)
    matched = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    if not matched.any():
        return targets
    parts = parts.filter(pa.array(matched))
    path = pc.struct_field(parts, "path")
    # Most paths are absolute; only the others need their dirfd.
    relative = pc.invert(pc.starts_with(path, "/")).to_numpy(zero_copy_only=False)
    if relative.any():
        others = parts.filter(pa.array(relative))
        other_path = pc.struct_field(others, "path")
        directory = blank_to_null(pc.struct_field(others, "dir"))
        base = pc.coalesce(blank_to_null(pc.struct_field(others, "cwd")), directory)
        joined = pc.coalesce(pc.binary_join_element_wise(base, other_path, "/"), other_path)
        resolved = pc.if_else(pc.equal(other_path, ""), directory, joined)
        path = pc.replace_with_mask(path, pa.array(relative), resolved)
    has_path = np.zeros(len(targets), dtype=bool)
    has_path[rows[matched]] = True
    return pc.replace_with_mask(targets, pa.array(has_path), path)


MEMO_ROWS = 10_000_000
"""Traces of at most so many calls (some 12M lines) keep `slice_paths` between passes (4
bytes a call, and each slice's distinct paths: +50 MiB at 10M lines); a longer one computes
it again in each pass, as its memory would grow with the trace."""


def keeps_slices(trace: StraceTables) -> bool:
    """Whether the passes keep per-slice work of the trace between their scans (at most
    `MEMO_ROWS` calls): `slice_paths` and what the passes derive from a slice's paths."""
    return trace.syscalls.num_rows <= MEMO_ROWS


def slice_paths(trace: StraceTables, offset: int, part: pa.Table) -> pa.DictionaryArray:
    """``pc.dictionary_encode(with_paths(part))`` of the slice `part` of the trace's calls
    that starts at row `offset`: computed once per slice for the six passes that read it
    (0.12 s a pass at 1M lines), kept in `StraceTables.memo`."""
    return _slice_paths(trace, offset, part).encoded


def coded_slice_paths(trace: StraceTables, offset: int, part: pa.Table) -> SlicePaths:
    """`slice_paths` with the dictionary index of each call, -1 for a call without a path
    (int32): what ``pc.fill_null(indices, -1)`` gives, at no cost (the indices are these
    codes)."""
    return _slice_paths(trace, offset, part)


@dataclass(frozen=True)
class SlicePaths:
    """A slice's `with_paths` dictionary-encoded, and its indices as numpy codes."""

    encoded: pa.DictionaryArray
    codes: np.ndarray
    """The buffer of `encoded`'s indices: -1 at its nulls."""
    _classes: list[pa.Array] = field(default_factory=list, compare=False, repr=False)

    def classes(self) -> pa.Array:
        """`target_classes` of the dictionary, worked out once for the passes that read it
        (two passes at the same time may both work it out: the same array)."""
        if not self._classes:
            self._classes.append(target_classes(self.encoded.dictionary))
        return self._classes[0]


def _slice_paths(trace: StraceTables, offset: int, part: pa.Table) -> SlicePaths:
    if not keeps_slices(trace):
        return _encoded_paths(part)
    found = once_per_trace(trace, ("paths", offset, part.num_rows), lambda: _encoded_paths(part))
    assert isinstance(found, SlicePaths)
    return found


def once_per_trace(
    trace: StraceTables, key: tuple[object, ...], compute: Callable[[], object]
) -> object:
    """`compute()` kept in `StraceTables.memo` under `key`: worked out once per trace for
    the passes that read it, passes side by side (`passes.run_passes` with a pool)
    included: one computes, the other waits."""
    lock = trace.memo.setdefault(("lock", *key), threading.Lock())
    assert isinstance(lock, type(threading.Lock()))
    with lock:
        found = trace.memo.get(key)
        if found is None:
            found = trace.memo[key] = compute()
    return found


def _encoded_paths(part: pa.Table) -> SlicePaths:
    encoded: pa.DictionaryArray = pc.dictionary_encode(contiguous(with_paths(part)))
    indices = encoded.indices
    codes = np.asarray(filled_numpy(indices, -1), dtype=np.int32)
    if indices.offset:  # (never seen: a fresh encoding starts at its buffers' start)
        return SlicePaths(encoded, codes)
    # the indices are rebuilt on the codes (and the same validity): one copy is held
    on_codes = pa.Array.from_buffers(
        pa.int32(), len(codes), [indices.buffers()[0], pa.py_buffer(codes)], indices.null_count
    )
    return SlicePaths(pa.DictionaryArray.from_arrays(on_codes, encoded.dictionary), codes)


def trace_resources(trace: StraceTables) -> EncodedResources:
    """`encode_resources` of `with_paths` of the trace's calls (for IOD001, IOD012, the DNS
    and lock passes), computed a slice at a time. Not cached: an int64 code per call kept
    between passes would grow with the trace (650 MiB at 100M lines); passes that can work
    a slice at a time use `call_slices.ResourceEncoder` instead."""
    calls = trace.syscalls
    encoder = ResourceEncoder()
    parts = [
        encoder.encode(slice_paths(trace, offset, part))
        for offset, part in slices(calls, ["target", "fd", "args"])
    ]
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return EncodedResources(codes, encoder.names, encoder.classes)
