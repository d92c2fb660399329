"""IOD016 syn_drops: TCP connects that waited for SYN retransmissions, per peer.

How a connect shows in strace, and what its length means:

- A blocking ``connect`` returns when the handshake completes: its own duration is the
  connect latency. A non-blocking one (CPython sockets with a timeout, asyncio, libuv, Go,
  JDBC/MySQL clients) returns ``-1 EINPROGRESS`` at once; the client then waits for the
  socket to become writable (``poll``/``select`` for ``POLLOUT`` on that fd, or its event
  loop) and reads the outcome with ``getsockopt(fd, SOL_SOCKET, SO_ERROR)`` (CPython
  ``Modules/socketmodule.c``: ``internal_connect`` -> ``sock_call_ex``). The connect latency
  is from the ``connect`` to the end of the last writable-wait before that ``getsockopt``
  (or to the ``getsockopt`` when the wait was an event loop's). A wait that returned 0
  (``Timeout``) is a connect that gave up.
- The handshake takes one round trip unless a SYN is lost. Linux resends an unanswered SYN
  after the initial RTO (``TCP_TIMEOUT_INIT``, 1 s), then doubling: 1, 3, 7, 15, 31 s after
  the first (``net/ipv4/tcp_timer.c``). Since Linux 6.5 (commit ccce324dabfe, "tcp: make
  the first N SYN RTO backoffs linear", ``net.ipv4.tcp_syn_linear_timeouts``, default 4)
  the first backoffs are linear: 1, 2, 3, 4, 5 s, then 7, 11, 19 s. A connect whose SYN was
  dropped completes one round trip after one of those steps, so such connects cluster at
  them (`STEPS`), whatever the load.
- A listener drops SYNs when its accept queue is full (``sk_acceptq_is_full``:
  ``tcp_conn_request()`` in ``net/ipv4/tcp_input.c`` counts ``LINUX_MIB_LISTENOVERFLOWS``
  and drops the SYN): the server accepts more slowly than clients connect, or its
  ``listen()`` backlog (capped by ``net.core.somaxconn``) is too small. With
  ``tcp_abort_on_overflow = 0`` (the default) the handshake's final ACK is dropped the same
  way (``tcp_check_req()``, ``net/ipv4/tcp_minisocks.c``): the client believes it is
  connected, sends its request, and the first response byte waits for the server's SYN-ACK
  retransmission (1, 3, 7 s). Lost packets on a lossy path, a firewall rate limit or a SYN
  flood defence drop SYNs too; on a loopback or LAN peer the backlog is the usual cause.

Per trace the pass pairs every TCP ``connect`` with its completion (per process and fd, in
time order, vectorised) and groups the connects by peer (``tcp ADDR:PORT``, read from the
connect's sockaddr). Connects that took at least `SLOW_CONNECT_S` and completed within
[`EARLY_S`, `LATE_S`] of a retransmission step (after the peer's usual connect time) are
"on a step". A peer is reported when at least `MIN_ON_STEP` connects are on a step and they
are most of its slow connects; connects to it that gave up (a timeout) count with them.
The first response on the peer's connections is checked too: waits of a second or more
there are the dropped final ACK (evidence only: a slow server looks the same in one call,
so they are not in the cost). ``cost_s`` is the time spent in the
connects on a step and in those that gave up. The culprit is the process that listens on
the peer's address when the trace shows it (its ``listen`` backlog in the evidence), else
none (the server is not traced); the resource is the listener's address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, numbers
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
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
from analyzer.passes.call_names import NamedScan, calls_named
from analyzer.passes.common import cited_lines, percentile, plural
from analyzer.passes.targets import resources, target_classes

CODE = "IOD016"
KIND = "syn_drops"
SLOW_CONNECT_S = 0.9
"""A connect at least this long may have lost a SYN (the first resend is after 1 s)."""
EARLY_S = 0.05
LATE_S = 0.25
"""A connect is on a step when it completed between `EARLY_S` before and `LATE_S` after a
retransmission step plus the peer's usual (median fast) connect time."""
MIN_ON_STEP = 2
"""Connects on a step before a peer is reported (one lost SYN can be bad luck)."""
MIN_ON_STEP_SHARE = 0.75
"""...and the share of the peer's slow completed connects they must be: dropped SYNs put
(nearly) all of them on a step, slow connects for another reason land there by chance (a
third of the time on the linear steps, 1 s apart)."""
SLOW_FIRST_BYTE_S = 0.9
MAX_LISTED = 10

CLASSIC_STEPS: tuple[float, ...] = tuple(float(2**n - 1) for n in range(1, 9))
"""Seconds after the first SYN at which Linux resends it: 1, 3, 7, 15, 31, 63, 127, 255."""
LINEAR_STEPS: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0, 19.0, 35.0, 67.0, 131.0)
"""The same with 4 linear backoffs first (Linux >= 6.5, tcp_syn_linear_timeouts=4)."""
STEPS: np.ndarray = np.array(sorted(set(CLASSIC_STEPS) | set(LINEAR_STEPS)))

_INET = r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<addr>[^"]*)"\)'
_INET6 = r'sin6_port=htons\((?P<port>\d+)\).*?inet_pton\(AF_INET6, "(?P<addr>[^"]*)"'
_CONNECT, _WAIT_OUT, _SO_ERROR, _CLOSE, _WAIT_IN, _RECEIVE = 0, 1, 2, 3, 4, 5
_RECEIVES = frozenset({"recv", "recvfrom", "recvmsg", "read", "readv"})
_INTERRUPTED = frozenset({"EINTR", "ERESTARTSYS", "ERESTARTNOHAND", "ERESTART_RESTARTBLOCK"})


def connect_peers(args: pa.Array) -> pa.Array:
    """``tcp ADDR:PORT`` (``tcpv6 [ADDR6]:PORT``, as `targets.resources` names a peer) of
    each sockaddr in `args`; null when none."""
    four = pc.extract_regex(args, _INET)
    six = pc.extract_regex(args, _INET6)
    v4 = pc.binary_join_element_wise(
        "tcp ", pc.struct_field(four, "addr"), ":", pc.struct_field(four, "port"), ""
    )
    v6 = pc.binary_join_element_wise(
        "tcpv6 [", pc.struct_field(six, "addr"), "]:", pc.struct_field(six, "port"), ""
    )
    return pc.coalesce(v4, v6)


def _equal(column: pa.Array | pa.ChunkedArray, names: Iterable[str]) -> np.ndarray:
    """Mask: the value is one of a few `names` (one cheap comparison per name)."""
    mask = np.zeros(len(column), dtype=bool)
    for name in names:
        mask |= filled_numpy(pc.equal(column, name), False)
    return mask


def _first_per(keys: np.ndarray, at: np.ndarray, last: bool = False) -> np.ndarray:
    """The first (or last) of the positions `at` for each distinct key of `keys[at]`."""
    if last:
        reverse = at[::-1]
        return reverse[np.unique(keys[reverse], return_index=True)[1]]
    return at[np.unique(keys[at], return_index=True)[1]]


@dataclass(frozen=True)
class _Events:
    """The calls on the connects' fds, sorted by (process, fd, time): each with the connect
    `attempt` it follows on that fd (until a close) and whether it `belongs` to it."""

    rows: np.ndarray
    kind: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    attempt: np.ndarray
    belongs: np.ndarray
    connect_at: np.ndarray
    retval: np.ndarray
    interrupted: np.ndarray

    @staticmethod
    def build(
        calls: pa.Table,
        parts: list[tuple[np.ndarray, np.ndarray, int]],
        owner_of: Callable[[np.ndarray], np.ndarray],
        last_s: float | None,
    ) -> _Events:
        rows = np.concatenate([part_rows for part_rows, _, _ in parts])
        fd = np.concatenate([part_fd for _, part_fd, _ in parts])
        kind = np.concatenate([np.full(len(part_rows), k) for part_rows, _, k in parts])
        starts, ends = strace_slices.times_at(calls, rows, last_s)
        owners = owner_of(rows)
        order = np.lexsort((rows, starts, fd, owners))
        rows, kind, fd, starts, ends, owners = (
            rows[order],
            kind[order],
            fd[order],
            starts[order],
            ends[order],
            owners[order],
        )
        is_connect = kind == _CONNECT
        attempt = np.cumsum(is_connect) - 1
        changes = np.concatenate([[True], (owners[1:] != owners[:-1]) | (fd[1:] != fd[:-1])])
        group = np.cumsum(changes) - 1
        closes = np.cumsum(kind == _CLOSE)
        connect_at = np.flatnonzero(is_connect)
        safe = np.maximum(attempt, 0)
        belongs = (
            (attempt >= 0)
            & (group == group[connect_at][safe])
            & (closes == closes[connect_at][safe])
            & ~is_connect
        )
        return _Events(
            rows,
            kind,
            starts,
            ends,
            attempt,
            belongs,
            connect_at,
            strace_slices.values_at(calls, "retval", rows),
            _equal(strace_slices.take(calls, ["errno"], rows)["errno"], _INTERRUPTED),
        )

    def completions(self) -> tuple[np.ndarray, np.ndarray]:
        """When each attempt's connect completed (NaN: not seen) and whether it gave up:
        the end of the last writable wait before the first SO_ERROR read, else of the first
        writable wait that ended, else (an event loop's connect) that read itself."""
        count = len(self.connect_at)
        attempt, safe = self.attempt, np.maximum(self.attempt, 0)
        first_read = np.full(count, np.nan)
        first_read_end = np.full(count, np.nan)
        at = _first_per(attempt, np.flatnonzero(self.belongs & (self.kind == _SO_ERROR)))
        first_read[attempt[at]] = self.starts[at]
        first_read_end[attempt[at]] = self.ends[at]
        out = self.belongs & (self.kind == _WAIT_OUT) & ~self.interrupted
        read_after = ~np.isnan(first_read[safe])
        out &= ~read_after | (self.starts < first_read[safe])
        chosen = np.concatenate(
            [
                _first_per(attempt, np.flatnonzero(out & read_after), last=True),
                _first_per(attempt, np.flatnonzero(out & ~read_after)),
            ]
        )
        completion = np.full(count, np.nan)
        timed_out = np.zeros(count, dtype=bool)
        completion[attempt[chosen]] = self.ends[chosen]
        timed_out[attempt[chosen]] = self.retval[chosen] == 0
        return np.where(np.isnan(completion), first_read_end, completion), timed_out

    def first_responses(self, connected: np.ndarray) -> np.ndarray:
        """How long each attempt's first readable wait (or receive) after `connected` took."""
        attempt = self.attempt
        reads = self.belongs & np.isin(self.kind, (_WAIT_IN, _RECEIVE)) & ~self.interrupted
        reads &= self.starts >= connected[np.maximum(attempt, 0)]
        first = np.full(len(self.connect_at), np.nan)
        at = _first_per(attempt, np.flatnonzero(reads))
        first[attempt[at]] = self.ends[at] - self.starts[at]
        return first


def _fds(taken: pa.Table) -> np.ndarray:
    return filled_numpy(taken["fd"], -1)


def _owners(taken: pa.Table) -> np.ndarray:
    """The process of each call (its thread when the process is not known), as floats."""
    pids = numbers(taken["pid"])
    return np.where(np.isnan(pids), numbers(taken["tid"]), pids)


def _owner(calls: pa.Table, rows: np.ndarray) -> np.ndarray:
    return _owners(strace_slices.take(calls, ["pid", "tid"], rows))


def _calls_on(
    trace: StraceTables, syscalls: frozenset[str], fds: np.ndarray, owners: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The `syscalls` calls (rows, fds) on one of `fds` by one of `owners`, a slice at a
    time: only those are held (not, say, every close of the trace)."""
    found, found_fds = [], []
    for offset, part in strace_slices.slices(trace.syscalls, ["syscall", "fd", "pid", "tid"]):
        local = np.flatnonzero(calls_named(trace, offset, part, syscalls))
        if len(local) == 0:
            continue
        taken = part.take(pa.array(local))
        fd = _fds(taken)
        keep = np.isin(fd, fds) & np.isin(_owners(taken), owners)
        found.append(offset + local[keep])
        found_fds.append(fd[keep])
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(found).astype(np.int64), np.concatenate(found_fds)


def connect_waits(trace: StraceTables) -> dict[str, np.ndarray] | None:
    """Every TCP connect of the trace with its peer and latency (see the module docstring):
    arrays `row`, `peer` (object), `tid`, `pid`, `start`, `wait` (NaN: unknown), `timed_out`,
    `failed` (an errno other than EINPROGRESS), `ongoing` (no completion before the trace
    ended), `first_byte` (the first response wait on the socket, NaN when none was seen).

    Only the connects and the calls on their fds are read (a cheap comparison over the
    whole trace, a slice at a time, finds them)."""
    calls = trace.syscalls
    if calls.num_rows == 0 or trace.first_s is None:
        return None
    # one scan of the names finds every call this needs (a string comparison per name
    # would scan the column once per name)
    # (closes, a call in twenty, are looked for once the connects' fds are known)
    wanted = frozenset({"connect", "getsockopt"})
    candidates = strace_slices.rows_where(calls, ["syscall"], NamedScan(trace, wanted))
    names = strace_slices.take(calls, ["syscall"], candidates)["syscall"]
    connect_rows = candidates[_equal(names, ("connect",))]
    if len(connect_rows) == 0:
        return None
    connects = strace_slices.take(calls, ["args", "target", "fd", "errno"], connect_rows)
    peers = connect_peers(contiguous(connects["args"]))
    # TCP sockets, and sockets of unknown kind (made before the trace began: an attached
    # strace -p): a connect on a UDP socket sends nothing, so it is never slow
    classes = target_classes(connects["target"])
    tcp = filled_numpy(pc.is_in(classes, value_set=pa.array(["tcp", "socket"])), False)
    tcp |= filled_numpy(pc.is_null(classes), False)
    # a connect whose target names its peer already (a replayed fd)
    known = resources(contiguous(connects["target"]))
    peers = pc.coalesce(
        peers, pc.if_else(pc.starts_with(known, "tcp"), known, pa.nulls(len(known), pa.string()))
    )
    keep = (
        tcp
        & filled_numpy(pc.is_valid(peers), False)
        & filled_numpy(pc.is_valid(connects["fd"]), False)
    )
    if not keep.any():
        return None
    connect_rows = connect_rows[keep]
    peers = peers.filter(pa.array(keep))
    connect_errno = connects["errno"].filter(pa.array(keep))
    in_progress = filled_numpy(pc.equal(connect_errno, "EINPROGRESS"), False)
    failed = filled_numpy(pc.is_valid(connect_errno), False) & ~in_progress

    connect_fds = _fds(strace_slices.take(calls, ["fd"], connect_rows))
    connect_owners = _owner(calls, connect_rows)

    def on_connect_fds(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows (and their fds) that are on a connected fd of a connecting process."""
        taken = strace_slices.take(calls, ["fd", "pid", "tid"], rows)
        fd = _fds(taken)
        keep = np.isin(fd, connect_fds) & np.isin(_owners(taken), connect_owners)
        return rows[keep], fd[keep]

    def owner_of(rows: np.ndarray) -> np.ndarray:
        return _owner(calls, rows)

    # the calls that end a connect: SO_ERROR reads, closes, and the waits on the fds (one
    # row per fd of a set); the first response (receives, readable waits) is looked at only
    # when a connect was slow
    getsockopt = candidates[_equal(names, ("getsockopt",))]
    getsockopt = getsockopt[
        filled_numpy(
            pc.match_substring(strace_slices.take(calls, ["args"], getsockopt)["args"], "SO_ERROR"),
            False,
        )
    ]
    so_error_rows, so_error_fd = on_connect_fds(getsockopt)
    close_rows, close_fd = _calls_on(trace, frozenset({"close"}), connect_fds, connect_owners)
    waits = trace.wait_fds
    wait_rows = np.asarray(waits["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
    wait_fd = np.asarray(filled_numpy(waits["fd"], -1), dtype=np.int64)
    on_fds = np.isin(wait_fd, connect_fds)
    wait_rows, wait_fd = wait_rows[on_fds], wait_fd[on_fds]
    want = waits["want"].filter(pa.array(on_fds))
    wait_out = _equal(want, ("out", "inout"))
    wait_in = _equal(want, ("in",))
    parts = [
        (connect_rows, connect_fds, _CONNECT),
        (wait_rows[wait_out], wait_fd[wait_out], _WAIT_OUT),
        (so_error_rows, so_error_fd, _SO_ERROR),
        (close_rows, close_fd, _CLOSE),
    ]
    events = _Events.build(calls, parts, owner_of, trace.last_s)
    count = len(events.connect_at)
    completion, timed_out = events.completions()

    position = np.searchsorted(connect_rows, events.rows[events.connect_at])
    in_progress, failed = in_progress[position], failed[position]
    connect_start = events.starts[events.connect_at]
    connect_end = events.ends[events.connect_at]
    wait = np.where(in_progress, completion - connect_start, connect_end - connect_start)
    ongoing = in_progress & np.isnan(completion)
    if trace.last_s is not None:
        wait = np.where(ongoing, trace.last_s - connect_start, wait)

    first_byte = np.full(count, np.nan)
    if (wait >= SLOW_CONNECT_S).any():
        receive_rows, receive_fd = _calls_on(trace, _RECEIVES, connect_fds, connect_owners)
        parts += [
            (wait_rows[wait_in], wait_fd[wait_in], _WAIT_IN),
            (receive_rows, receive_fd, _RECEIVE),
        ]
        events = _Events.build(calls, parts, owner_of, trace.last_s)
        done = np.where(np.isnan(completion), connect_end, completion)
        first_byte = events.first_responses(done)

    rows = events.rows[events.connect_at]
    at = strace_slices.take(calls, ["tid", "pid"], rows)
    return {
        "row": rows,
        "peer": np.asarray(peers.to_pylist(), dtype=object)[position],
        "tid": numbers(at["tid"]),
        "pid": numbers(at["pid"]),
        "start": connect_start,
        "wait": wait,
        "timed_out": timed_out,
        "failed": failed,
        "ongoing": ongoing,
        "first_byte": first_byte,
    }


def on_step(waits: np.ndarray, usual_s: float) -> tuple[np.ndarray, np.ndarray]:
    """For each wait: the retransmission step it completed on (NaN when none) and whether
    it is on one (see `EARLY_S`, `LATE_S`)."""
    shifted = waits - usual_s
    index = np.clip(np.searchsorted(STEPS, shifted + EARLY_S, side="right") - 1, 0, len(STEPS) - 1)
    step = STEPS[index]
    hit = (shifted >= step - EARLY_S) & (shifted <= step + LATE_S) & (waits >= SLOW_CONNECT_S)
    return np.where(hit, step, np.nan), hit


def schedule_of(steps: Iterable[float]) -> str:
    """Which SYN retransmission schedule the steps fit: ``linear`` (Linux >= 6.5),
    ``classic`` (doubling) or ``either`` (only steps both have: 1, 3, 7 s)."""
    seen = set(steps)
    linear_only = seen - set(CLASSIC_STEPS)
    classic_only = seen - set(LINEAR_STEPS)
    if linear_only and not classic_only:
        return "linear"
    if classic_only and not linear_only:
        return "classic"
    return "either" if not linear_only else "mixed"


def _listener(trace: StraceTables, peer: str) -> dict[str, Any] | None:
    """The traced process listening on the peer's address (pid, tid, fd, backlog): a socket
    that ``listen()``ed and whose address (its ``-yy`` decoration, its ``bind``, or the
    ``getsockname`` after a bind to port 0) is the peer's, or the same port on a wildcard
    address."""
    calls = trace.syscalls
    host, _, port = peer.split(" ", 1)[1].rpartition(":")
    naming = frozenset({"bind", "listen", "getsockname"})
    rows = strace_slices.rows_where(calls, ["syscall"], lambda part: is_in(part["syscall"], naming))
    if len(rows) == 0:
        return None
    table = strace_slices.take(calls, ["syscall", "args", "target", "pid", "tid", "fd"], rows)
    decorated = resources(contiguous(table["target"])).to_pylist()
    in_args = connect_peers(contiguous(table["args"])).to_pylist()
    sockets: dict[tuple[Any, Any], dict[str, Any]] = {}
    for call, own, named in zip(table.to_pylist(), decorated, in_args, strict=True):
        seen = sockets.setdefault((call["pid"], call["fd"]), {"addresses": set()})
        for address in (own, named):
            if address and address.startswith("tcp"):
                seen["addresses"].add(address.split(" ", 1)[1].rpartition(":")[::2])
        if call["syscall"] == "listen":
            backlog = (call["args"] or "").split(",")[1:2]
            seen.update(pid=call["pid"], tid=call["tid"], fd=call["fd"])
            if backlog and backlog[0].strip().lstrip("-").isdigit():
                seen["backlog"] = int(backlog[0])
    for seen in sockets.values():
        if "fd" in seen and any(
            bound_port == port and bound_host in (host, "0.0.0.0", "[::]", "::")
            for bound_host, bound_port in seen["addresses"]
        ):
            return {key: seen.get(key) for key in ("pid", "tid", "fd", "backlog")}
    return None


SCHEDULE_WORDS = {
    "linear": "Those are the times at which Linux 6.5 and later resend an unanswered SYN "
    "(1, 2, 3, 4, 5, 7, 11 s: net.ipv4.tcp_syn_linear_timeouts=4).",
    "classic": "Those are the times at which the kernel resends an unanswered SYN (1, 3, 7, 15 s).",
    "either": "Those are the times at which the kernel resends an unanswered SYN (1, 3, 7 s; "
    "also 2, 4, 5 s on Linux 6.5 and later).",
    "mixed": "Those are the times at which the kernel resends an unanswered SYN (1, 3, 7, 15 "
    "s; 1, 2, 3, 4, 5, 7, 11 s on Linux 6.5 and later).",
}


def _seconds_text(step: float) -> str:
    return f"≈{step:g} s"


def _peer_finding(
    trace: StraceTables,
    peer: str,
    found: dict[str, np.ndarray],
    member: np.ndarray,
    config: PassConfig,
) -> Finding | None:
    waits = found["wait"][member]
    timed_out = found["timed_out"][member] | (found["ongoing"][member] & (waits >= SLOW_CONNECT_S))
    failed = found["failed"][member]
    completed = ~timed_out & ~failed & ~np.isnan(waits)
    fast = completed & (waits < SLOW_CONNECT_S)
    usual = percentile(waits[fast], 50) if fast.any() else 0.0
    step, hit = on_step(np.where(completed, waits, np.nan), usual if np.isfinite(usual) else 0.0)
    hit &= completed
    slow_completed = completed & (waits >= SLOW_CONNECT_S)
    on_step_count = int(hit.sum())
    if on_step_count < MIN_ON_STEP or on_step_count < MIN_ON_STEP_SHARE * int(slow_completed.sum()):
        return None
    gave_up = timed_out & (waits >= SLOW_CONNECT_S)
    dropped = hit | gave_up
    cost = float(waits[dropped].sum())
    tids = found["tid"][member]
    pids = found["pid"][member]
    lines = cited_lines(
        strace_slices.take(trace.syscalls, ["line_start", "line_end"], found["row"][member])
    )
    steps = Counter(float(s) for s in step[hit])
    clusters = [
        {
            "step_s": s,
            "connects": n,
            "min_s": float(waits[hit & (step == s)].min()),
            "max_s": float(waits[hit & (step == s)].max()),
        }
        for s, n in sorted(steps.items())
    ]
    schedule = schedule_of(steps)
    dropped_threads = sorted({int(t) for t in tids[dropped] if np.isfinite(t)})
    first_byte = found["first_byte"][member]
    slow_first = completed & (first_byte >= SLOW_FIRST_BYTE_S)
    first_byte_by_second = Counter(float(np.rint(value)) for value in first_byte[slow_first])
    usual_first_byte = percentile(first_byte[completed & ~np.isnan(first_byte)], 50)
    listener = _listener(trace, peer)
    address = peer.split(" ", 1)[1]

    cluster_text = ", ".join(f"{c['connects']} at {_seconds_text(c['step_s'])}" for c in clusters)
    message = (
        f"{on_step_count} of {plural(len(waits), 'connect')} to {address} completed only "
        f"after SYN retransmissions ({cluster_text})"
    )
    if gave_up.any():
        message += (
            f" and {int(gave_up.sum())} gave up after {float(waits[gave_up].max()):.1f} s "
            "still waiting"
        )
    message += (
        f": {cost:.1f} s of waiting on {plural(len(dropped_threads), 'thread')}. "
        f"{SCHEDULE_WORDS[schedule]}"
    )
    if fast.any():
        message += (
            f" The other {int(fast.sum())} connected in {usual * 1e3:.1f} ms (median), so "
            "the peer was up and its path fine: it dropped SYNs, as a listener does when its "
            "accept queue (the listen backlog) is full."
        )
    if first_byte_by_second:
        spread = ", ".join(
            f"{n} at {_seconds_text(s)}" for s, n in sorted(first_byte_by_second.items())
        )
        message += (
            f" {plural(int(slow_first.sum()), 'first response')} also waited a second or "
            f"more after connecting ({spread}; usually {usual_first_byte:.3f} s): a full "
            "queue drops the handshake's final ACK too (tcp_abort_on_overflow=0), and the "
            "request then waits for the server's SYN-ACK retransmission (1, 3, 7 s)."
        )
    if listener is not None:
        backlog = listener.get("backlog")
        message += (
            f" The listener is pid {listener['pid']}"
            + (f" with listen backlog {backlog}" if backlog is not None else "")
            + "."
        )
    port = address.rpartition(":")[2]
    fix = (
        f"Confirm on the server host: `nstat -az TcpExtListenOverflows TcpExtListenDrops` "
        f"rises while clients connect, and `ss -ltn 'sport = :{port}'` shows Recv-Q reaching "
        f"Send-Q (the backlog) on {address}. Then raise the listen backlog (the listen() "
        "argument: socketserver request_queue_size, gunicorn --backlog, nginx `listen ... "
        "backlog=`) together with net.core.somaxconn, which caps it; make the server accept "
        "faster (more workers or threads, an async server); and on the client cap the "
        f"concurrency toward {address} and reuse connections (keep-alive, a pool) instead of "
        "connecting per request."
    )
    severity: Severity = "error" if on_step_count >= 3 or cost >= 5.0 else "warning"
    order = np.flatnonzero(dropped)
    order = order[np.argsort(-waits[order], kind="stable")][:MAX_LISTED]
    examples: list[dict[str, Any]] = [
        {
            "line": int(lines[i]),
            "tid": int(tids[i]) if np.isfinite(tids[i]) else None,
            "start": float(found["start"][member][i]),
            "wait_s": float(waits[i]),
            "step_s": None if np.isnan(step[i]) else float(step[i]),
            "gave_up": bool(gave_up[i]),
        }
        for i in sorted(order, key=lambda i: found["start"][member][i])
    ]
    pid_values = sorted({int(p) for p in pids[np.isfinite(pids)]})
    evidence: dict[str, Any] = {
        "peer": address,
        "resource": peer,
        "connects": len(waits),
        "on_step": on_step_count,
        "gave_up": int(gave_up.sum()),
        "failed": int(failed.sum()),
        "slow_connects": int((waits >= SLOW_CONNECT_S).sum()),
        "steps": clusters,
        "schedule": schedule,
        "usual_connect_s": usual,
        "wait_total_s": cost,
        "threads": dropped_threads[: config.max_samples * 4],
        "thread_count": len(dropped_threads),
        "pids": pid_values,
        "first_byte_waits": int(slow_first.sum()),
        "first_byte_by_second": {f"{s:g}": n for s, n in sorted(first_byte_by_second.items())},
        "usual_first_byte_s": usual_first_byte,
        "listener": listener,
        "examples": examples,
    }
    worst = int(order[0]) if len(order) else 0
    culprit = (
        Culprit(
            pid=listener["pid"],
            tid=listener["tid"],
            role="the listener whose accept queue overflows",
        )
        if listener is not None
        else Culprit(role=f"the listener on {address} (not in the trace)")
    )
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=f"SYNs dropped by {address}: connects waited for retransmissions",
        message=message,
        evidence=evidence,
        fix=fix,
        input=trace.input,
        pid=pid_values[0] if len(pid_values) == 1 else None,
        tid=dropped_threads[0] if len(dropped_threads) == 1 else None,
        start=float(found["start"][member][worst]),
        duration_s=float(waits[worst]),
        cost_s=cost,
        lines=tuple(example["line"] for example in examples),
        culprit=culprit,
        resource=Resource(kind="tcp", key=peer, text=f"TCP listener {address} ({peer})"),
        explains=explains(peer),
    )


def explains(peer: str) -> tuple[Explains, ...]:
    """What a syn_drops finding on `peer` folds: the slow calls and the pile-ups on that
    peer (its connects and polls) are the same waiting, seen call by call."""
    return (Explains(key=peer, kind="slow_syscall"), Explains(key=peer, kind="thread_pileup"))


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The syn_drops findings of one trace."""
    found = connect_waits(trace)
    if found is None:
        return []
    findings = []
    peers = found["peer"]
    slow = found["wait"] >= SLOW_CONNECT_S
    for peer in sorted({str(p) for p in peers[slow]}):
        finding = _peer_finding(trace, peer, found, np.flatnonzero(peers == peer), config)
        if finding is not None:
            findings.append(finding)
    findings.sort(key=lambda finding: -finding.cost_s)
    return findings


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
