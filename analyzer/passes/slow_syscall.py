"""IOD001 slow_syscall: which calls were slow, on what file, socket, pipe or device.

Calls are grouped per trace by (syscall, resource) where the resource is what two threads
can share (a socket's peer, a path, a pipe). A group becomes a finding when one of its
calls took at least `PassConfig.slow_syscall_s`, or when together its calls held threads
for at least `slow_syscall_share` of the trace's wall time. Idle waits (epoll, futex,
sleeps, accept, wait4 ...) are left to the loop, lock and pile-up passes.

A read that blocked on a pipe waited for its writer. When every thread that writes the pipe
was itself waiting for input during the slow reads (on a futex or a queue, in
poll/select/epoll or accept, reading a pipe or socket: `WRITER_WAITS`), nothing was being
produced: the readers are idle consumers waiting for work (a `multiprocessing.Pool`'s workers
reading the task pipe, its result handler reading the result pipe), and the finding is info.
A slow producer is a writer busy or blocked elsewhere; a full pipe is the write side's story
(IOD018 pipe_backpressure).

Its severity weighs the calls against the time of the threads that made them (their count
times the wall time): N pool threads that each spend 2% of their time on a peer add up to
N × 2% of one wall clock, but each of them was free 98% of the time. A group without one
slow call whose threads spent less than `slow_syscall_share` of their time in it is a busy
pool on a fast resource: info.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, selected_rows, take_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_durations
from analyzer.derive.strace_families import (
    FLUSHES,
    IDLE_WAITS,
    LOOP_WAITS,
    SOCKET_CLASSES,
)
from analyzer.derive.strace_slices import times_at
from analyzer.derive.strace_waits import WAITS_ON_SETS
from analyzer.passes import call_names, call_slices
from analyzer.passes.base import (
    Culprit,
    Finding,
    Pass,
    PassConfig,
    PassInputs,
    Resource,
    Severity,
)
from analyzer.passes.call_slices import exact_sum, slices, taken
from analyzer.passes.call_waits import client_waits, one_resource_waits
from analyzer.passes.common import cited_lines, numbers, plural
from analyzer.passes.targets import (
    coded_slice_paths,
    describe,
    keeps_slices,
    resources,
    target_classes,
    with_paths,
)

CODE = "IOD001"
KIND = "slow_syscall"
MAX_GROUPS = 20
"""Findings per trace at most (largest total first); the syscalls table has the rest."""

_READS = {"read", "pread64", "readv", "preadv", "preadv2", "recvfrom", "recvmsg", "recv"}
_WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "sendto", "sendmsg", "send"}


WRITER_WAITS = frozenset(
    {*LOOP_WAITS, "futex", "accept", "accept4", "pause", "rt_sigsuspend", "rt_sigtimedwait"}
)
"""What a pipe's writer waits in when it has nothing to write: for its own input (a queue, a
lock, a client, a signal). Sleeps and child waits are not in it: they may pace or do work."""
INPUT_CLASSES = frozenset({"pipe", *SOCKET_CLASSES})
"""Reads on these are a writer waiting for its own input too."""
IDLE_PRODUCER_SHARE = 0.5
"""A writer that waited for input this share of the slow reads' time was not producing."""


MEMORY_CALLS = frozenset(
    {"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mlock", "munlock", "msync"}
)


def fix_for(syscall: str, target_class: str | None, where: str | None) -> str:
    """The mitigation that fits a slow call of this kind on this kind of target (`where`
    is None for calls that take no fd)."""
    if syscall in MEMORY_CALLS - FLUSHES and target_class is None:
        return (
            f"{syscall} is slow when it maps, unmaps or protects large regions: in a process "
            "with many threads each change pays for a TLB shoot-down on every CPU they ran on, "
            "and under memory pressure it waits for reclaim. Reuse buffers instead of mapping "
            "and unmapping them per request (a pool; glibc's M_MMAP_THRESHOLD and "
            "MALLOC_ARENA_MAX for malloc), and check memory pressure (PSI, swap)."
        )
    if syscall in FLUSHES:
        return (
            f"Each {syscall} waits for the disk to persist data: batch writes per flush "
            "(group commit), flush less often where durability allows, or move the file "
            "to a faster volume; check the device's latency and queue depth (perf block:*)."
        )
    if target_class in ("tcp", "udp", "unix"):
        if syscall in ("connect",):
            return (
                f"Connecting to {where} is slow: reuse connections (a pool), add a connect "
                "timeout, and check the peer's accept backlog."
            )
        if syscall in _WRITES:
            return (
                f"{where} is not draining what is sent: the peer is slow to read; add "
                "timeouts and back-pressure, or batch small writes."
            )
        return (
            f"Threads wait for {where} to answer: the backend is slow. Check it, set "
            "timeouts, cache or batch requests, and size the client pool for its latency."
        )
    if target_class == "pipe":
        return f"The process at the other end of {where} is slow to produce or consume."
    if target_class in ("file", "device"):
        if syscall in _READS or syscall in _WRITES:
            return (
                f"Blocking I/O on {where}: read or write in larger blocks, rely on the page "
                "cache, move it off the request path (a thread or run_in_executor in async "
                "code), or use a faster volume."
            )
        return (
            f"Metadata calls on {where} are slow (often a network or overloaded "
            "filesystem): cache the result or move the file to local storage."
        )
    return f"Look at why {syscall} blocks: the table of slow calls lists the source lines."


CLOSE = 1e-6
"""Relative margin of the scans' (uncompensated) totals around the thresholds: groups this
close are summed exactly before they are kept or dropped."""
SYSCALL_SHIFT = 40
"""A group's key: its syscall's number shifted by this, plus its resource code + 1."""
BUCKETS = 1 << 16
"""The first scan sums the calls into this many buckets of groups (by a hash of the group):
a group can be a candidate only if its bucket's calls can make one."""

_SCAN_COLUMNS = ["syscall", "target", "fd", "args", "duration_s", "start_s", "end_s", "tid"]


@dataclass
class _Slice:
    """One slice of calls as the scans read it: the kept calls (a duration, not idle) with
    their durations, syscall numbers, resource texts (an index into `texts`, -1 without
    one) and buckets; and the resource text of every call."""

    offset: int
    part: pa.Table
    rows: np.ndarray
    durations: np.ndarray
    syscalls: np.ndarray
    text_of_call: np.ndarray
    texts: list[str]
    targets: pa.Array
    """The slice's distinct target texts, `texts` their resources."""

    @property
    def text(self) -> np.ndarray:
        return self.text_of_call[self.rows]


class _Keys:
    """Group keys that stay the same across slices and scans of one trace: syscall numbers
    for every syscall, resource codes (and names, classes) for the resources of the groups
    asked for only (a long trace has a resource per connection: millions).

    `keep_slices`: whether the passes keep the trace's per-slice work between their scans
    (`keeps_slices`); then the slices' resource texts and their hashes are kept here too,
    and the syscall names are those the passes share (`call_names.slice_codes`)."""

    def __init__(self, keep_slices: bool) -> None:
        self.syscall_names: list[str] = []
        self._syscalls: dict[str, int] = {}
        self.names: list[str] = []
        self.classes: list[str | None] = []
        self._codes: dict[str, int] = {}
        self._hashes: dict[tuple[int, int], np.ndarray] = {}
        self._texts: dict[tuple[int, int], list[str]] = {}
        self._keep_slices = keep_slices

    def read(self, trace: StraceTables, offset: int, part: pa.Table, waiting: np.ndarray) -> _Slice:
        duration = call_durations(part)
        rows = np.flatnonzero(~np.isnan(duration) & waiting[offset : offset + part.num_rows])
        paths = coded_slice_paths(trace, offset, part)
        encoded = paths.encoded
        text_of_call = paths.codes.astype(np.int64)
        key = (offset, part.num_rows)
        texts = self._texts.get(key)
        if texts is None:
            texts = resources(encoded.dictionary).to_pylist() if len(encoded.dictionary) else []
            if self._keep_slices:
                self._texts[key] = texts
        syscalls = self._numbers(trace, offset, part, rows)
        return _Slice(
            offset,
            part,
            rows,
            duration[rows],
            syscalls,
            text_of_call,
            texts,
            encoded.dictionary,
        )

    def _numbers(
        self, trace: StraceTables, offset: int, part: pa.Table, rows: np.ndarray
    ) -> np.ndarray:
        """The syscall number of the calls at `rows` (-1 for no name), new names numbered in
        the order of their first call among them."""
        if not self._keep_slices:
            names = pc.dictionary_encode(contiguous(part["syscall"].take(pa.array(rows))))
            codes = np.asarray(filled_numpy(names.indices, -1), np.int64)
            return self._numbered(names.dictionary.to_pylist(), np.arange(len(names.dictionary)))[
                codes
            ]
        # the slice's names as the passes share them, in the order of their first call here
        all_codes, all_names = call_names.slice_codes(trace, offset, part)
        taken_codes = all_codes[rows]
        used = pd.unique(taken_codes)
        used = used[used >= 0]
        return self._numbered([all_names[code] for code in used.tolist()], used, len(all_names))[
            taken_codes
        ]

    def _numbered(self, names: list[str], codes: np.ndarray, size: int | None = None) -> np.ndarray:
        """Per code (of `size`, and -1 last), the number of the name at that code (`names` at
        `codes`, in the order of their first call: new ones are numbered in that order), -1
        for the others."""
        lookup = np.full((len(names) if size is None else size) + 1, -1, dtype=np.int64)
        for code, name in zip(codes.tolist(), names, strict=True):
            if name not in self._syscalls:
                self._syscalls[name] = len(self.syscall_names)
                self.syscall_names.append(name)
            lookup[code] = self._syscalls[name]
        return lookup

    def buckets(self, piece: _Slice) -> np.ndarray:
        """The bucket of each kept call: a hash of its (syscall, resource)."""
        # each of the three scans reads every slice: its resource texts are listed and
        # hashed once, kept when the passes keep `slice_paths` (`keeps_slices`)
        key = (piece.offset, piece.part.num_rows)
        hashes = self._hashes.get(key)
        if hashes is None:
            hashes = np.array(
                [hash(text) & 0xFFFFFFFFFFFF for text in piece.texts] + [0x5EED], dtype=np.uint64
            )
            if self._keep_slices:
                self._hashes[key] = hashes
        mixed = hashes[piece.text] * np.uint64(1000003) + piece.syscalls.astype(np.uint64)
        return (mixed % np.uint64(BUCKETS)).astype(np.int64)

    def keys(self, piece: _Slice, picked: np.ndarray) -> np.ndarray:
        """The key of the kept calls at `picked`, numbering their new resources."""
        texts = piece.text[picked]
        used = np.unique(texts[texts >= 0])
        fresh = [int(i) for i in used if piece.texts[i] not in self._codes]
        if fresh:
            classes = target_classes(piece.targets.take(pa.array(fresh, pa.int64())))
            for index, cls in zip(fresh, classes.to_pylist(), strict=True):
                if piece.texts[index] not in self._codes:
                    self._codes[piece.texts[index]] = len(self.names)
                    self.names.append(piece.texts[index])
                    self.classes.append(cls)
        # only the texts of the calls picked need their code
        mapping = np.full(len(piece.texts) + 1, -2, dtype=np.int64)
        mapping[-1] = -1
        mapping[used] = [self._codes.get(piece.texts[i], -2) for i in used.tolist()]
        return (piece.syscalls[picked] << SYSCALL_SHIFT) + (mapping[texts] + 1)


def _possible_buckets(
    trace: StraceTables, waiting: np.ndarray, keys_of: _Keys, config: PassConfig
) -> np.ndarray:
    """Which buckets hold calls that can make a candidate group: one call at least
    `slow_syscall_s`, or absolute durations that add up to the thresholds (a group's total
    is at most its bucket's)."""
    highest = np.full(BUCKETS, -np.inf)
    magnitude = np.zeros(BUCKETS)
    for offset, part in slices(trace.syscalls, _SCAN_COLUMNS):
        piece = keys_of.read(trace, offset, part, waiting)
        if len(piece.rows) == 0:
            continue
        bucket = keys_of.buckets(piece)
        np.maximum.at(highest, bucket, piece.durations)
        magnitude += np.bincount(bucket, weights=np.abs(piece.durations), minlength=BUCKETS)
    share_floor = config.slow_syscall_share * trace.wall_s if trace.wall_s else float("inf")
    reach = magnitude * (1 + CLOSE) + 1e-12
    return (highest >= config.slow_syscall_s) | (
        (reach >= share_floor) & (reach >= config.slow_syscall_s)
    )


@dataclass
class _Scan:
    """Per (syscall, resource) group (a slot) of the possible buckets: its key, count, max,
    approximate total (and of absolute values) and first row."""

    known: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """The groups' keys, sorted, and the slot of each in `known_slots`."""
    known_slots: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    max_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    total_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    magnitude_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    first_row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def slots_of(self, keys: np.ndarray) -> np.ndarray:
        """The slot of each key, -1 for keys never seen."""
        if len(self.known) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.known, keys), len(self.known) - 1)
        return np.where(self.known[at] == keys, self.known_slots[at], -1)

    def add(self, keys: np.ndarray, durations: np.ndarray, rows: np.ndarray) -> None:
        """Count the calls with these keys, durations and (trace) rows, in row order."""
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        highest = np.full(len(unique), -np.inf)
        np.maximum.at(highest, inverse, durations)
        slots = self.slots_of(unique)
        fresh = np.flatnonzero(slots < 0)
        if len(fresh):
            start = len(self.keys)
            slots[fresh] = start + np.arange(len(fresh))
            self.keys = np.concatenate([self.keys, unique[fresh]])
            self.count = np.concatenate([self.count, np.zeros(len(fresh), np.int64)])
            self.max_s = np.concatenate([self.max_s, np.full(len(fresh), -np.inf)])
            self.total_s = np.concatenate([self.total_s, np.zeros(len(fresh))])
            self.magnitude_s = np.concatenate([self.magnitude_s, np.zeros(len(fresh))])
            self.first_row = np.concatenate([self.first_row, rows[first[fresh]]])
            merged = np.concatenate([self.known, unique[fresh]])
            order = np.argsort(merged, kind="stable")
            self.known = merged[order]
            self.known_slots = np.concatenate(
                [self.known_slots, np.arange(start, start + len(fresh))]
            )[order]
        self.count[slots] += np.bincount(inverse, minlength=len(unique))
        self.max_s[slots] = np.maximum(self.max_s[slots], highest)
        self.total_s[slots] += np.bincount(inverse, weights=durations, minlength=len(unique))
        self.magnitude_s[slots] += np.bincount(
            inverse, weights=np.abs(durations), minlength=len(unique)
        )


def _scan(trace: StraceTables, waiting: np.ndarray, keys_of: _Keys, possible: np.ndarray) -> _Scan:
    """The groups of the calls in the `possible` buckets."""
    scan = _Scan()
    for offset, part in slices(trace.syscalls, _SCAN_COLUMNS):
        piece = keys_of.read(trace, offset, part, waiting)
        picked = np.flatnonzero(possible[keys_of.buckets(piece)])
        if len(picked):
            scan.add(
                keys_of.keys(piece, picked), piece.durations[picked], offset + piece.rows[picked]
            )
    return scan


@dataclass
class _Members:
    """The calls of one candidate group, gathered slice by slice: every duration (in row
    order, for the exact total and the p95), the threads, the errors, whether any has an fd,
    the slowest calls (longest first, earliest first among equals) and, for pipe reads, the
    start and duration of the calls the writers are judged against, and the pipe's writers
    (threads that wrote to it)."""

    durations: np.ndarray
    filled: int = 0
    tids: set[int] = field(default_factory=set)
    errors: int = 0
    has_fd: bool = False
    top_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    top_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    judged: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    writers: set[int] = field(default_factory=set)


def _gather(
    trace: StraceTables,
    waiting: np.ndarray,
    keys_of: _Keys,
    scan: _Scan,
    possible: np.ndarray,
    chosen: list[int],
    judge: dict[int, float],
    samples: int,
) -> dict[int, _Members]:
    """The members of the groups `chosen` (slots), a slice at a time; `judge` gives the
    pipe-read groups the least duration of the calls their writers are judged on."""
    members = {slot: _Members(np.empty(int(scan.count[slot]))) for slot in chosen}
    index_of = np.full(len(scan.count), -1, dtype=np.int64)
    index_of[chosen] = np.arange(len(chosen))
    pipes: dict[str, list[int]] = {}
    for slot in judge:
        pipes.setdefault(keys_of.names[_resource(scan, slot)], []).append(slot)
    for offset, part in slices(trace.syscalls, [*_SCAN_COLUMNS, "errno"]):
        piece = keys_of.read(trace, offset, part, waiting)
        if pipes:
            _add_writers(piece, pipes, members)
        picked = np.flatnonzero(possible[keys_of.buckets(piece)])
        if len(picked) == 0:
            continue
        which = np.full(len(piece.rows), -1, dtype=np.int64)
        slots = scan.slots_of(keys_of.keys(piece, picked))
        which[picked] = np.where(slots >= 0, index_of[np.maximum(slots, 0)], -1)
        picked = np.flatnonzero(which >= 0)
        if len(picked) == 0:
            continue
        order = picked[np.argsort(which[picked], kind="stable")]
        bounds = np.flatnonzero(np.diff(which[order])) + 1
        local = piece.rows[order]
        tids = numbers(part["tid"].take(pa.array(local)))
        errnos = pc.is_valid(part["errno"].take(pa.array(local))).to_numpy(zero_copy_only=False)
        fds = pc.is_valid(part["fd"].take(pa.array(local))).to_numpy(zero_copy_only=False)
        starts = numbers(part["start_s"].take(pa.array(local)))
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            slot = chosen[int(which[order[lo]])]
            member = members[slot]
            values = piece.durations[order[lo:hi]]
            member.durations[member.filled : member.filled + len(values)] = values
            member.filled += len(values)
            member.tids.update(int(t) for t in np.unique(tids[lo:hi]) if not np.isnan(t))
            member.errors += int(errnos[lo:hi].sum())
            member.has_fd = member.has_fd or bool(fds[lo:hi].any())
            both_s = np.concatenate([member.top_s, values])
            both_rows = np.concatenate([member.top_rows, offset + local[lo:hi]])
            top = np.lexsort((both_rows, -both_s))[:samples]
            member.top_s, member.top_rows = both_s[top], both_rows[top]
            if slot in judge:
                judged = values >= judge[slot]
                member.judged.append((starts[lo:hi][judged], values[judged]))
    return members


def _add_writers(piece: _Slice, pipes: dict[str, list[int]], members: dict[int, _Members]) -> None:
    """The threads of the slice's writes (any, kept or not) to the pipes `pipes`."""
    on_pipe = np.array([text in pipes for text in piece.texts] + [False], dtype=bool)
    written = np.flatnonzero(
        is_in(piece.part["syscall"], frozenset(_WRITES)) & on_pipe[piece.text_of_call]
    )
    if len(written) == 0:
        return
    tids = numbers(piece.part["tid"].take(pa.array(written)))
    for text, tid in zip(piece.text_of_call[written].tolist(), tids.tolist(), strict=True):
        if not np.isnan(tid):
            for slot in pipes[piece.texts[text]]:
                members[slot].writers.add(int(tid))


def _resource(scan: _Scan, slot: int) -> int:
    return int(scan.keys[slot] & ((1 << SYSCALL_SHIFT) - 1)) - 1


def _syscall(keys_of: _Keys, scan: _Scan, slot: int) -> str:
    return keys_of.syscall_names[int(scan.keys[slot]) >> SYSCALL_SHIFT]


def _candidate_groups(scan: _Scan, wall_s: float | None, config: PassConfig) -> list[int]:
    """The slots of the groups that may be candidates, by first call: one call at least
    `slow_syscall_s`, or an approximate total within `CLOSE` of the thresholds."""
    share_floor = config.slow_syscall_share * wall_s if wall_s else float("inf")
    margin = CLOSE * scan.magnitude_s + 1e-12
    maybe = (scan.max_s >= config.slow_syscall_s) | (
        (scan.total_s + margin >= share_floor) & (scan.total_s + margin >= config.slow_syscall_s)
    )
    slots = np.flatnonzero(maybe)
    return slots[np.argsort(scan.first_row[slots], kind="stable")].tolist()


def _exact_groups(
    scan: _Scan, members: dict[int, _Members], wall_s: float | None, config: PassConfig
) -> pd.DataFrame:
    """`stats[keep].sort_values(...)` of the whole-trace groupby, from the candidates' own
    calls: pandas' compensated group sum depends only on a group's own values."""
    slots = list(members)
    stats = pd.DataFrame(
        {
            "key": np.array(slots, dtype=np.int64),
            "count": scan.count[slots],
            "total_s": np.array([exact_sum(members[s].durations) for s in slots], np.float64),
            "max_s": scan.max_s[slots],
        }
    )
    share_floor = config.slow_syscall_share * wall_s if wall_s else float("inf")
    keep = (stats["max_s"] >= config.slow_syscall_s) | (
        (stats["total_s"] >= share_floor) & (stats["total_s"] >= config.slow_syscall_s)
    )
    return stats[keep].sort_values("total_s", ascending=False).head(MAX_GROUPS)


def _covered(lo: np.ndarray, hi: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> float:
    """Seconds of the calls [starts, ends) inside the disjoint sorted intervals [lo, hi)."""
    lengths = hi - lo
    before = np.concatenate([[0.0], np.cumsum(lengths)])

    def upto(times: np.ndarray) -> np.ndarray:
        at = np.searchsorted(lo, times, side="right") - 1
        safe = np.maximum(at, 0)
        part = np.clip(times - lo[safe], 0.0, lengths[safe])
        return np.where(at >= 0, before[safe] + part, 0.0)

    return float(np.clip(upto(ends) - upto(starts), 0.0, None).sum())


def idle_writers(
    trace: StraceTables,
    writers: list[int],
    read_starts: np.ndarray,
    read_ends: np.ndarray,
) -> tuple[list[int], float] | None:
    """The least share of the reads' time any of the pipe's `writers` (sorted) spent
    waiting for its own input (`WRITER_WAITS`, reads on pipes and sockets), with the
    writers; None when no writer is in the trace."""
    calls = trace.syscalls
    order = np.argsort(read_starts, kind="stable")
    lo_list: list[float] = []
    hi_list: list[float] = []
    for start, end in zip(read_starts[order].tolist(), read_ends[order].tolist(), strict=True):
        if lo_list and start <= hi_list[-1]:
            hi_list[-1] = max(hi_list[-1], end)
        else:
            lo_list.append(start)
            hi_list.append(end)
    lo, hi = np.array(lo_list), np.array(hi_list)
    span = float((hi - lo).sum())
    if not writers or span <= 0:
        return None
    rows = selected_rows(
        calls,
        ["syscall", "tid", "target", "fd", "args"],
        lambda part: _waits_for_input(part, writers),
        call_slices.SLICE_ROWS,
    )
    tids = numbers(take_rows(calls["tid"], rows))
    shares = []
    for writer in writers:
        mine = rows[tids == writer]
        starts, ends = times_at(calls, mine, trace.last_s)
        known = ~np.isnan(starts) & ~np.isnan(ends)
        shares.append(_covered(lo, hi, starts[known], ends[known]) / span)
    return writers, min(shares)


def _waits_for_input(part: pa.Table, writers: list[int]) -> np.ndarray:
    """Which calls of the slice `part` are the `writers`' waits for their own input."""
    found = np.isin(numbers(part["tid"]), np.array(writers, dtype=np.float64))
    rows = np.flatnonzero(found)
    if len(rows) == 0:
        return found
    mine = part.take(pa.array(rows))
    names = mine["syscall"]
    input_class = filled_numpy(
        pc.is_in(target_classes(with_paths(mine)), pa.array(sorted(INPUT_CLASSES))), False
    )
    found[rows] = is_in(names, WRITER_WAITS) | (is_in(names, frozenset(_READS)) & input_class)
    return found


def _idle_waits(trace: StraceTables) -> np.ndarray:
    """Which calls are `IDLE_WAITS`, a slice at a time."""
    found = np.zeros(trace.syscalls.num_rows, dtype=bool)
    for offset, part in slices(trace.syscalls, ["syscall"]):
        found[offset : offset + part.num_rows] = call_names.calls_named(
            trace, offset, part, IDLE_WAITS
        )
    return found


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The slow_syscall findings of one trace.

    Two scans a slice at a time: the first sums every (syscall, resource) group, the
    second gathers the calls of the groups that may be reported. Only a bool or two and a
    2-byte group slot per call are held, besides the durations of the candidate groups."""
    calls = trace.syscalls
    if calls.num_rows == 0:
        return []
    # (a byte per call each, in place: two such masks at a time, not three; 100 MB each at
    # 100M lines)
    idling = _idle_waits(trace)
    waiting = np.logical_not(idling, out=idling)
    # A poll on one connected socket, pipe or file is a wait on that resource, not idling.
    waiting |= one_resource_waits(calls, trace.wait_fds, trace)
    # A server reading its client's next request is idle, however long that takes.
    clients = client_waits(calls, trace.wait_fds, trace)
    waiting &= np.logical_not(clients, out=clients)
    del clients
    keys_of = _Keys(keeps_slices(trace))
    possible = _possible_buckets(trace, waiting, keys_of, config)
    if not possible.any():
        return []
    scan = _scan(trace, waiting, keys_of, possible)
    encoded = keys_of
    if len(scan.count) == 0:
        return []
    chosen = _candidate_groups(scan, trace.wall_s, config)
    if not chosen:
        return []
    judge = {
        slot: config.slow_syscall_s if scan.max_s[slot] >= config.slow_syscall_s else -np.inf
        for slot in chosen
        if _syscall(keys_of, scan, slot) in _READS
        and _resource(scan, slot) >= 0
        and encoded.classes[_resource(scan, slot)] == "pipe"
    }
    members = _gather(
        trace, waiting, keys_of, scan, possible, chosen, judge, max(config.max_samples, 1)
    )
    groups = _exact_groups(scan, members, trace.wall_s, config)
    if groups.empty:
        return []
    top_rows = np.unique(np.concatenate([members[int(s)].top_rows for s in groups["key"]]))
    top = taken(calls, ["start_s", "tid", "pid", "line_start", "line_end"], top_rows)
    top_duration = call_durations(taken(calls, ["duration_s", "start_s", "end_s"], top_rows))
    top_starts, top_tids, top_pids = (numbers(top[n]) for n in ("start_s", "tid", "pid"))
    top_lines = cited_lines(top)

    def at(row: int) -> int:
        return int(np.searchsorted(top_rows, row))

    findings = []
    for group in groups.itertuples(index=False):
        slot = int(group.key)
        member = members[slot]
        syscall = _syscall(keys_of, scan, slot)
        resource_code = _resource(scan, slot)
        resource = encoded.names[resource_code] if resource_code >= 0 else None
        target_class = encoded.classes[resource_code] if resource_code >= 0 else None
        durations = member.durations
        slowest = at(int(member.top_rows[0]))
        # munmap, brk, a path-less stat ...: calls without an fd are not "on" anything
        fdless = resource is None and not member.has_fd
        where = None if fdless else describe(target_class, resource)
        on_where = f" on {where}" if where else ""
        slow_calls = int((durations >= config.slow_syscall_s).sum())
        # the group's durations are not needed after this: partition them in place
        p95 = float(np.percentile(durations, 95, overwrite_input=True))
        outliers: list[dict[str, Any]] = [
            {
                "line": int(top_lines[index]),
                "tid": None if np.isnan(top_tids[index]) else int(top_tids[index]),
                "start": float(top_starts[index]),
                "duration_s": float(top_duration[index]),
            }
            for index in map(at, member.top_rows[: config.max_samples].tolist())
            if top_duration[index] >= config.slow_syscall_s
        ]
        member_tids = sorted(member.tids)
        share = group.total_s / trace.wall_s if trace.wall_s else None
        thread_share = (
            group.total_s / (max(len(member_tids), 1) * trace.wall_s) if trace.wall_s else None
        )
        errors = member.errors
        evidence: dict[str, Any] = {
            "syscall": syscall,
            "target": resource,
            "target_kind": target_class,
            "count": int(group.count),
            "total_s": float(group.total_s),
            "p95_s": p95,
            "max_s": float(group.max_s),
            "share_of_wall": share,
            "share_of_thread_time": thread_share,
            "errors": errors,
            "threads": member_tids[: config.max_samples * 4],
            "thread_count": len(member_tids),
            "slow_calls": slow_calls,
            "outliers": outliers,
            "threshold_s": config.slow_syscall_s,
        }
        severity: Severity = (
            "error"
            if group.max_s >= 1.0 or (thread_share or 0) >= 0.5
            else "warning"
            if slow_calls or (thread_share or 0) >= config.slow_syscall_share
            else "info"
        )
        producer = ""
        if target_class == "pipe" and syscall in _READS and resource_code >= 0:
            read_starts = np.concatenate([np.zeros(0)] + [s for s, _ in member.judged])
            read_s = np.concatenate([np.zeros(0)] + [d for _, d in member.judged])
            idle = idle_writers(
                trace,
                sorted(member.writers),
                read_starts,
                read_starts + read_s,
            )
            if idle is not None:
                writers, writers_waiting = idle
                evidence["writers"] = writers[: config.max_samples * 4]
                evidence["writers_waiting_share"] = writers_waiting
                if writers_waiting >= IDLE_PRODUCER_SHARE:
                    severity = "info"
                    producer = (
                        f" The pipe's {plural(len(writers), 'writer')} "
                        f"({', '.join(str(t) for t in writers[:5])}) waited for input "
                        f"{writers_waiting:.0%} of that time or more: nothing was being "
                        "produced, the readers were idle consumers waiting for work."
                    )
        share_text = ""
        if len(member_tids) > 1 and thread_share is not None:
            share_text = (
                f", {thread_share:.0%} of the time of its {len(member_tids)} threads over the "
                f"{trace.wall_s:.3f} s traced"
            )
        elif share:
            share_text = f", {share:.0%} of the {trace.wall_s:.3f} s traced"
        message = (
            f"{group.count} {syscall} call{'s' if group.count != 1 else ''}{on_where} "
            f"took {group.total_s:.3f} s in total{share_text} "
            f"(p95 {p95 * 1e3:.1f} ms, max {group.max_s * 1e3:.1f} ms) across "
            f"{len(member_tids)} thread{'s' if len(member_tids) != 1 else ''}; "
            + (
                f"{slow_calls} took {config.slow_syscall_s * 1e3:g} ms or more."
                if slow_calls
                else f"none took {config.slow_syscall_s * 1e3:g} ms or more: reported for the "
                "share of the traced time these calls held threads."
            )
            + (
                " The threads were free the rest of their time: many quick calls from "
                "several threads (a busy pool on a fast resource), not a slow one."
                if severity == "info" and not producer
                else ""
            )
            + producer
        )
        if syscall in WAITS_ON_SETS and where:
            title = f"Waits for {where} in {syscall}"
        else:
            title = f"Slow {syscall}{on_where}"
        if slow_calls == 0 and thread_share:
            # Reported for the time it holds, not for one slow call: say so.
            title = f"{syscall}{on_where} held threads {thread_share:.0%} of their time"
        pid = None if np.isnan(top_pids[slowest]) else int(top_pids[slowest])
        tid = int(top_tids[slowest]) if len(member_tids) == 1 else None
        findings.append(
            Finding(
                code=CODE,
                kind=KIND,
                severity=severity,
                title=title,
                message=message,
                evidence=evidence,
                fix=fix_for(syscall, target_class, where),
                input=trace.input,
                pid=pid,
                tid=tid,
                start=float(top_starts[slowest]),
                duration_s=float(top_duration[slowest]),
                cost_s=float(group.total_s),
                lines=tuple(o["line"] for o in outliers),
                culprit=Culprit(pid=pid, tid=tid, role="waiting"),
                resource=(
                    Resource(target_class or "other", resource, where)
                    if resource is not None and where
                    else None
                ),
            )
        )
    return findings


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
