"""The reading end of a pipe, and how its reader reads: who drains what a writer waits on.

A ``write`` to a full pipe sleeps until the reader frees room (pipe(7), "Pipe capacity";
``pipe_write`` in ``fs/pipe.c``), so a writer blocked on a pipe is waiting for the process
at the other end. `pipe_readers` finds that process in the trace:

- **by its reads**: the tasks that ``read``/``readv``/``splice`` from the same pipe (the
  target ``pipe:[INODE]`` with ``-y``, or the ``pipe:[L<line>]`` the fd replay names after
  the ``pipe``/``pipe2`` call that made it, followed through ``fork``, ``dup2`` and
  ``execve``);
- **by its stdin**: without a read in the trace (a reader stuck elsewhere the whole time),
  the processes that put the pipe on their fd 0 (``dup2(3<pipe:[N]>, 0)`` in a child
  before ``execve``, as ``subprocess.Popen(stdin=...)`` and a shell's ``|`` do) or used it
  as fd 0.

How it reads says why it is slow: reads that return a full buffer mean data was waiting,
the pipe was never the limit; what the reader's thread did between its reads (a sleep, a
write to its spool, a send to a collector, CPU with no syscall) is where the drain rate
went. Everything here is plain data for the passes (``PipeReader.to_json``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, is_in, numbers, take_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_durations
from analyzer.derive.strace_families import SLEEPS
from analyzer.derive.strace_names import process_names

PIPE_READS: frozenset[str] = frozenset({"read", "readv", "preadv", "preadv2", "splice"})
"""Calls that drain a pipe given as their first fd."""
PIPE_WRITES: frozenset[str] = frozenset({"write", "writev", "pwritev", "pwritev2", "vmsplice"})
"""Calls that fill a pipe given as their first fd."""
SOCKET_READS: frozenset[str] = frozenset({"recv", "recvfrom", "recvmsg", "recvmmsg"})
SOCKET_WRITES: frozenset[str] = frozenset({"send", "sendto", "sendmsg", "sendmmsg"})
_UNIX_PAIR = re.compile(r"^(?P<proto>UNIX(?:-[A-Z]+)?):\[(?P<local>\d+)->(?P<peer>\d+)")
_DUPS = frozenset({"dup2", "dup3"})
_SELECTS = frozenset({"select", "pselect6", "_newselect"})
_POLLS = frozenset({"poll", "ppoll"})
_WAITS = frozenset({"futex", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll"})
_WAITED_READ_S = 0.001
"""A read on a pipe with data returns in microseconds; one that took this long waited for
data (the pipe was empty)."""
_BUFFER = re.compile(r", (\d+)\)?$")


@dataclass(frozen=True)
class PipeReader:
    """One process reading a pipe (see the module docstring)."""

    pid: int | None
    tids: tuple[int, ...]
    name: str | None
    found_by: str
    """``reads`` (it read the pipe in the trace) or ``stdin`` (the pipe is its fd 0)."""
    reads: int = 0
    bytes: int = 0
    read_size: int | None = None
    """The buffer size its reads asked for (the most common)."""
    full_reads: int = 0
    """Reads that filled the buffer: data was waiting, the reader was the limit."""
    waited_reads: int = 0
    """Reads that waited for data (the pipe was empty then)."""
    first_read_s: float | None = None
    last_read_s: float | None = None
    reading_s: float = 0.0
    """Time in the read calls."""
    between_s: float = 0.0
    """Time between its first and last read not spent reading."""
    sleep_s: float = 0.0
    """Of that, time asleep (nanosleep, clock_nanosleep, a select/poll on no fd)."""
    wait_s: float = 0.0
    """Of that, time waiting for something else (a lock, an event loop's poll)."""
    io_s: float = 0.0
    """Of that, time in other calls (writing its spool, sending to a collector ...)."""
    cpu_s: float = 0.0
    """Of that, time in no syscall (CPU, or strace's own stops)."""
    longest_gap_s: float = 0.0
    """The longest time between the end of one read and the start of the next."""
    bytes_per_s: float | None = None
    """Bytes drained per second between its first and last read."""
    between_calls: tuple[dict[str, Any], ...] = ()
    """What it did between reads: ``[{syscall, kind, calls, total_s}]``, costliest first
    (kind: ``sleep``, ``wait`` or ``io``)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tids"] = list(self.tids)
        data["between_calls"] = [dict(row) for row in self.between_calls]
        return data


def _sleep_mask(names: pd.Series, args: pd.Series) -> np.ndarray:
    """Calls that only sleep: nanosleep, or a select/poll with no fd (``time.sleep`` on
    CPython < 3.11 is ``select(0, NULL, NULL, NULL, &tv)``)."""
    heads = args.fillna("").str.slice(0, 24)
    no_fd_select = names.isin(_SELECTS) & heads.str.startswith("0, NULL, NULL, NULL")
    no_fd_poll = names.isin(_POLLS) & (
        heads.str.startswith("NULL, 0") | heads.str.startswith("[], 0")
    )
    return np.asarray(names.isin(SLEEPS) | no_fd_select | no_fd_poll, dtype=bool)


def _reader(
    trace: StraceTables,
    pid: int | None,
    name: str | None,
    reads: pd.DataFrame,
) -> PipeReader:
    """The reading pattern of one process from its reads (rows of the calls table)."""
    calls = trace.syscalls
    tids = tuple(sorted(int(t) for t in reads["tid"].unique()))
    first = float(reads["start"].min())
    last_end = float((reads["start"] + reads["duration"]).max())
    sizes = reads["args"].str.extract(_BUFFER)[0].dropna().astype(np.int64)
    read_size = int(sizes.mode().iloc[0]) if len(sizes) else None
    returned = reads["retval"].fillna(0).clip(lower=0)
    full = int((returned >= read_size).sum()) if read_size else 0
    reading = float(reads["duration"].sum())
    # What its threads did between the first and the last read.
    tid_column = numbers(calls["tid"])
    starts = numbers(calls["start_s"])
    inside = np.isin(tid_column, np.array(tids, dtype=np.float64)) & (starts >= first)
    inside &= starts < last_end
    rows = np.flatnonzero(inside)
    rows = rows[~np.isin(rows, reads.index.to_numpy())]
    between = pd.DataFrame(
        {
            "syscall": take_rows(calls["syscall"], rows).to_pandas(),
            "args": take_rows(calls["args"], rows).to_pandas(),
            "duration": call_durations(take_rows(calls, rows)),
        }
    )
    between["duration"] = between["duration"].fillna(0.0)
    sleeping = _sleep_mask(between["syscall"], between["args"])
    waiting = ~sleeping & np.asarray(between["syscall"].isin(_WAITS), dtype=bool)
    between["kind"] = np.where(sleeping, "sleep", np.where(waiting, "wait", "io"))
    grouped = (
        between.groupby(["syscall", "kind"])["duration"]
        .agg(calls="count", total_s="sum")
        .reset_index()
        .sort_values("total_s", ascending=False, kind="stable")
    )
    span = max(last_end - first, 0.0) * len(tids)
    gaps = np.array([0.0])
    if len(reads) > 1:
        ordered = reads.sort_values("start")
        ends = (ordered["start"] + ordered["duration"]).to_numpy()
        gaps = ordered["start"].to_numpy()[1:] - ends[:-1]
    bytes_read = int(returned.sum())
    elapsed = last_end - first
    return PipeReader(
        pid=pid,
        tids=tids,
        name=name,
        found_by="reads",
        reads=len(reads),
        bytes=bytes_read,
        read_size=read_size,
        full_reads=full,
        waited_reads=int((reads["duration"] >= _WAITED_READ_S).sum()),
        first_read_s=first,
        last_read_s=float(reads["start"].max()),
        reading_s=reading,
        between_s=max(span - reading, 0.0),
        sleep_s=float(between["duration"][sleeping].sum()),
        wait_s=float(between["duration"][waiting].sum()),
        io_s=float(between["duration"][~sleeping & ~waiting].sum()),
        cpu_s=max(span - reading - float(between["duration"].sum()), 0.0),
        longest_gap_s=float(max(gaps.max(), 0.0)),
        bytes_per_s=bytes_read / elapsed if elapsed > 0 else None,
        between_calls=tuple(
            {
                "syscall": row.syscall,
                "kind": row.kind,
                "calls": int(row.calls),
                "total_s": float(row.total_s),
            }
            for row in grouped.head(5).itertuples(index=False)
        ),
    )


def reading_ends(trace: StraceTables, target: str) -> list[str]:
    """The targets through which `target`'s data is read: the pipe itself, or for a
    connected UNIX socket ``UNIX-STREAM:[A->B]`` (``-yy``) its peer ``UNIX-STREAM:[B->A...]``."""
    pair = _UNIX_PAIR.match(target)
    if pair is None:
        return [target]
    prefix = f"{pair['proto']}:[{pair['peer']}->{pair['local']}"
    peers = pc.unique(
        trace.syscalls["target"].filter(
            pc.fill_null(pc.starts_with(trace.syscalls["target"], prefix), False)
        )
    )
    return sorted(peers.to_pylist())


def pipe_readers(
    trace: StraceTables, targets: Iterable[str], writers: Iterable[int] = ()
) -> dict[str, list[PipeReader]]:
    """The readers of each pipe in `targets` (target texts as in the calls table; a
    connected UNIX socket is read through its peer, `reading_ends`), the processes whose
    reads drained most first; processes in `writers` (pids) are readers only through their
    reads. A pipe without a reader in the trace maps to an empty list."""
    wanted = sorted(set(targets))
    found: dict[str, list[PipeReader]] = {target: [] for target in wanted}
    calls = trace.syscalls
    if not wanted or calls.num_rows == 0:
        return found
    ends = {target: reading_ends(trace, target) for target in wanted}
    every = sorted({end for group in ends.values() for end in group})
    if not every:
        return found
    on_pipe = np.flatnonzero(
        filled_numpy(pc.is_in(calls["target"], value_set=pa.array(every)), False)
    )
    if len(on_pipe) == 0:
        return found
    table = take_rows(
        calls.select(["tid", "pid", "syscall", "args", "fd", "target", "retval"]), on_pipe
    )
    frame = table.to_pandas()
    frame.index = on_pipe
    picked = take_rows(calls, on_pipe)
    frame["start"] = numbers(picked["start_s"])
    frame["duration"] = np.nan_to_num(call_durations(picked), nan=0.0)
    writer_pids = {int(pid) for pid in writers}
    read_rows = frame[is_in(table["syscall"], PIPE_READS | SOCKET_READS)]
    # A process that put the pipe on its stdin: dup2(N<pipe>, 0), or fd 0 used as the pipe.
    dups = frame[is_in(table["syscall"], _DUPS)]
    onto_stdin = dups[dups["args"].str.match(r"^-?\d+(?:<[^>]*>)?, 0\b")]
    stdin_users = frame[(frame["fd"] == 0)]
    pids = {int(p) for p in read_rows["pid"].dropna()}
    pids |= {int(p) for p in onto_stdin["pid"].dropna()} | {
        int(p) for p in stdin_users["pid"].dropna()
    }
    names = process_names(trace, pids)
    for target in wanted:
        readers = []
        reads = read_rows[read_rows["target"].isin(ends[target])]
        for pid, rows in reads.groupby(reads["pid"].fillna(-1)):
            process = None if pid < 0 else int(pid)
            readers.append(_reader(trace, process, names.get(process or -1), rows))
        if not readers:
            holders = pd.concat(
                [
                    onto_stdin[onto_stdin["target"].isin(ends[target])],
                    stdin_users[stdin_users["target"].isin(ends[target])],
                ]
            )
            for pid in sorted({int(p) for p in holders["pid"].dropna()} - writer_pids):
                tids = tuple(
                    sorted(int(t) for t in holders.loc[holders["pid"] == pid, "tid"].unique())
                )
                readers.append(
                    PipeReader(pid=pid, tids=tids, name=names.get(pid), found_by="stdin")
                )
        readers.sort(key=lambda reader: (-reader.bytes, -reader.reads, reader.pid or 0))
        found[target] = readers
    return found
