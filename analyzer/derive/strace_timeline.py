"""The thread timeline: what each thread did over time, in time buckets.

One lane per thread (what ``top -H`` shows live, what Perfetto shows of a kernel trace): the
trace's span is cut into `buckets` equal time buckets, and for each thread and bucket the
seconds it spent in each *state* are summed from its calls (`syscalls` table):

- ``running``: inside the thread's life and in no syscall (user space: on a CPU, or runnable);
- ``file``, ``net``, ``pipe``: in a call on a file (or device, or a path), a socket, a pipe;
- ``lock``: in ``futex``, ``flock`` or a blocking ``fcntl`` lock (F_SETLKW);
- ``sleep``: in ``nanosleep``/``clock_nanosleep``;
- ``idle``: waiting by design (epoll/poll/select, accept, wait4, sigsuspend...);
- ``syscall``: in any other call.

A bucket shows its *dominant* state (the most seconds) and, for it, the resource of the longest
call of that state overlapping the bucket (the file, the socket, the pipe, ``futex 0x...``).

Thousands of threads and millions of calls stay usable: the work is a few numpy passes over
the calls (each call adds to at most two partial buckets and one range of full ones, the
ranges summed with a difference array), and only the `lanes` busiest threads get a lane of
their own (threads named in `focus` first, then by time spent in anything but idle waits);
the rest are collapsed into one last lane, ``N more threads``, whose buckets sum theirs.
Threads that only ever waited idle are counted in that lane too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, numbers, row_slices
from analyzer.derive.strace_families import (
    FLUSHES,
    PATH_CALLS,
    SLEEPS,
    SOCKET_CALLS,
    SOCKET_CLASSES,
)

__all__ = [
    "IDLE_CALLS",
    "LOCK_CALLS",
    "STATES",
    "STATE_LABELS",
    "Lane",
    "Timeline",
    "call_states",
    "timeline",
]

STATES: tuple[str, ...] = ("running", "file", "net", "pipe", "lock", "sleep", "idle", "syscall")
"""The states of a thread, in legend order."""
STATE_LABELS: dict[str, str] = {
    "running": "running (no syscall)",
    "file": "file I/O",
    "net": "network I/O",
    "pipe": "pipe I/O",
    "lock": "lock wait",
    "sleep": "sleeping",
    "idle": "idle wait (epoll, poll, accept ...)",
    "syscall": "other syscall",
}
RUNNING, FILE, NET, PIPE, LOCK, SLEEP, IDLE, SYSCALL = range(len(STATES))

IDLE_CALLS: frozenset[str] = frozenset(
    {
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "poll",
        "ppoll",
        "select",
        "pselect6",
        "_newselect",
        "accept",
        "accept4",
        "wait4",
        "waitid",
        "pause",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "sigsuspend",
        "restart_syscall",
        "io_getevents",
        "io_pgetevents",
        "io_uring_enter",
    }
)
"""Calls whose length is waiting by design (for events, a client, a child)."""
LOCK_CALLS: frozenset[str] = frozenset({"futex", "flock"})
_FILE_KINDS = frozenset({"file", "device"})


@dataclass(frozen=True)
class Lane:
    """One row of the timeline: a thread, or the collapsed rest (`tid` None)."""

    tid: int | None
    pid: int | None
    comm: str | None
    label: str
    threads: int
    """Threads in the lane (1, or how many were collapsed into it)."""
    busy_s: float
    """Seconds in any state but ``idle`` (the ranking key)."""
    state_s: tuple[float, ...]
    """Seconds per state (`STATES` order) over the whole trace."""


@dataclass(frozen=True)
class Timeline:
    """The timeline of one trace (see the module docstring)."""

    input: str
    start_s: float
    """Start of the first bucket, on the trace's clock."""
    bucket_s: float
    """Width of one bucket, seconds."""
    lanes: list[Lane]
    state: np.ndarray
    """int8 [lane, bucket]: the dominant state (index into `STATES`), -1 where the lane's
    threads were not alive (or not seen) in the bucket."""
    share: np.ndarray
    """float [lane, bucket]: the dominant state's share of the lane's seconds there."""
    resource: list[list[str | None]]
    """[lane][bucket]: the resource of the dominant state, when it has one."""
    seconds: np.ndarray
    """float [lane, bucket, state]: seconds per state (summed over a collapsed lane's
    threads)."""
    threads: int
    """Threads in the trace."""
    collapsed: int
    """Threads in the last lane (0 when every thread has its own)."""
    notes: list[str] = field(default_factory=list)

    @property
    def buckets(self) -> int:
        return int(self.state.shape[1])

    @property
    def end_s(self) -> float:
        return self.start_s + self.bucket_s * self.buckets

    def runs(self, lane: int) -> list[tuple[int, int, int]]:
        """The lane as runs of one state: (first bucket, bucket count, state), state -1 for
        gaps; a run also breaks where the resource changes."""
        row, res = self.state[lane], self.resource[lane]
        out: list[tuple[int, int, int]] = []
        start = 0
        for index in range(1, len(row) + 1):
            if index == len(row) or row[index] != row[start] or res[index] != res[start]:
                out.append((start, index - start, int(row[start])))
                start = index
        return out

    def to_table(self) -> pa.Table:
        """One row per lane and non-empty bucket: ``lane, tid, bucket, start_s, state,
        resource, share`` (``tid`` null for the collapsed lane)."""
        lanes, buckets = np.nonzero(self.state >= 0)
        return pa.table(
            {
                "lane": pa.array(lanes, pa.int64()),
                "tid": pa.array([self.lanes[i].tid for i in lanes], pa.int64()),
                "bucket": pa.array(buckets, pa.int64()),
                "start_s": pa.array(self.start_s + buckets * self.bucket_s, pa.float64()),
                "state": pa.array(
                    [STATES[self.state[i, j]] for i, j in zip(lanes, buckets, strict=False)]
                ),
                "resource": pa.array(
                    [self.resource[i][j] for i, j in zip(lanes, buckets, strict=False)], pa.string()
                ),
                "share": pa.array(self.share[lanes, buckets], pa.float64()),
            }
        )


def call_states(calls: pa.Table) -> np.ndarray:
    """The state (index into `STATES`) of each call of a `syscalls` table."""
    n = calls.num_rows
    states = np.full(n, SYSCALL, dtype=np.int8)
    if n == 0:
        return states
    name = calls["syscall"]
    kind = contiguous(calls["target_kind"])
    kinds = np.asarray(filled_numpy(kind, ""), dtype=object)
    file_kind = np.isin(kinds, list(_FILE_KINDS))
    socket_kind = np.isin(kinds, list(SOCKET_CLASSES))
    states[file_kind | is_in(name, PATH_CALLS | FLUSHES)] = FILE
    states[socket_kind | is_in(name, SOCKET_CALLS | {"connect"})] = NET
    states[kinds == "pipe"] = PIPE
    args = contiguous(calls["args"])
    lock_wait = is_in(name, frozenset({"fcntl", "fcntl64"})) & filled_numpy(
        pc.match_substring_regex(args, r"F_(?:OFD_)?SETLKW"), False
    )
    states[is_in(name, LOCK_CALLS) | lock_wait] = LOCK
    states[is_in(name, SLEEPS)] = SLEEP
    states[is_in(name, IDLE_CALLS)] = IDLE
    return states


def _resources(calls: pa.Table, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The resource of each call as a code into the returned names (-1 when unknown): its
    target, the futex address of a lock wait, the first path argument of a path call."""
    target = contiguous(calls["target"])
    names = contiguous(calls["syscall"])
    args = contiguous(calls["args"])
    missing = np.asarray(pc.is_null(target).to_numpy(zero_copy_only=False), dtype=bool)
    futex = missing & (states == LOCK) & is_in(names, frozenset({"futex"}))
    path = missing & (states == FILE)
    values = np.asarray(target.to_numpy(zero_copy_only=False), dtype=object)
    if futex.any():
        first = pc.extract_regex(args.filter(pa.array(futex)), r"^(?P<first>[^,]*)").field(0)
        values[futex] = [f"futex {v}" if v else None for v in first.to_pylist()]
    if path.any():
        quoted = pc.extract_regex(args.filter(pa.array(path)), r'"(?P<p>[^"]*)"').field(0)
        values[path] = quoted.to_pylist()
    encoded = pc.dictionary_encode(pa.array(values, pa.string()))
    codes = filled_numpy(encoded.indices, -1)
    return codes.astype(np.int64), encoded.dictionary.to_pylist()


ROWS_PER_SLICE = 1 << 18
"""Calls read at a time: the timeline holds one slice's arrays (and the strings of its
targets), never the whole trace's (a long trace's calls are a mapped file; whole-trace copies
of status, kinds and targets took 300-400 bytes per call, 4.9 GiB at 10M lines)."""

_COLUMNS = (
    "input", "tid", "pid", "syscall", "start_s", "end_s", "status", "args", "target", "target_kind"
)  # fmt: skip


def _bucket(times: np.ndarray, nb: int, t0: float, width: float) -> np.ndarray:
    """The bucket of each time (the first or last bucket beyond the span)."""
    return np.clip(((times - t0) / width).astype(np.int64), 0, nb - 1)


def _partial_spread(
    cells: np.ndarray,
    nb: int,
    lane: np.ndarray,
    slot: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    t0: float,
    width: float,
) -> tuple[np.ndarray, ...]:
    """Add to ``cells[lane, bucket, slot]`` the seconds of the intervals [start, end) that lie
    in one bucket; return the others (lane, slot, first bucket, last bucket, start, end), which
    cross a bucket edge: a thread's calls do not overlap, so they are at most one per edge and
    thread, a few thousand whatever the trace's length."""
    b0, b1 = _bucket(start, nb, t0, width), _bucket(end, nb, t0, width)
    same = b0 == b1
    np.add.at(cells, (lane[same], b0[same], slot[same]), end[same] - start[same])
    many = ~same
    return lane[many], slot[many], b0[many], b1[many], start[many], end[many]


def _crossing_spread(
    cells: np.ndarray,
    nb: int,
    crossing: tuple[np.ndarray, ...],
    t0: float,
    width: float,
) -> None:
    """Add to `cells` the seconds of the intervals `_partial_spread` returned."""
    lane, slot, b0, b1, start, end = crossing
    if not len(lane):
        return
    np.add.at(cells, (lane, b0, slot), t0 + (b0 + 1) * width - start)
    np.add.at(cells, (lane, b1, slot), end - (t0 + b1 * width))
    inner = b1 - b0 > 1
    if inner.any():
        diff = np.zeros((cells.shape[0], nb + 1, cells.shape[2]))
        np.add.at(diff, (lane[inner], b0[inner] + 1, slot[inner]), 1.0)
        np.add.at(diff, (lane[inner], b1[inner], slot[inner]), -1.0)
        cells += np.cumsum(diff, axis=1)[:, :nb, :] * width


def _spread(
    cells: np.ndarray,
    nb: int,
    lane: np.ndarray,
    slot: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    t0: float,
    width: float,
) -> None:
    """Add the seconds of intervals [start, end) to ``cells[lane, bucket, slot]``."""
    if len(start) == 0:
        return
    crossing = _partial_spread(cells, nb, lane, slot, start, end, t0, width)
    _crossing_spread(cells, nb, crossing, t0, width)


@dataclass
class _Slice:
    """The timed calls of one slice of the table, with their times as the timeline reads
    them (an open-ended call in flight ends at the trace's end, another at its start)."""

    calls: pa.Table
    first_row: int
    starts: np.ndarray
    ends: np.ndarray
    tids: np.ndarray


def _timed_slices(
    calls: pa.Table, columns: Iterable[str], t1: float | None, rows_per_slice: int
) -> Iterable[_Slice]:
    wanted = [name for name in columns if name in calls.column_names]
    for offset, part in row_slices(calls, wanted, rows_per_slice):
        starts = numbers(part["start_s"])
        timed = ~np.isnan(starts)
        if not timed.any():
            continue
        rows = np.flatnonzero(timed)
        part = part if len(rows) == part.num_rows else part.take(pa.array(rows))
        starts = starts[timed]
        ends = numbers(part["end_s"])
        if t1 is not None:
            status = np.asarray(part["status"].to_numpy(zero_copy_only=False), dtype=object)
            open_ended = np.isnan(ends)
            ends = np.where(
                open_ended & (status == "in-flight"), t1, np.where(open_ended, starts, ends)
            )
            ends = np.maximum(ends, starts)
        tids = numbers(part["tid"]).astype(np.int64)
        yield _Slice(part, offset + int(rows[0]), starts, ends, tids)


def timeline(
    calls: pa.Table,
    tasks: pa.Table | None = None,
    *,
    buckets: int = 400,
    lanes: int = 40,
    focus: Iterable[int] = (),
    end_s: float | None = None,
    rows_per_slice: int = ROWS_PER_SLICE,
) -> Timeline | None:
    """The timeline of one trace's `calls` (`syscalls` rows of one input), cut into `buckets`
    buckets, with at most `lanes` thread lanes plus one collapsed lane. `tasks` (same input)
    gives thread names and lives; `focus` lists tids that get a lane first (the findings'
    threads); `end_s` is the end of the trace (default: the last call's end).

    None when there is nothing to draw: no call with a time, or no call durations (without
    ``-T`` or unfinished/resumed pairs a call's end is unknown).

    The calls are read `rows_per_slice` at a time, three times: the span and the threads;
    each thread's seconds per state (which decide the lanes); the buckets. Every sum is
    made in call order, so the result is the same whatever the slice size.
    """
    # 1. The span, the threads, whether any call has a duration.
    t0, t1 = np.inf, -np.inf
    has_duration = False
    first_input: str | None = None
    thread_sets: list[np.ndarray] = []
    for part in _timed_slices(calls, ("input", "start_s", "end_s", "tid"), None, rows_per_slice):
        has_duration |= bool((~np.isnan(part.ends) & (part.ends > part.starts)).any())
        t0 = min(t0, float(part.starts.min()))
        t1 = max(t1, float(np.nanmax(np.concatenate([part.starts, part.ends]))))
        thread_sets.append(np.unique(part.tids))
        if first_input is None:
            first_input = str(part.calls["input"][0])
    if not thread_sets or not has_duration:
        return None
    if end_s is not None and np.isfinite(end_s):
        t1 = max(t1, float(end_s))
    span = max(t1 - t0, 1e-6)
    nb = max(int(buckets), 1)
    width = span / nb

    # 2. Each thread's seconds per state, life and process.
    thread_ids = np.unique(np.concatenate(thread_sets))
    nt = len(thread_ids)
    per_state = np.zeros((nt, len(STATES)))
    first = np.full(nt, np.inf)
    last = np.full(nt, -np.inf)
    pid_of = np.full(nt, np.nan)
    for part in _timed_slices(calls, _COLUMNS, t1, rows_per_slice):
        thread_of = np.searchsorted(thread_ids, part.tids)
        states = call_states(part.calls)
        np.add.at(per_state, (thread_of, states), part.ends - part.starts)
        np.minimum.at(first, thread_of, part.starts)
        np.maximum.at(last, thread_of, part.ends)
        pid_of[thread_of] = numbers(part.calls["pid"])
    comm_of: dict[int, str] = {}
    if tasks is not None and tasks.num_rows:
        for tid, comm, exited in zip(
            tasks["tid"].to_pylist(),
            tasks["comm"].to_pylist(),
            tasks["exited_s"].to_pylist(),
            strict=False,
        ):
            if comm:
                comm_of[int(tid)] = str(comm)
            if exited is not None and tid in thread_ids:
                index = int(np.searchsorted(thread_ids, tid))
                last[index] = max(last[index], min(float(exited), t1))
    life = np.maximum(last - first, 0.0)
    per_state[:, RUNNING] = np.maximum(life - per_state.sum(axis=1), 0.0)
    busy = per_state.sum(axis=1) - per_state[:, IDLE]

    focus_set = {int(t) for t in focus}
    order = sorted(
        range(nt),
        key=lambda i: (int(thread_ids[i]) not in focus_set, -busy[i], int(thread_ids[i])),
    )
    own = [i for i in order if busy[i] > 0 or int(thread_ids[i]) in focus_set][:lanes]
    if len(own) == nt - 1:
        own = order[:nt]  # a lane for one thread is no collapse
    own.sort(key=lambda i: (np.nan_to_num(pid_of[i]), first[i], int(thread_ids[i])))
    lane_of = np.full(nt, len(own), dtype=np.int64)
    lane_of[own] = np.arange(len(own))
    rest = np.setdiff1d(np.arange(nt), own)
    nl = len(own) + (1 if len(rest) else 0)

    # 3. The buckets: seconds per lane, bucket and state, and the resource of the longest
    # call of each state overlapping a bucket (of equally long calls, the last one).
    cells = np.zeros((nl, nb, len(STATES)))
    crossing: list[tuple[np.ndarray, ...]] = []
    best_length = np.full(nl * nb * len(STATES), -np.inf)
    best_name = np.full(nl * nb * len(STATES), None, dtype=object)
    for part in _timed_slices(calls, _COLUMNS, t1, rows_per_slice):
        states = call_states(part.calls)
        call_lane = lane_of[np.searchsorted(thread_ids, part.tids)]
        slots = states.astype(np.int64)
        crossing.append(
            _partial_spread(cells, nb, call_lane, slots, part.starts, part.ends, t0, width)
        )
        codes, names = _resources(part.calls, states)
        with_res = np.nonzero(codes >= 0)[0]
        if not len(with_res):
            continue
        b0 = _bucket(part.starts[with_res], nb, t0, width)
        b1 = _bucket(part.ends[with_res], nb, t0, width)
        counts = b1 - b0 + 1
        repeat = np.repeat(np.arange(len(with_res)), counts)
        offsets = np.arange(len(repeat)) - np.repeat(np.cumsum(counts) - counts, counts)
        calls_at = with_res[repeat]
        flat = (call_lane[calls_at] * nb + b0[repeat] + offsets) * len(STATES) + states[calls_at]
        lengths = part.ends[calls_at] - part.starts[calls_at]
        # Per cell the longest, and of equally long ones the last in call order; a later
        # slice's call is later than any before it, so it wins a tie.
        order_by = np.lexsort((calls_at, lengths, flat))
        last_of_cell = np.append(flat[order_by][1:] != flat[order_by][:-1], True)
        winners = order_by[last_of_cell]
        cell = flat[winners]
        better = lengths[winners] >= best_length[cell]
        best_length[cell[better]] = lengths[winners][better]
        best_name[cell[better]] = [names[code] for code in codes[calls_at[winners[better]]]]
    edges = tuple(np.concatenate([part[field] for part in crossing]) for field in range(6))
    _crossing_spread(cells, nb, edges, t0, width)
    alive = np.zeros((nl, nb, 1))
    _spread(alive, nb, lane_of, np.zeros(nt, dtype=np.int64), first, np.maximum(last, first), t0,
            width)  # fmt: skip
    in_calls = cells.sum(axis=2)
    cells[:, :, RUNNING] += np.maximum(alive[:, :, 0] - in_calls, 0.0)
    total = cells.sum(axis=2)
    dominant = cells.argmax(axis=2).astype(np.int8)
    present = total > width * 1e-6
    dominant[~present] = -1
    share = np.where(present, cells.max(axis=2) / np.where(present, total, 1.0), 0.0)
    picked = best_name.reshape(nl, nb, len(STATES))
    resource = [
        [picked[lane, bucket, d] if d >= 0 else None for bucket, d in enumerate(drow)]
        for lane, drow in enumerate(dominant.tolist())
    ]

    lane_rows: list[Lane] = []
    for i in own:
        tid = int(thread_ids[i])
        pid = None if np.isnan(pid_of[i]) else int(pid_of[i])
        comm = comm_of.get(tid)
        label = f"tid {tid}" + (f" {comm}" if comm else "")
        lane_rows.append(
            Lane(tid, pid, comm, label, 1, float(busy[i]), tuple(map(float, per_state[i])))
        )
    if len(rest):
        idle_only = int(np.sum(busy[rest] <= 0))
        label = f"{len(rest)} more threads"
        if idle_only:
            label += f" ({idle_only} only idle)"
        lane_rows.append(
            Lane(
                None,
                None,
                None,
                label,
                len(rest),
                float(busy[rest].sum()),
                tuple(map(float, per_state[rest].sum(axis=0))),
            )
        )
    return Timeline(
        input=first_input or "",
        start_s=t0,
        bucket_s=width,
        lanes=lane_rows,
        state=dominant,
        share=share,
        resource=resource,
        seconds=cells,
        threads=nt,
        collapsed=len(rest),
    )
