"""IOD018 pipe_backpressure: writers blocked on a full pipe, and the slow reader behind it.

**What it finds.** Writes (``write``, ``writev``, ``vmsplice``) on a pipe that took at least
`BLOCKED_WRITE_S`: a write to a pipe with room copies the bytes and returns in microseconds;
one that takes milliseconds slept in ``pipe_write`` (``fs/pipe.c``) because the pipe's
buffer (16 pages, 64 KiB by default, pipe(7) "Pipe capacity") was full, until the reader
freed room. The cause is at the other end: the process that reads the pipe
(`analyzer.derive.strace_pipes.pipe_readers`: the task whose reads drain it, or the process
it was handed to as stdin at fork/exec) and how it reads (buffer size, full reads, what it
does between reads: sleeps, its own I/O, CPU). A connected UNIX socket (a stream to
journald, a socketpair to a helper; ``send*`` too) blocks the same way when the peer's
receive queue is full (unix(7)); its reader is the task that reads the peer end
(``UNIX-STREAM:[B->A]`` for the writer's ``[A->B]`` with ``-yy``), usually not traced when
it is the system's log daemon. A pipe or socket is reported when its blocked writes add up
to `PassConfig.slow_syscall_s`.

**What queues behind the writer.** A thread that writes under a lock keeps the lock while
it is blocked: CPython's ``logging.Handler.handle()`` takes the handler's lock (a
``threading.RLock``, ``Handler.createLock``) around ``emit()``, which writes and flushes the
stream (``Lib/logging/__init__.py``), and every other thread that logs waits for that lock
in ``futex(ADDR, FUTEX_WAIT...)``. The lock is found from the trace: the futex word that the
writers wake (``FUTEX_WAKE``, the release) right after their blocked writes return, whose
other waiters were waiting while the writes were blocked. Those lock waits are part of this
root cause: they are in `cost_s`, and the IOD005 finding on that lock is explained (the
same waiting, not added). Without a lock (one writer thread), the cost is the blocked
writes.

**Which advice.** When the pipe is the writer's stdout or stderr (fd 1 or 2), the writes
are log records (a timestamp or a level word at the start) or the socket's path names a log
collector (``/dev/log``, journald), it is logging back-pressure:
the fix is a ``logging.handlers.QueueHandler`` with a ``QueueListener`` thread (a bounded
queue that drops or samples instead of blocking), a faster or non-blocking shipper, or a
log sink that buffers more (journald); a bigger pipe (``F_SETPIPE_SZ``) only buys time.
Otherwise the reader is a consumer of data: make it read more per call and do its slow work
off its reading thread.

**Event loops.** When the blocked writer is an event-loop thread that IOD002 (blocked_loop,
an earlier pass) reports, the loop being blocked is the root cause the verdict names (the
fix is to take the writes off the loop). This finding then only names the reader: its
``cost_s`` leaves out the loop's blocked writes, and with nothing else left it is ``info``,
so it never outranks the loop's finding. The evidence keys ``reader`` (pid, name, how it
reads), ``pipe``, ``loop_writers`` and ``loop_blocked_s`` are for that pass and the
verdict to quote.

`severity`: error when a blocked write or lock wait lasted `LONG_WAIT_S`, or the waits add
up to `SEVERE_SHARE` of the traced time; else warning. The finding explains the IOD001
findings on the pipe and the IOD004 pile-ups on it, the lock findings on the writers' lock,
and IOD012 sleep-retry findings of the reader's own threads (a reader that paces itself
with sleeps is not retrying a lock).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, is_in, numbers, take_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_durations
from analyzer.derive.strace_names import process_names
from analyzer.derive.strace_pipes import PIPE_WRITES, SOCKET_WRITES, PipeReader, pipe_readers
from analyzer.passes.base import (
    Culprit,
    Explains,
    Finding,
    Pass,
    PassConfig,
    PassInputs,
    Resource,
    Severity,
)
from analyzer.passes.call_slices import slices
from analyzer.passes.common import in_flight, percentile, plural
from analyzer.passes.targets import (
    coded_slice_paths,
    describe,
    resources,
)

CODE = "IOD018"
KIND = "pipe_backpressure"
BLOCKED_WRITE_S = 0.005
"""A pipe write this long waited for room (an unblocked one takes microseconds)."""
LONG_WAIT_S = 1.0
SEVERE_SHARE = 0.5
MAX_PIPES = 5
"""Pipes reported per trace at most (most blocked first)."""
LOCK_WINDOW_S = 0.05
"""How long after a blocked write the writer's release of the lock it held is looked for."""
LOCK_KINDS = ("lock_contention", "lock_holder")
CHANNELS = frozenset({"pipe", "unix"})
"""Target classes whose writes wait for a reader: pipes, and connected UNIX sockets (a
stream to journald, a socketpair to a helper)."""
WRITES = PIPE_WRITES | SOCKET_WRITES
LOG_SINKS = re.compile(r"/dev/log|journal|syslog|rsyslog|fluent|vector|logstash")
"""A socket path that names a log collector."""
"""Finding kinds about a lock that queued behind the blocked writers."""

_LOG_RECORD = re.compile(
    r'^\s*-?\d+(?:<[^>]*>)?, (?:\[\{iov_base=)?"(?:'
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d"  # 2026-12-05 08:15:14 / ISO 8601
    r"|\[?\d\d:\d\d:\d\d"  # 08:15:14
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:"  # syslog: Dec  5 08:15
    r"|<\d+>"  # syslog priority
    r"|\[?(?:DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL|NOTICE|TRACE)\b"
    r'|\{\\"(?:time|ts|timestamp|level|msg|message|@timestamp)\\"'
    r")"
)
"""The start of a log record in a write's data: a timestamp, a level, a JSON log line."""
_FUTEX = re.compile(r"^(?P<address>0x[0-9a-f]+), (?P<op>[A-Z_]+)")
_WAKES = frozenset({"FUTEX_WAKE", "FUTEX_WAKE_OP", "FUTEX_UNLOCK_PI", "FUTEX_WAKE_BITSET"})
_WAITS = frozenset({"FUTEX_WAIT", "FUTEX_WAIT_BITSET", "FUTEX_LOCK_PI", "FUTEX_LOCK_PI2"})


@dataclass(frozen=True)
class _Writes:
    """The writes on one pipe (or UNIX socket)."""

    kind: str
    """``pipe`` or ``unix``."""
    rows: np.ndarray
    tids: np.ndarray
    pids: np.ndarray
    fds: np.ndarray
    starts: np.ndarray
    durations: np.ndarray
    args: list[str | None]

    @property
    def blocked(self) -> np.ndarray:
        return self.durations >= BLOCKED_WRITE_S


@dataclass(frozen=True)
class _Lock:
    """The lock the blocked writers held, and the waits on it."""

    address: str
    pid: int
    woken_after: int
    """Blocked writes followed by the writer's FUTEX_WAKE on this word."""
    waits: int
    wait_s: float
    max_wait_s: float
    p95_wait_s: float
    waiters: list[int]
    peak_waiters: int
    overlap_s: float
    """Wait time that lay inside blocked writes."""
    loop_wait_s: float
    """Wait time of event-loop threads (counted by IOD002)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "futex": self.address,
            "pid": self.pid,
            "woken_after_blocked_writes": self.woken_after,
            "waits": self.waits,
            "wait_total_s": self.wait_s,
            "max_wait_s": self.max_wait_s,
            "p95_wait_s": self.p95_wait_s,
            "waiters": self.waiters[:40],
            "waiter_count": len(self.waiters),
            "peak_waiters": self.peak_waiters,
            "during_blocked_writes_s": self.overlap_s,
            "loop_wait_s": self.loop_wait_s,
        }


def _loop_tids(earlier: Sequence[Finding], trace: StraceTables) -> set[int]:
    return {
        int(f.evidence["loop_tid"])
        for f in earlier
        if f.kind == "blocked_loop"
        and f.input == trace.input
        and f.severity != "info"
        and isinstance(f.evidence.get("loop_tid"), int)
    }


def _pipe_writes(trace: StraceTables) -> dict[str, _Writes]:
    """The writes on each pipe (or connected UNIX socket) that has a blocked write, pipes in
    the order of their first call (of any kind), read a slice at a time."""
    calls = trace.syscalls
    first_row: dict[str, int] = {}
    kind_of: dict[str, str] = {}
    found_rows: list[np.ndarray] = []
    found_durations: list[np.ndarray] = []
    found_texts: list[str] = []
    columns = ["syscall", "target", "fd", "args", "duration_s", "start_s", "end_s"]
    for offset, part in slices(calls, columns):
        paths = coded_slice_paths(trace, offset, part)
        encoded = paths.encoded
        if len(encoded.dictionary) == 0:
            continue
        classes = np.asarray(paths.classes().to_pylist(), dtype=object)
        channel = np.isin(classes, list(CHANNELS))
        if not channel.any():
            continue
        entries = np.flatnonzero(channel)
        texts = resources(encoded.dictionary.take(pa.array(entries))).to_pylist()
        text_of_entry = np.full(len(channel) + 1, -1, dtype=np.int64)
        text_of_entry[entries] = np.arange(len(entries))
        indices = paths.codes.astype(np.int64)
        seen, first = np.unique(indices, return_index=True)
        for entry, row in zip(seen.tolist(), first.tolist(), strict=True):
            if entry >= 0 and channel[entry]:
                text = texts[int(text_of_entry[entry])]
                if text not in first_row:
                    first_row[text] = offset + row
                    kind_of[text] = str(classes[entry])
        # codes are -1 for calls without a target: they index the final -1
        on_channel = text_of_entry[indices] >= 0
        rows = np.flatnonzero(on_channel & is_in(part["syscall"], WRITES))
        if len(rows) == 0:
            continue
        durations = call_durations(part)[rows]
        found_rows.append(offset + rows)
        found_durations.append(np.nan_to_num(durations, nan=0.0))
        found_texts.extend(texts[int(i)] for i in text_of_entry[indices[rows]])
    if not found_rows:
        return {}
    order = sorted(first_row, key=first_row.__getitem__)
    code_of = {text: code for code, text in enumerate(order)}
    rows = np.concatenate(found_rows)
    durations = np.concatenate(found_durations)
    codes = np.array([code_of[text] for text in found_texts], dtype=np.int64)
    blocked_codes = np.unique(codes[durations >= BLOCKED_WRITE_S])
    keep = np.isin(codes, blocked_codes)
    rows, durations, codes = rows[keep], durations[keep], codes[keep]
    if len(rows) == 0:
        return {}
    picked = take_rows(calls.select(["tid", "pid", "fd", "start_s", "args"]), rows)
    found = {}
    for code in blocked_codes:
        member = codes == code
        name = order[int(code)]
        found[name] = _Writes(
            kind=kind_of[name],
            rows=rows[member],
            tids=numbers(picked["tid"])[member],
            pids=numbers(picked["pid"])[member],
            fds=numbers(picked["fd"])[member],
            starts=numbers(picked["start_s"])[member],
            durations=durations[member],
            args=picked["args"].filter(pa.array(member)).to_pylist(),
        )
    return found


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint intervals covering the union of [starts, ends)."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    opens = np.ones(len(starts), dtype=bool)
    opens[1:] = starts[1:] > reach[:-1]
    groups = np.cumsum(opens) - 1
    return starts[opens], np.maximum.reduceat(ends, np.flatnonzero(opens))[: groups[-1] + 1]


def _overlap(
    starts: np.ndarray, ends: np.ndarray, cover: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Per interval [starts, ends), the length of it inside the disjoint `cover`."""
    cover_starts, cover_ends = cover
    cumulative = np.concatenate([[0.0], np.cumsum(cover_ends - cover_starts)])

    def covered_before(times: np.ndarray) -> np.ndarray:
        index = np.searchsorted(cover_starts, times, side="right") - 1
        inside = np.where(index >= 0, np.minimum(times, cover_ends[np.maximum(index, 0)]), 0.0)
        partial = np.where(index >= 0, inside - cover_starts[np.maximum(index, 0)], 0.0)
        return cumulative[np.maximum(index, 0)] * (index >= 0) + np.maximum(partial, 0.0)

    return np.maximum(covered_before(ends) - covered_before(starts), 0.0)


def _held_lock(
    trace: StraceTables, writes: _Writes, loops: set[int], config: PassConfig
) -> _Lock | None:
    """The futex word the blocked writers held while blocked (see the module docstring)."""
    blocked = writes.blocked
    writer_pids = np.unique(writes.pids[blocked & ~np.isnan(writes.pids)])
    if len(writer_pids) == 0:
        return None
    calls = trace.syscalls
    futex_rows = np.flatnonzero(filled_numpy(pc.equal(calls["syscall"], "futex"), False))
    futex_rows = futex_rows[np.isin(numbers(take_rows(calls["pid"], futex_rows)), writer_pids)]
    if len(futex_rows) == 0:
        return None
    picked = take_rows(calls, futex_rows)
    heads = pc.utf8_slice_codeunits(picked["args"], 0, 48)
    parts = pc.extract_regex(heads, _FUTEX.pattern)
    address = np.asarray(pc.struct_field(parts, "address").to_numpy(zero_copy_only=False), object)
    ops = pc.struct_field(parts, "op").to_numpy(zero_copy_only=False)
    base = np.array([re.sub(r"_PRIVATE$", "", op or "") for op in ops], dtype=object)
    is_wake = np.isin(base, list(_WAKES))
    is_wait = np.isin(base, list(_WAITS))
    tids = numbers(picked["tid"])
    pids = numbers(picked["pid"])
    starts = numbers(picked["start_s"])
    durations = np.nan_to_num(call_durations(picked), nan=0.0)
    # The words each writer woke within LOCK_WINDOW_S after a blocked write returned.
    block_tids = writes.tids[blocked]
    block_ends = writes.starts[blocked] + writes.durations[blocked]
    hits: dict[str, int] = {}
    wake_index = np.flatnonzero(is_wake)
    order = np.lexsort((starts[wake_index], tids[wake_index]))
    wake_index = wake_index[order]
    wake_keys = tids[wake_index]
    wake_times = starts[wake_index]
    for tid, end in zip(block_tids, block_ends, strict=True):
        lo = np.searchsorted(wake_keys, tid, side="left")
        hi = np.searchsorted(wake_keys, tid, side="right")
        first = lo + np.searchsorted(wake_times[lo:hi], end, side="left")
        last = lo + np.searchsorted(wake_times[lo:hi], end + LOCK_WINDOW_S, side="right")
        for word in set(address[wake_index[first:last]].tolist()):
            if word:
                hits[word] = hits.get(word, 0) + 1
    if not hits:
        return None
    cover = _merged(writes.starts[blocked], block_ends)
    best: _Lock | None = None
    for word, count in sorted(hits.items(), key=lambda item: -item[1])[:5]:
        waits = is_wait & (address == word)
        if not waits.any():
            continue
        wait_starts, wait_ends = starts[waits], starts[waits] + durations[waits]
        overlap = float(_overlap(wait_starts, wait_ends, cover).sum())
        if overlap < config.lock_min_wait_s or (best is not None and overlap <= best.overlap_s):
            continue
        waiting_tids = tids[waits]
        steps = in_flight(np.zeros(len(wait_starts), dtype=np.int64), wait_starts, wait_ends)
        wait_durations = durations[waits]
        on_loop = np.isin(waiting_tids, np.array(sorted(loops), dtype=np.float64))
        best = _Lock(
            address=word,
            pid=int(pids[waits][0]),
            woken_after=count,
            waits=int(waits.sum()),
            wait_s=float(wait_durations.sum()),
            max_wait_s=float(wait_durations.max()),
            p95_wait_s=percentile(wait_durations, 95),
            waiters=sorted({int(t) for t in waiting_tids}),
            peak_waiters=int(steps.counts.max()),
            overlap_s=overlap,
            loop_wait_s=float(wait_durations[on_loop].sum()),
        )
    return best


def _looks_like_logs(args: list[str | None]) -> float:
    """Share of the writes whose data starts like a log record."""
    sample = [text for text in args[:2000] if text]
    if not sample:
        return 0.0
    return sum(1 for text in sample if _LOG_RECORD.match(text)) / len(sample)


def _reader_text(reader: PipeReader | None) -> str:
    if reader is None:
        return "The process reading it is not in the trace."
    who = f"{reader.name} (pid {reader.pid})" if reader.name else f"pid {reader.pid}"
    if reader.found_by != "reads" or not reader.reads:
        return f"It is the stdin of {who}, which did not read it during the trace."
    size = f"{reader.read_size} bytes" if reader.read_size else "small chunks"
    text = (
        f"Its reader {who} read it {reader.reads} times ({reader.bytes} bytes, asking "
        f"for {size}; {reader.full_reads} reads came back full, so data was waiting), "
        f"draining {(reader.bytes_per_s or 0) / 1024:.1f} KiB/s"
    )
    stalls = [
        (reader.sleep_s, "asleep"),
        (reader.io_s, "in other calls"),
        (reader.wait_s, "waiting"),
        (reader.cpu_s, "in no syscall (CPU)"),
    ]
    stalls = [(seconds, words) for seconds, words in stalls if seconds >= 0.01]
    if stalls:
        stalls.sort(key=lambda item: -item[0])
        top = ", ".join(f"{seconds:.2f} s {words}" for seconds, words in stalls)
        calls = [row for row in reader.between_calls if row["total_s"] >= 0.01][:2]
        named = ", ".join(
            f"{row['syscall']} {row['calls']}× {row['total_s']:.2f} s" for row in calls
        )
        text += f"; between reads it spent {top}" + (f" ({named})" if named else "")
        text += f", up to {reader.longest_gap_s * 1e3:.0f} ms between two reads"
    return text + "."


def _fix(
    pipe: str, reader: PipeReader | None, logging: bool, lock: _Lock | None, loop: bool
) -> str:
    reader_name = (
        f"{reader.name} (pid {reader.pid})"
        if reader is not None and reader.name
        else f"pid {reader.pid}"
        if reader is not None
        else f"the reader of {pipe}"
    )
    if logging:
        text = (
            f"Logging back-pressure: the log records go into {pipe} faster than "
            f"{reader_name} drains it, and a full pipe blocks every write. Decouple logging "
            "from the pipe: a logging.handlers.QueueHandler on the application's loggers "
            "with a QueueListener thread doing the writes (a bounded queue that drops or "
            "samples under pressure rather than blocking), log less per request, and make "
            f"{reader_name} read in large chunks and forward asynchronously "
            "(or send to journald/a socket with a bigger buffer). A bigger pipe "
            "(fcntl F_SETPIPE_SZ) only buys time."
        )
        if lock is not None:
            text += (
                f" The handler's lock (futex {lock.address}) is held across each write, so "
                f"{plural(len(lock.waiters), 'thread')} queued behind the blocked writer."
            )
    else:
        text = (
            f"{reader_name} reads {pipe} slower than it is written: make it read more per "
            "call and move its slow work (sleeps, forwarding, disk writes) off its reading "
            "thread; or have the writers hand data over through a bounded queue with a "
            "policy for when the reader falls behind."
        )
        if lock is not None:
            text += (
                f" The writers hold a lock (futex {lock.address}) while they write: do not "
                "write to the pipe with a lock held."
            )
    if loop:
        text += (
            " The event-loop thread itself writes to the pipe: take those writes off the loop "
            "first (the blocked_loop finding)."
        )
    return text


def _explains(
    earlier: Sequence[Finding],
    trace: StraceTables,
    pipe: str,
    lock: _Lock | None,
    readers: Sequence[PipeReader],
) -> tuple[Explains, ...]:
    rules = [Explains(key=pipe, kind="slow_syscall"), Explains(key=pipe, kind="thread_pileup")]
    reader_tids = {tid for reader in readers for tid in reader.tids}
    for finding in earlier:
        if finding.input != trace.input or finding.resource is None:
            continue
        evidence = finding.evidence
        same_lock = (
            lock is not None
            and finding.kind in LOCK_KINDS
            and evidence.get("futex") == lock.address
            and finding.pid in (None, lock.pid)
        )
        threads = {t for t in evidence.get("threads") or () if isinstance(t, int)}
        readers_pacing = finding.kind == "sleep_retry" and threads and threads <= reader_tids
        if same_lock or readers_pacing:
            rules.append(Explains(key=finding.resource.key, kind=finding.kind))
    return tuple(rules)


def trace_findings(
    trace: StraceTables, config: PassConfig, earlier: Sequence[Finding]
) -> list[Finding]:
    """The pipe_backpressure findings of one trace."""
    if trace.syscalls.num_rows == 0:
        return []
    pipes = _pipe_writes(trace)
    totals = {pipe: float(writes.durations[writes.blocked].sum()) for pipe, writes in pipes.items()}
    chosen = sorted(
        (pipe for pipe, total in totals.items() if total >= config.slow_syscall_s),
        key=lambda pipe: -totals[pipe],
    )[:MAX_PIPES]
    if not chosen:
        return []
    loops = _loop_tids(earlier, trace)
    writer_pids = {int(p) for pipe in chosen for p in pipes[pipe].pids if not np.isnan(p)}
    readers = pipe_readers(trace, chosen, writer_pids)
    return [
        _finding(trace, config, earlier, loops, pipe, pipes[pipe], readers[pipe]) for pipe in chosen
    ]


def _finding(
    trace: StraceTables,
    config: PassConfig,
    earlier: Sequence[Finding],
    loops: set[int],
    pipe: str,
    writes: _Writes,
    readers: list[PipeReader],
) -> Finding:
    blocked = writes.blocked
    blocked_durations = writes.durations[blocked]
    on_loop = np.isin(writes.tids, np.array(sorted(loops), dtype=np.float64))
    loop_blocked_s = float(writes.durations[on_loop].sum())
    write_s = float(writes.durations[~on_loop].sum())
    lock = _held_lock(trace, writes, loops, config)
    lock_s = lock.wait_s - lock.loop_wait_s if lock is not None else 0.0
    cost = write_s + lock_s
    reader = readers[0] if readers else None
    writer_tids = sorted({int(t) for t in writes.tids[blocked] if not np.isnan(t)})
    writer_pids = sorted({int(p) for p in writes.pids if not np.isnan(p)})
    names = process_names(trace, writer_pids)
    fds = sorted({int(fd) for fd in writes.fds if not np.isnan(fd)})
    stdio = [fd for fd in fds if fd in (1, 2)]
    log_share = _looks_like_logs([writes.args[i] for i in np.flatnonzero(blocked)] or writes.args)
    logging = bool(stdio) or log_share >= 0.5 or bool(LOG_SINKS.search(pipe))
    loop_writers = sorted({int(t) for t in writes.tids[blocked & on_loop]})
    wall = trace.wall_s
    share = cost / wall if wall else None
    longest = max(float(blocked_durations.max()), lock.max_wait_s if lock is not None else 0.0)
    severity: Severity = (
        "error" if longest >= LONG_WAIT_S or (share or 0) >= SEVERE_SHARE else "warning"
    )
    if loop_writers and cost < config.slow_syscall_s:
        severity = "info"
    writer_names = ", ".join(
        f"{names[pid]} (pid {pid})" if names.get(pid) else f"pid {pid}" for pid in writer_pids
    )
    stream = {1: "stdout", 2: "stderr"}
    fd_text = "/".join(stream[fd] for fd in stdio) if stdio else f"fd {', '.join(map(str, fds))}"
    where = describe(writes.kind, pipe)
    reader_who = (
        f"{reader.name} (pid {reader.pid})"
        if reader and reader.name
        else f"pid {reader.pid}"
        if reader
        else "an untraced reader"
    )
    message = (
        f"{plural(int(blocked.sum()), 'write')} by {plural(len(writer_tids), 'thread')} of "
        f"{writer_names} blocked {float(blocked_durations.sum()):.3f} s on {where} (their "
        f"{fd_text}; p95 {percentile(blocked_durations, 95) * 1e3:.1f} ms, max "
        f"{float(blocked_durations.max()) * 1e3:.1f} ms) because "
        f"{'the pipe was full' if writes.kind == 'pipe' else 'its peer was not reading'}. "
        f"{_reader_text(reader)}"
    )
    if lock is not None:
        message += (
            f" The writers held a lock (futex {lock.address}) while blocked: "
            f"{plural(len(lock.waiters), 'thread')} waited {lock.wait_s:.3f} s for it "
            f"({lock.waits} waits, up to {lock.peak_waiters} at once, longest "
            f"{lock.max_wait_s * 1e3:.0f} ms), {lock.overlap_s:.3f} s of it while a write "
            "was blocked."
        )
    if loop_writers:
        message += (
            f" The blocked writer is the event-loop thread {', '.join(map(str, loop_writers))}: "
            f"its {loop_blocked_s:.3f} s blocked in these writes is counted by its blocked_loop "
            "finding, not here."
        )
    title = (
        f"{'Logging back-pressure' if logging else 'Back-pressure'}: {where} drained too "
        f"slowly by {reader_who}"
    )
    evidence: dict[str, Any] = {
        "pipe": pipe,
        "logging": logging,
        "log_like_share": log_share,
        "writer_fds": fds,
        "writer_pids": writer_pids,
        "writer_names": [names.get(pid) for pid in writer_pids],
        "writers": writer_tids[: config.max_samples * 4],
        "writer_count": len(writer_tids),
        "writes": len(writes.durations),
        "write_total_s": float(writes.durations.sum()),
        "blocked_writes": int(blocked.sum()),
        "blocked_total_s": float(blocked_durations.sum()),
        "blocked_p95_s": percentile(blocked_durations, 95),
        "blocked_max_s": float(blocked_durations.max()),
        "blocked_threshold_s": BLOCKED_WRITE_S,
        "reader": reader.to_json() if reader else None,
        "other_readers": [other.to_json() for other in readers[1:3]],
        "lock": lock.to_json() if lock else None,
        "lock_wait_s": lock_s,
        "loop_writers": loop_writers,
        "loop_blocked_s": loop_blocked_s,
        "share_of_wall": share,
    }
    order = np.argsort(-writes.durations, kind="stable")[: config.max_samples]
    picked = take_rows(trace.syscalls, writes.rows[order])
    lines = numbers(pc.coalesce(picked["line_start"], picked["line_end"]))
    if reader is not None:
        role = f"the slow reader of {where}"
        culprit = Culprit(
            pid=reader.pid,
            tid=reader.tids[0] if len(reader.tids) == 1 else None,
            name=reader.name,
            role=role,
        )
    else:
        culprit = Culprit(role=f"the reader of {where} (not in the trace)")
    reader_end = f"{reader_who} stdin" if reader else "an untraced reader"
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=message,
        evidence=evidence,
        fix=_fix(where, reader, logging, lock, bool(loop_writers)),
        input=trace.input,
        pid=reader.pid if reader else None,
        tid=culprit.tid,
        start=float(writes.starts[blocked].min()),
        duration_s=float(blocked_durations.max()),
        cost_s=cost,
        lines=tuple(int(line) for line in lines if not np.isnan(line)),
        culprit=culprit,
        resource=Resource(writes.kind, pipe, f"{where}: {writer_names} {fd_text} -> {reader_end}"),
        explains=_explains(earlier, trace, pipe, lock, readers),
    )


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [
        finding
        for trace in inputs.traces
        for finding in trace_findings(trace, config, inputs.earlier)
    ]


PASS = Pass(
    CODE,
    KIND,
    run,
    __doc__ or "",
    after=("blocked_loop", "lock_contention", "sleep_retry", "lock_holder"),
)
