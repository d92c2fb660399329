"""What `poll`, `ppoll`, `select` and `pselect6` calls waited on: the fds of their sets.

CPython sockets with a timeout, `http.client`/`urllib`/`requests`, `subprocess.communicate`
and glibc's resolver all wait in ``poll`` (or ``select``) on the fds they need, and strace
prints those fds inside the call's arguments rather than as its first argument:

- ``poll([{fd=5, events=POLLIN}, {fd=7<TCP:[...]>, events=POLLOUT}], 2, 1000) = 1
  ([{fd=7, revents=POLLOUT}])``: the pollfd array (with ``-y`` decorations), and the fds that
  became ready in the parenthesised text after the return value;
- ``select(8, [3 5], [7], NULL, {tv_sec=1, tv_usec=0}) = 1 (in [5], left {...})``: the read,
  write and exception sets, and which were ready.

`decode` reads every set into the `wait_fds` table (one row per call and fd, with what the
call waited for and whether the fd became ready); the strace derivation then resolves each
fd's target at the time of the call, as for any fd. A call whose set holds one fd (the common
synchronous-client case) gets that fd and its target as the call's own `fd`/`target`, so a
wait in ``poll`` groups with ``recvfrom`` on the same peer everywhere. A set of several fds is
an event loop's or a multiplexer's: the call's own fd stays null, and the passes read the set.
A ``select``/``pselect6`` with empty sets (``select(0, NULL, NULL, NULL, {...})``) is a
sleep, and has no row.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy
from analyzer.formats.wide_numbers import INT64_MAX, INT64_MIN
from analyzer.lazy import lazy_module

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_module("pandas")

POLLS: frozenset[str] = frozenset({"poll", "ppoll"})
SELECTS: frozenset[str] = frozenset({"select", "pselect6", "_newselect"})
WAITS_ON_SETS: frozenset[str] = POLLS | SELECTS
"""The calls whose fds are in sets, not in the first argument."""

# A `-y` decoration may hold '>' and ']' itself (``<TCP:[1.2.3.4:5->6.7.8.9:10]>``): it ends
# at the '>' that the next field follows.
_POLLFD = re.compile(r"\{fd=(-?\d+)(?:<(.*?)>)?, events=([A-Z|0-9x]+)\}")
_REVENT = re.compile(r"\{fd=(-?\d+)(?:<.*?>)?, revents=[A-Z|0-9x]+\}")
_SET = re.compile(r"\[((?:\d+(?:<.*?>)?(?=[ \]]) ?)*)\]|NULL")
_SET_FD = re.compile(r"(\d+)(?:<(.*?)>)?(?= |$)")
_READY_SETS = re.compile(r"\b(in|out|exc) \[([^\]]*)\]")


def _poll_want(events: str) -> str:
    flags = set(events.split("|"))
    reads = bool(flags & {"POLLIN", "POLLRDNORM", "POLLRDBAND"})
    writes = bool(flags & {"POLLOUT", "POLLWRNORM", "POLLWRBAND"})
    return "inout" if reads and writes else "in" if reads else "out" if writes else "other"


def _poll_rows(args: str, aux: str | None) -> list[tuple[int, str | None, str, bool]]:
    ready = {int(match.group(1)) for match in _REVENT.finditer(aux or "")}
    return [
        (int(fd), target or None, _poll_want(events), int(fd) in ready)
        for fd, target, events in _POLLFD.findall(args)
    ]


def _select_rows(args: str, aux: str | None) -> list[tuple[int, str | None, str, bool]]:
    sets = [match.group(1) for match in _SET.finditer(args)][:3]
    ready: dict[str, set[int]] = {"in": set(), "out": set(), "exc": set()}
    for name, fds in _READY_SETS.findall(aux or ""):
        ready[name] = {int(fd) for fd in fds.split()}
    seen: dict[int, tuple[str | None, set[str]]] = {}
    for name, members in zip(("in", "out", "exc"), sets, strict=False):
        for fd, target in _SET_FD.findall(members or ""):
            _, wants = seen.setdefault(int(fd), (target or None, set()))
            wants.add(name)
    rows = []
    for fd, (target, wants) in seen.items():
        want = "inout" if {"in", "out"} <= wants else "in" if "in" in wants else next(iter(wants))
        rows.append((fd, target, want, any(fd in ready[name] for name in wants)))
    return rows


class DecodedWaits(TypedDict):
    """One row per fd of a poll/select set (see `decode`)."""

    row: np.ndarray
    fd: np.ndarray
    decorated: list[str | None]
    want: list[str]
    ready: np.ndarray


def decode(syscall: pa.Array, args: pa.Array, aux: pa.Array) -> DecodedWaits:
    """The fds of every poll/select call's sets: for each, the call's row, the fd, its
    ``-y`` target if printed, what was waited for (`WANTS`) and whether it became ready
    (read from the text after the return; False for a call that timed out or did not
    return)."""
    syscall, args, aux = contiguous(syscall), contiguous(args), contiguous(aux)
    rows = np.flatnonzero(
        filled_numpy(pc.is_in(syscall, value_set=pa.array(sorted(WAITS_ON_SETS))), False)
    )
    names = syscall.take(pa.array(rows)).to_pylist()
    texts = args.take(pa.array(rows)).to_pylist()
    after = aux.take(pa.array(rows)).to_pylist()
    call_row: list[int] = []
    fds: list[int] = []
    targets: list[str | None] = []
    wants: list[str] = []
    ready: list[bool] = []
    for row, name, text, rest in zip(rows.tolist(), names, texts, after, strict=True):
        found = (_poll_rows if name in POLLS else _select_rows)(text or "", rest)
        for fd, target, want, is_ready in found:
            if not INT64_MIN <= fd <= INT64_MAX:
                continue  # no fd is that wide (a damaged line)
            call_row.append(row)
            fds.append(fd)
            targets.append(target)
            wants.append(want)
            ready.append(is_ready)
    return {
        "row": np.asarray(call_row, dtype=np.int64),
        "fd": np.asarray(fds, dtype=np.int64),
        "decorated": targets,
        "want": wants,
        "ready": np.asarray(ready, dtype=bool),
    }


def single_fd_rows(row: np.ndarray, fd: np.ndarray) -> np.ndarray:
    """Indexes into the decoded rows of the calls whose set holds exactly one distinct fd
    (one index per such call)."""
    if len(row) == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.concatenate([[True], row[1:] != row[:-1]])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(row))
    lowest = np.minimum.reduceat(fd, starts)
    highest = np.maximum.reduceat(fd, starts)
    return starts[(lowest == highest) & (ends > starts)]


_CONNECTED = re.compile(r"^[A-Za-z0-9]+:\[(?P<local>.*?)->")
_BOUND = re.compile(r"^[A-Za-z0-9]+:\[([^\]>]*:\d+)\]$")
_RECEIVES = frozenset({"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg"})
PERIODIC_MIN_WAITS = 5
"""A thread that waits on one fd this often ..."""
PERIODIC_TIMEOUT_SHARE = 0.8
"""... and wakes up by timeout this often is polling on a schedule (a supervisor's tick,
a keep-alive check), not waiting for an answer."""


def server_side(calls: pa.Table, among: np.ndarray | None = None) -> np.ndarray:
    """Which calls are on the server's end of a connection: a connected socket whose local
    address is one the trace listens on (a target ``TCP:[L->R]`` with ``L`` the address of
    a socket that accepted connections). Reading there is waiting for the client's next
    request: the server is idle, not slowed down. With `among` (a mask), only those calls
    are looked at (the others are False)."""
    if calls.num_rows == 0:
        return np.zeros(0, dtype=bool)
    target = contiguous(calls["target"])
    accepting = pc.fill_null(
        pc.is_in(calls["syscall"], value_set=pa.array(["accept", "accept4", "listen"])), False
    )
    listening = {
        match.group(1)
        for text in pc.unique(target.filter(accepting)).to_pylist()
        if text and (match := _BOUND.match(text))
    }
    if not listening:
        return np.zeros(calls.num_rows, dtype=bool)
    rows = None if among is None else np.flatnonzero(among)
    if rows is not None:
        target = target.take(pa.array(rows, pa.int64()))
    # the regex once per distinct target: a connection's target repeats on each of its calls
    encoded = pc.dictionary_encode(contiguous(target))
    local = pc.struct_field(pc.extract_regex(encoded.dictionary, _CONNECTED.pattern), "local")
    known = pc.fill_null(pc.is_in(local, value_set=pa.array(sorted(listening))), False)
    found = filled_numpy(known.take(encoded.indices), False)
    if rows is None:
        return found
    # the regex on those calls alone: most calls of a trace are no receive (0.2 s at 1M)
    result = np.zeros(calls.num_rows, dtype=bool)
    result[rows] = found
    return result


def waits_for_client(calls: pa.Table, wait_fds: pa.Table | None = None) -> np.ndarray:
    """Receives, and polls for input, on the server's end of a connection (`server_side`)."""
    if calls.num_rows == 0:
        return np.zeros(0, dtype=bool)
    receiving = filled_numpy(
        pc.is_in(calls["syscall"], value_set=pa.array(sorted(_RECEIVES))), False
    )
    waiting_in = np.zeros(calls.num_rows, dtype=bool)
    if wait_fds is not None and wait_fds.num_rows:
        wants_in = pc.is_in(wait_fds["want"], value_set=pa.array(["in", "inout"]))
        waiting_in[wait_fds["row"].filter(wants_in).to_numpy()] = True
    # (`server_side` among the waiting calls is False for every other call)
    return server_side(calls, np.asarray(receiving, dtype=bool) | waiting_in)


def resource_waits(calls: pa.Table, wait_fds: pa.Table | None = None) -> np.ndarray:
    """Which calls are poll/select waits on one resource: their one fd is a connected socket
    (a ``->`` peer), a pipe, a file or a device. Those are a synchronous client waiting for a
    peer, a parent waiting for a child's output, a resolver waiting for its nameserver, unlike
    an event loop's waits on a set of fds and the idle waits on a listener, an eventfd, a
    timer or a signalfd. Three more kinds of single-fd waits are idle and left out: a server
    waiting for its client's next request (`waits_for_client`), a process waiting on its own
    self-pipe (it holds both ends: a supervisor's wake-up pipe), and a thread that polls one fd
    on a schedule, waking up by timeout (`PERIODIC_TIMEOUT_SHARE` of at least
    `PERIODIC_MIN_WAITS` waits on the same target: a supervisor's tick)."""
    if calls.num_rows == 0:
        return np.zeros(0, dtype=bool)
    waits = pc.fill_null(
        pc.is_in(calls["syscall"], value_set=pa.array(sorted(WAITS_ON_SETS))), False
    )
    target = calls["target"]
    kind = calls["target_kind"]
    connected = pc.fill_null(pc.match_substring(target, "->"), False)
    channel = pc.fill_null(pc.is_in(kind, value_set=pa.array(["pipe", "file", "device"])), False)
    mask = np.asarray(
        pc.and_(waits, pc.or_(connected, channel)).to_numpy(zero_copy_only=False), dtype=bool
    )
    if not mask.any():
        return mask
    mask &= ~waits_for_client(calls, wait_fds)
    if wait_fds is not None and wait_fds.num_rows:
        # A self-pipe is the process waiting for its own signal handler or threads.
        mask[wait_fds["row"].filter(wait_fds["own_pipe"]).to_numpy()] = False
    rows = np.flatnonzero(mask)
    timed_out = pc.fill_null(pc.equal(calls["aux"].take(pa.array(rows)), "Timeout"), False)
    frame = pd.DataFrame(
        {
            "tid": calls["tid"].take(pa.array(rows)).to_numpy(zero_copy_only=False),
            "target": calls["target"].take(pa.array(rows)).to_numpy(zero_copy_only=False),
            "timeout": np.asarray(timed_out.to_numpy(zero_copy_only=False), dtype=bool),
        }
    )
    per = frame.groupby(["tid", "target"], dropna=False)["timeout"]
    periodic = (per.transform("size") >= PERIODIC_MIN_WAITS) & (
        per.transform("mean") >= PERIODIC_TIMEOUT_SHARE
    )
    mask[rows[periodic.to_numpy(dtype=bool)]] = False
    return mask
