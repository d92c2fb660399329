"""Lock state replayed from strace: futex waits and wakes, and file locks (flock, fcntl).

**Futexes.** Every lock, condition variable and semaphore of glibc (and so of CPython)
sleeps in ``futex``: a waiter calls ``futex(addr, FUTEX_WAIT*, ...)``, the releaser
``futex(addr, FUTEX_WAKE*, ...)`` on the same address. `futex_calls` reads the address and
operation of every futex call (from the distinct argument heads) and keys the calls by
(process, address), the two words of a glibc condition variable as one key.
`attribute_waits` tells, per woken wait, which thread it was waiting for: an uncontended
acquire makes no syscall, so the thread whose FUTEX_WAKE ended the wait is the holder, and
its hold is seen from the start of the wait (or from its own wake-up on the address, when it
had queued there itself) to its wake; earlier parts of the wait go back along the chain of
hand-offs to whoever held it before.

A long trace has tens of millions of futex calls: the passes do not hold them all. They key
them (`futex_keys`: the distinct heads and pairs only), decide on per-key sums made in one
scan (`futex_summary`, shared by the passes) and read back the calls of the keys they need,
a batch of keys per scan (`futex_batches`).

**File locks.** `file_lock_calls` decodes ``flock(fd, LOCK_EX|LOCK_NB)`` and
``fcntl(fd, F_SETLK|F_SETLKW|F_OFD_SETLK|F_OFD_SETLKW, {l_type=..., l_whence=...,
l_start=..., l_len=...})``; `replay_file_locks` replays them in time order, with the
releases the kernel makes itself: POSIX record locks belong to the (process, file) and
all of them go when the process closes ANY fd of the file or exits (fcntl(2), "Advisory
record locking"); flock locks and OFD locks belong to the open file description and go
with its last fd (approximated by the (process, fd)). A lock is taken when its call
returns 0 and given up when the unlocking call (LOCK_UN, F_UNLCK, close) starts. A blocked
``F_SETLKW``/``flock`` is a wait; a refused ``F_SETLK``/``LOCK_NB`` (EAGAIN, EACCES) is a
try, and the time until the same thread's next try on the file (SQLite's busy handler
sleeps 1-100 ms in between) is waiting too. Each wait is charged to the owner that held a
conflicting lock (ranges that overlap, one of them a write lock) and released last.

SQLite in rollback-journal mode locks bytes of the database file (src/os_unix.c): PENDING
at 0x40000000, RESERVED at 0x40000001 and the 510-byte SHARED range after them; a reader
holds a read lock on the SHARED range for its whole read transaction, a writer needs
RESERVED, then PENDING and a write lock on the SHARED range (EXCLUSIVE) to commit, and
gets SQLITE_BUSY (its busy handler sleeps and retries) while any reader holds SHARED.
`sqlite_lock_name` names those ranges.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import ROWS_PER_SLICE, filled_numpy, numbers, row_slices, selected_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_times
from analyzer.derive.strace_fds import sockaddr_text
from analyzer.derive.strace_rows import numbers_at, rows_of, taken
from analyzer.derive.strace_slices import TIME_COLUMNS, times_at

WAIT_OPS = frozenset(
    {
        "FUTEX_WAIT",
        "FUTEX_WAIT_BITSET",
        "FUTEX_LOCK_PI",
        "FUTEX_LOCK_PI2",
        "FUTEX_WAIT_REQUEUE_PI",
    }
)
WAKE_OPS = frozenset(
    {
        "FUTEX_WAKE",
        "FUTEX_WAKE_BITSET",
        "FUTEX_WAKE_OP",
        "FUTEX_UNLOCK_PI",
        "FUTEX_REQUEUE",
        "FUTEX_CMP_REQUEUE",
        "FUTEX_CMP_REQUEUE_PI",
    }
)
PI_OPS = frozenset({"FUTEX_LOCK_PI", "FUTEX_LOCK_PI2"})
WAIT, WAKE = 1, 2
ARGS_HEAD = 64
"""Bytes of the arguments that surely hold the address (up to 18) and the operation (up to
``FUTEX_WAIT_REQUEUE_PI_PRIVATE``)."""
_ADDRESS_AND_OP = r"^\s*(?P<address>[^,\s]+)(?:,\s*(?P<op>[A-Z0-9_]+))?"


def base_op(op: str | None) -> str | None:
    """``FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME`` -> ``FUTEX_WAIT_BITSET``."""
    if not op:
        return None
    head = op.split("|", 1)[0].strip()
    return head.removesuffix("_PRIVATE")


@dataclass(frozen=True)
class Futexes:
    """The futex calls of a trace with what the pass needs per call."""

    rows: np.ndarray
    """Row of each call in the syscalls table."""
    op: np.ndarray
    """WAIT, WAKE or 0 (another operation) per call (int8)."""
    op_name: np.ndarray
    """Index in `op_names` of each call's operation (int32)."""
    op_names: list[str]
    """Operations without flags (``FUTEX_WAIT_BITSET``), ``?`` for an unreadable one."""
    keys: np.ndarray
    """(process, address) code per call, -1 without an address (int32: cast before
    arithmetic that may pass 2**31)."""
    addresses: list[str]
    key_address: np.ndarray
    """Index in `addresses` of each key."""
    key_pid: np.ndarray
    key_condvar: np.ndarray
    """Whether each key is a glibc condition variable's word pair (see the module docstring)."""
    starts: np.ndarray
    ends: np.ndarray
    tids: np.ndarray


def _codes(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(filled_numpy(array, -1), np.int64)


MEMO_CALLS = 2_000_000
"""Traces of at most so many calls keep their futex calls' rows and pair codes between the
scans of `_futex_parts` (16 bytes a futex call: 3 MiB at 1M lines, where it saves four
scans' filtering and keying of the argument texts)."""

FUTEX_ROWS_PER_SLICE = ROWS_PER_SLICE // 4
"""A quarter of a threaded program's calls are futex calls, whose argument texts a slice
copies: at 10M lines a quarter of the usual slice held 80 MiB less than the usual slice, at
the same CPU."""


def futex_calls(trace: StraceTables, rows_per_slice: int = FUTEX_ROWS_PER_SLICE) -> Futexes | None:
    """`read_futex_calls` of the trace: every futex call's arrays (some 40 bytes per futex
    call). The passes do not hold these: they key the calls (`futex_keys`) and then read
    the calls of the keys they need a batch at a time (`futex_batches`)."""
    return read_futex_calls(trace, rows_per_slice)


@dataclass(frozen=True)
class FutexKeys:
    """How the futex calls of a trace are keyed, worked out in one scan that keeps only the
    distinct argument heads and (process, head) pairs: per pair its key, operation kind and
    operation name, and per key what `Futexes` says of it."""

    head_ids: dict[bytes, int]
    pair_ids: dict[tuple[int, int], int]
    pair_key: np.ndarray
    pair_op: np.ndarray
    pair_op_name: np.ndarray
    op_names: list[str]
    addresses: list[str]
    key_address: np.ndarray
    key_pid: np.ndarray
    key_condvar: np.ndarray
    rows_per_slice: int


KEY_COLUMNS = ("syscall", "args", "pid")
"""What keying a futex call reads."""
CALL_COLUMNS = ("tid", "start_s", "duration_s", "end_s", "status")
"""What `futex_slices` reads of the calls it keeps."""
FUTEX_COLUMNS = (*KEY_COLUMNS, *CALL_COLUMNS)
"""The columns of the calls table `read_futex_calls` reads (a slice at a time)."""


def _futex_parts(
    trace: StraceTables,
    head_ids: dict[bytes, int],
    pair_ids: dict[tuple[int, int], int],
    rows_per_slice: int,
    columns: Sequence[str] = (),
) -> Iterator[tuple[int, np.ndarray, np.ndarray, pa.Table]]:
    """Per slice of the calls table (its `KEY_COLUMNS` and `columns`): its first row, the
    slice's rows of its futex calls, and the code of each one's (pid, argument head) pair
    (new heads and pairs numbered into `head_ids`/`pair_ids` in the order they first
    appear, as one ``dictionary_encode`` over all futex calls would number them). Only the
    futex calls' arguments and pids are copied.

    A trace of at most `MEMO_CALLS` calls keeps each slice's futex rows and pair codes from
    its first whole scan (`StraceTables.memo`): the later scans that start from a key
    table's numbers (`futex_slices`: the summary, the lock passes' reads) only read their
    `columns`. The codes are those every scan gives: pairs numbered by first appearance."""
    memo = trace.memo if trace.syscalls.num_rows <= MEMO_CALLS else None
    known = None if memo is None else memo.get(("futex", rows_per_slice))
    # (keying, which starts without numbers, fills head_ids: it always scans)
    if isinstance(known, dict) and head_ids:
        read = list(dict.fromkeys(columns)) or ["syscall"]
        for offset, part in row_slices(trace.syscalls, read, rows_per_slice):
            if offset in known:
                local, pairs = known[offset]
                yield offset, local, pairs, part
        return
    scanned: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    wanted = list(dict.fromkeys([*KEY_COLUMNS, *columns]))
    for offset, part in row_slices(trace.syscalls, wanted, rows_per_slice):
        named = pc.fill_null(pc.equal(part["syscall"], "futex"), False)
        local = np.flatnonzero(np.asarray(named.to_numpy(zero_copy_only=False)))
        if len(local) == 0:
            continue
        # a filter, not a take, which would first concatenate the slice's chunks
        args = pc.cast(part["args"].filter(named), pa.binary())
        heads = pc.dictionary_encode(pc.binary_slice(args, 0, ARGS_HEAD).combine_chunks())
        ids = [head_ids.setdefault(text, len(head_ids)) for text in heads.dictionary.to_pylist()]
        head = np.array([*ids, -1], dtype=np.int64)[_codes(heads.indices)]
        pids = np.nan_to_num(numbers(part["pid"].filter(named)), nan=-1).astype(np.int64)
        pairs = _pair_codes(pids, head, pair_ids)
        scanned[offset] = (local, pairs)
        yield offset, local, pairs, part
    if memo is not None:  # a whole scan (one left early keeps nothing)
        memo[("futex", rows_per_slice)] = scanned


def futex_keys(trace: StraceTables, rows_per_slice: int | None = None) -> FutexKeys | None:
    """The keys of the trace's futex calls (see `read_futex_calls`), None without any; the
    calls table is read `rows_per_slice` rows (`FUTEX_ROWS_PER_SLICE`) at a time, by this
    scan and by those reading the calls back (`futex_slices`)."""
    rows_per_slice = FUTEX_ROWS_PER_SLICE if rows_per_slice is None else rows_per_slice
    head_ids: dict[bytes, int] = {}
    pair_ids: dict[tuple[int, int], int] = {}
    found = False
    for _ in _futex_parts(trace, head_ids, pair_ids, rows_per_slice):
        found = True
    if not found:
        return None
    dictionary = pa.array(list(head_ids), pa.binary())
    parts = pc.extract_regex(pc.cast(dictionary, pa.string()), _ADDRESS_AND_OP)
    head_address = pc.dictionary_encode(pc.struct_field(parts, "address"))
    op_names = [base_op(text) or "?" for text in pc.struct_field(parts, "op").to_pylist()]
    op_names.append("?")
    op_kinds = np.array(
        [WAIT if name in WAIT_OPS else WAKE if name in WAKE_OPS else 0 for name in op_names],
        dtype=np.int8,
    )
    # per pair, in the order of first appearance, as the calls would have them
    pair_pids = np.array([pid for pid, _ in pair_ids], dtype=np.int64)
    pair_heads = np.array([head for _, head in pair_ids], dtype=np.int64)
    op_name = np.where(pair_heads >= 0, pair_heads, len(dictionary))
    address = np.append(_codes(head_address.indices), -1)[pair_heads]
    addresses = head_address.dictionary.to_pylist()
    bitset_waits = np.array([name == "FUTEX_WAIT_BITSET" for name in op_names])[op_name]
    address, paired = _condvar_pairs(pair_pids, address, bitset_waits, addresses)
    width = len(addresses) + 1
    combined = np.where(address >= 0, (pair_pids + 1) * width + address, -1)
    # numbered by first appearance: the pairs are, so their values are too
    pair_keys, unique = pd.factorize(combined)
    return FutexKeys(
        head_ids=head_ids,
        pair_ids=pair_ids,
        pair_key=np.where(combined >= 0, pair_keys, -1).astype(np.int32),
        pair_op=op_kinds[op_name],
        pair_op_name=op_name.astype(np.int32),
        op_names=op_names,
        addresses=addresses,
        key_address=unique % width,
        key_pid=unique // width - 1,
        key_condvar=np.isin(unique, paired),
        rows_per_slice=rows_per_slice,
    )


Keep: TypeAlias = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Given a slice's futex calls' keys and operation kinds, which of them to read."""


def futex_slices(
    trace: StraceTables, index: FutexKeys, keep: Keep | None = None, columns: Sequence[str] = ()
) -> Iterator[tuple[Futexes, pa.Table]]:
    """The futex calls that `keep` selects, a slice of the calls table at a time: per slice
    their `Futexes` (with the trace's key tables) and their `columns`."""
    head_ids, pair_ids = dict(index.head_ids), dict(index.pair_ids)
    read = [*CALL_COLUMNS, *columns]
    for offset, local, pair, part in _futex_parts(
        trace, head_ids, pair_ids, index.rows_per_slice, read
    ):
        keys, op = index.pair_key[pair], index.pair_op[pair]
        if keep is not None:
            chosen = np.asarray(keep(keys, op), dtype=bool)
            if not chosen.any():
                continue
            local, pair, keys, op = local[chosen], pair[chosen], keys[chosen], op[chosen]
        mask = np.zeros(part.num_rows, dtype=bool)
        mask[local] = True
        part = part.select(list(dict.fromkeys(read))).filter(pa.array(mask))
        rows = offset + local
        starts, ends = call_times(part, np.arange(len(rows)), trace.last_s)
        futexes = Futexes(
            rows=rows,
            op=op,
            op_name=index.pair_op_name[pair],
            op_names=index.op_names,
            keys=keys,
            addresses=index.addresses,
            key_address=index.key_address,
            key_pid=index.key_pid,
            key_condvar=index.key_condvar,
            starts=starts,
            ends=ends,
            tids=numbers(part["tid"]).astype(np.int64),
        )
        yield futexes, part.select(list(columns))


PER_CALL = ("rows", "op", "op_name", "keys", "starts", "ends", "tids")


def joined(index: FutexKeys, pieces: Sequence[Futexes]) -> Futexes:
    """The futex calls of `pieces` (of one trace, in order) as one `Futexes`."""
    arrays: dict[str, np.ndarray] = {}
    for name in PER_CALL:
        found = [getattr(piece, name) for piece in pieces]
        kind = {"rows": np.int64, "op": np.int8, "op_name": np.int32, "keys": np.int32}.get(
            name, np.int64 if name == "tids" else np.float64
        )
        arrays[name] = np.concatenate(found).astype(kind) if found else np.zeros(0, kind)
    return Futexes(
        op_names=index.op_names,
        addresses=index.addresses,
        key_address=index.key_address,
        key_pid=index.key_pid,
        key_condvar=index.key_condvar,
        **arrays,
    )


def gather(trace: StraceTables, index: FutexKeys, keep: Keep | None = None) -> Futexes:
    """The futex calls `keep` selects, in row order, as one `Futexes`."""
    return joined(index, [futexes for futexes, _ in futex_slices(trace, index, keep)])


BATCH_CALLS = 1 << 20
"""Futex calls read into memory at once (some 40 bytes each) by `futex_batches`, unless one
key alone has more."""


def futex_batches(
    trace: StraceTables,
    index: FutexKeys,
    keys: Sequence[int],
    calls: np.ndarray,
    keep: Keep,
    batch_calls: int | None = None,
) -> Iterator[tuple[list[int], Futexes]]:
    """The calls of `keys` that `keep` selects, for a batch of keys at a time (in the order
    given) whose `calls` (per key, how many calls `keep` selects) add up to at most
    `batch_calls` (`BATCH_CALLS`), one key alone when it has more: one scan of the trace
    per batch, and one batch's calls held at a time."""
    limit = BATCH_CALLS if batch_calls is None else batch_calls
    batch: list[int] = []
    size = 0
    for key in [*keys, None]:
        count = int(calls[key]) if key is not None else 0
        if batch and (key is None or size + count > limit):
            wanted = np.zeros(len(index.key_pid) + 1, dtype=bool)
            wanted[batch] = True
            chosen = wanted

            def selected(
                slice_keys: np.ndarray, op: np.ndarray, chosen: np.ndarray = chosen
            ) -> np.ndarray:
                return chosen[slice_keys] & keep(slice_keys, op)

            yield batch, gather(trace, index, selected)
            batch, size = [], 0
        if key is not None:
            batch.append(int(key))
            size += count


def read_futex_calls(
    trace: StraceTables, rows_per_slice: int = FUTEX_ROWS_PER_SLICE
) -> Futexes | None:
    """The futex calls of `trace`, keyed by (process, address).

    The address and the operation are the first two arguments; they are read from the
    distinct heads (`ARGS_HEAD` bytes) of the argument texts (few: one per address and
    operation), not from each call. The calls table is read `rows_per_slice` rows at a
    time, and everything a call's key and operation depend on is worked out once per
    distinct (process, head) pair (`futex_keys`, one scan); a second scan reads each call's
    row, pair, thread and times (some 40 bytes per call), never a whole column of the trace.
    """
    index = futex_keys(trace, rows_per_slice)
    return None if index is None else gather(trace, index)


# --- what the futex passes decide on, per key ------------------------------------------------


@dataclass(frozen=True)
class FutexSummary:
    """Per futex key of a trace, what the futex passes decide on before they read any key's
    calls (one scan of the futex calls, after `futex_keys`'): some numbers per key, and the
    lengths of the timed-out waits on condition variables."""

    index: FutexKeys
    total: np.ndarray
    """Time in the key's waits that have a start and an end not before it, summed in row
    order (as one ``bincount`` over them)."""
    first: np.ndarray
    """The first start of those waits (inf without any)."""
    waiters: np.ndarray
    """The distinct threads of those waits."""
    calls: np.ndarray
    """The key's waits and wakes."""
    timed_out: dict[int, np.ndarray]
    """Per condition-variable key, the lengths (end - start) of its waits that ended in
    ETIMEDOUT, in row order."""


def waits_and_wakes(keys: np.ndarray, op: np.ndarray) -> np.ndarray:
    """The calls with a key that wait or wake."""
    return ((op == WAIT) | (op == WAKE)) & (keys >= 0)


def timed_waits(futexes: Futexes) -> np.ndarray:
    """The waits with a key, a start and an end not before it."""
    return (
        (futexes.op == WAIT)
        & (futexes.keys >= 0)
        & ~np.isnan(futexes.starts)
        & (futexes.ends >= futexes.starts)
    )


def _distinct_pairs(keys: np.ndarray, tids: np.ndarray) -> set[tuple[int, int]]:
    """The distinct (key, tid) pairs (keys >= 0)."""
    if len(tids) and tids.min() >= 0 and tids.max() < 1 << 31:
        found = pd.unique(keys << 31 | tids)  # hashed: no sort of every wait
        return set(zip((found >> 31).tolist(), (found & ((1 << 31) - 1)).tolist(), strict=True))
    return set(zip(keys.tolist(), tids.tolist(), strict=True))


_SUMMARIES: dict[tuple[int, int], tuple[weakref.ref[pa.Table], FutexSummary | None]] = {}
"""The summary of each trace's calls table still alive (and slice size): the three futex
passes share one (a few numbers per key) instead of scanning the trace twice each."""
_SUMMARIES_LOCK = threading.Lock()


def futex_summary(trace: StraceTables) -> FutexSummary | None:
    """The `FutexSummary` of the trace (None without futex calls), worked out once."""
    calls = trace.syscalls
    key = (id(calls), FUTEX_ROWS_PER_SLICE)
    # passes run side by side (`passes.run_passes` with a pool): one works it out, the
    # others wait for it
    with _SUMMARIES_LOCK:
        known = _SUMMARIES.get(key)
        if known is not None and known[0]() is calls:
            return known[1]
        summary = _summarize(trace)
        _SUMMARIES[key] = (weakref.ref(calls, lambda _: _SUMMARIES.pop(key, None)), summary)
        return summary


def _summarize(trace: StraceTables) -> FutexSummary | None:
    index = futex_keys(trace)
    if index is None:
        return None
    size = len(index.key_pid)
    total = np.zeros(size)
    first = np.full(size, np.inf)
    calls = np.zeros(size, dtype=np.int64)
    pairs: set[tuple[int, int]] = set()
    timed_out: dict[int, list[np.ndarray]] = {}
    for futexes, part in futex_slices(trace, index, waits_and_wakes, ("errno",)):
        calls += np.bincount(futexes.keys, minlength=size)
        valid = timed_waits(futexes)
        keys = futexes.keys[valid]
        np.add.at(total, keys, futexes.ends[valid] - futexes.starts[valid])
        np.minimum.at(first, keys, futexes.starts[valid])
        pairs.update(_distinct_pairs(keys.astype(np.int64), futexes.tids[valid]))
        condvar_waits = (futexes.op == WAIT) & index.key_condvar[futexes.keys]
        errnos = pc.fill_null(pc.equal(part["errno"], "ETIMEDOUT"), False)
        ended = condvar_waits & np.asarray(errnos, dtype=bool)
        lengths, ended_keys = futexes.ends[ended] - futexes.starts[ended], futexes.keys[ended]
        for at in np.unique(ended_keys).tolist():
            timed_out.setdefault(int(at), []).append(lengths[ended_keys == at])
    waiters = np.bincount(np.array([at for at, _ in pairs], dtype=np.int64), minlength=size)
    return FutexSummary(
        index,
        total,
        first,
        waiters,
        calls,
        {at: np.concatenate(parts) for at, parts in sorted(timed_out.items())},
    )


def _pair_codes(
    pids: np.ndarray, heads: np.ndarray, pair_ids: dict[tuple[int, int], int]
) -> np.ndarray:
    """The code of each call's (pid, head) pair, new pairs numbered (into `pair_ids`) in the
    order they first appear."""
    if len(pids) and pids.min() >= -1 and pids.max() < 1 << 31:
        # one int64 per pair (a pid is below 2**22, a head code -1 or below 2**31)
        local, found = pd.factorize((pids + 1) << 32 | (heads + 1))
        pairs = [(int(value >> 32) - 1, int(value & 0xFFFFFFFF) - 1) for value in found]
    else:
        local, pairs = _pairs_in_order(pids, heads)
    codes = np.array([pair_ids.setdefault(pair, len(pair_ids)) for pair in pairs], np.int32)
    return codes[local]


def _pairs_in_order(
    pids: np.ndarray, heads: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per call, the index of its (pid, head) pair among the distinct pairs, listed in the
    order they first appear."""
    found, first, inverse = np.unique(
        np.stack([pids, heads], axis=1), axis=0, return_index=True, return_inverse=True
    )
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    pairs = [(int(found[at][0]), int(found[at][1])) for at in order.tolist()]
    return rank[inverse.reshape(-1)], pairs


def _condvar_pairs(
    pids: np.ndarray, address: np.ndarray, bitset_waits: np.ndarray, addresses: list[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """`address` (codes into `addresses`) with the second word of each glibc condition
    variable replaced by its first, and the (process, first word) keys so formed, encoded as
    ``(pid + 1) * (len(addresses) + 1) + code`` like the caller's keys."""
    width = len(addresses) + 1
    values = np.array([hex_value(text) for text in addresses] + [-1], dtype=np.int64)
    waited = np.unique(((pids + 1) * width + address)[bitset_waits & (address >= 0)])
    waited_pids, waited_codes = waited // width - 1, waited % width
    code_of = {int(value): code for code, value in enumerate(values[:-1]) if value >= 0}
    waited_keys = set(waited.tolist())
    pairs: dict[int, int] = {}
    for pid, code in zip(waited_pids.tolist(), waited_codes.tolist(), strict=True):
        value = int(values[code])
        first = code_of.get(value - 4)
        if value % 8 == 4 and first is not None and (pid + 1) * width + first in waited_keys:
            pairs[(pid + 1) * width + code] = first
    if not pairs:
        return address, np.empty(0, dtype=np.int64)
    seconds = np.array(sorted(pairs), dtype=np.int64)
    firsts = np.array([pairs[key] for key in seconds.tolist()], dtype=np.int64)
    combined = np.where(address >= 0, (pids + 1) * width + address, -1)
    at = np.minimum(np.searchsorted(seconds, combined), len(seconds) - 1)
    second = seconds[at] == combined
    remapped = np.where(second, firsts[at], address)
    return remapped, np.unique(seconds // width * width + firsts)


def hex_value(text: str | None) -> int:
    try:
        value = int(text, 16) if text and text.startswith("0x") else -1
        return value if value < 1 << 63 else -1  # wider than an int64 key: not paired
    except ValueError:
        return -1


def who_woke(
    wait_starts: np.ndarray,
    wait_ends: np.ndarray,
    woken: np.ndarray,
    wake_starts: np.ndarray,
    wake_tids: np.ndarray,
) -> np.ndarray:
    """Per wait, the thread whose FUTEX_WAKE (the last one on the address that started
    while the wait was in progress) woke it; -1 when it was not woken or no wake fits.
    `wake_starts` must be sorted."""
    if len(wake_starts) == 0:
        return np.full(len(wait_starts), -1, dtype=np.int64)
    last = np.searchsorted(wake_starts, wait_ends, side="right") - 1
    found = woken & (last >= 0)
    found[found] &= wake_starts[last[found]] >= wait_starts[found]
    return np.where(found, wake_tids[np.maximum(last, 0)], -1)


def futex_key(pid: int, address: str) -> str:
    """The resource key findings about one futex share (``futex 1234:0x7f00`` )."""
    return f"futex {pid}:{address}"


# --- who held a futex -------------------------------------------------------------------------


MAX_CHAIN = 256
"""Hand-offs followed back from one wait at most."""


@dataclass(frozen=True)
class Held:
    """Who each woken wait on one futex waited for (`attribute_waits`)."""

    holder: np.ndarray
    """Per piece: the thread that held the lock (its wake ended the piece), -1 unknown."""
    wait: np.ndarray
    """Per piece: index (into the waits given) of the wait it is part of."""
    start: np.ndarray
    end: np.ndarray
    waiter_holder: np.ndarray
    """Per piece: whether its holder is itself one of the address's waiters."""


def attribute_waits(
    wait_tids: np.ndarray,
    wait_starts: np.ndarray,
    wait_ends: np.ndarray,
    wakers: np.ndarray,
    wake_starts: np.ndarray | None = None,
    wake_tids: np.ndarray | None = None,
) -> Held:
    """Split each woken wait (``wakers >= 0``: the thread whose FUTEX_WAKE ended it, see
    `who_woke`) into the holds it waited through. The waker held the lock before its wake
    since the later of: its own last wake-up on the address (a hand-off from the thread
    that woke it) and the last wake on the address by another thread (`wake_starts`/
    `wake_tids`, sorted: that thread released the lock then, so the waker took it after);
    without either, since the wait's start. The part before goes to the thread that handed
    it the lock or released it before, and so on back (at most `MAX_CHAIN` steps). Loops
    over the waits of one address (a few thousand at most)."""
    woken = np.flatnonzero(wakers >= 0)
    if wake_starts is None or wake_tids is None:
        wake_starts = np.empty(0)
        wake_tids = np.empty(0, dtype=np.int64)
    # each thread's woken waits on this address, by end time, to find its last hand-off
    by_thread: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for tid in np.unique(wait_tids[woken]).tolist():
        mine = woken[wait_tids[woken] == tid]
        mine = mine[np.argsort(wait_ends[mine], kind="stable")]
        by_thread[int(tid)] = (wait_ends[mine], mine)
    waiters = np.unique(wait_tids)
    # per wake, the index just before its run of wakes by the same thread: the last wake
    # by another thread before it
    if len(wake_tids):
        new_run = np.concatenate([[True], wake_tids[1:] != wake_tids[:-1]])
        run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(wake_tids)), 0))
        before_run = run_start - 1
    else:
        before_run = np.empty(0, dtype=np.int64)
    # typed arrays, not lists: 8 bytes a number, not a Python object each (a convoy's
    # hundreds of thousands of waits)
    holders = array("q")
    pieces_wait = array("q")
    starts = array("d")
    ends = array("d")
    for index in woken.tolist():
        begin, until, holder = (
            float(wait_starts[index]),
            float(wait_ends[index]),
            int(wakers[index]),
        )
        for _ in range(MAX_CHAIN):
            if until <= begin:
                break
            # its last hand-off before `until` (not this very wait)
            handed, handed_by = -math.inf, -1
            own = by_thread.get(holder)
            if own is not None:
                at = int(np.searchsorted(own[0], until, side="left")) - 1
                while at >= 0 and own[1][at] == index:
                    at -= 1
                if at >= 0:
                    handed, handed_by = float(own[0][at]), int(wakers[own[1][at]])
            # the last release by another thread before `until` (excluding the wake at
            # `until` itself, which is this holder's)
            released, released_by = -math.inf, -1
            at = int(np.searchsorted(wake_starts, until, side="left")) - 1
            if at >= 0 and wake_tids[at] == holder:
                at = int(before_run[at])
            if at >= 0:
                released, released_by = float(wake_starts[at]), int(wake_tids[at])
            boundary = max(handed, released)
            held_from = max(begin, boundary)
            holders.append(holder)
            pieces_wait.append(index)
            starts.append(held_from)
            ends.append(until)
            if boundary <= begin:
                break
            until = boundary
            holder = handed_by if handed >= released else released_by
            if holder < 0:
                holders.append(-1)
                pieces_wait.append(index)
                starts.append(begin)
                ends.append(until)
                break
    holder_array = np.frombuffer(holders, dtype=np.int64).copy()
    return Held(
        holder=holder_array,
        wait=np.frombuffer(pieces_wait, dtype=np.int64).copy(),
        start=np.frombuffer(starts, dtype=np.float64).copy(),
        end=np.frombuffer(ends, dtype=np.float64).copy(),
        waiter_holder=np.isin(holder_array, waiters),
    )


# --- what a thread did in some intervals ------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """What one thread (or the threads of one process) did inside some intervals."""

    span_s: float
    """The intervals' total length."""
    syscall_s: float
    """Time inside syscalls (clipped to the intervals)."""
    futex_wait_s: float
    """Of which waiting on futexes (other locks, condition variables)."""
    by_resource: list[dict[str, Any]] = field(default_factory=list)
    """The resources it spent the most time on: resource, syscalls, calls, seconds."""
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Rows (in the syscalls table) of its calls inside the intervals."""

    @property
    def other_s(self) -> float:
        """Time outside syscalls: CPU, or calls strace did not show."""
        return max(0.0, self.span_s - self.syscall_s)


Resources: TypeAlias = Callable[[np.ndarray], tuple[np.ndarray, Sequence[str]]]
"""Given rows of the calls table, a resource code per row and the names the codes index
(-1: no resource)."""


def _union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(starts, kind="stable")
    merged_starts: list[float] = []
    merged_ends: list[float] = []
    for start, end in zip(starts[order].tolist(), ends[order].tolist(), strict=True):
        if merged_ends and start <= merged_ends[-1]:
            merged_ends[-1] = max(merged_ends[-1], end)
        else:
            merged_starts.append(start)
            merged_ends.append(end)
    return np.array(merged_starts), np.array(merged_ends)


def activity(
    trace: StraceTables,
    tids: Sequence[int],
    starts: np.ndarray,
    ends: np.ndarray,
    resources: Resources | None = None,
    top: int = 3,
    rows_per_slice: int = ROWS_PER_SLICE,
) -> Activity:
    """What the threads `tids` did inside the intervals [starts, ends): their syscalls
    clipped to the intervals, the time per resource (`resources`: given rows of the calls
    table, a code per row into the names it gives with them, as
    `analyzer.passes.targets.encode_resources` does; a call without a resource counts under
    its syscall name). The threads' calls are found a slice of `rows_per_slice` rows at a
    time."""
    if len(starts) == 0:
        return Activity(0.0, 0.0, 0.0)
    lo, hi = _union(np.asarray(starts, float), np.asarray(ends, float))
    calls = trace.syscalls
    mine = rows_of(calls, "tid", tids, rows_per_slice)
    if len(mine) == 0:
        return Activity(float((hi - lo).sum()), 0.0, 0.0)
    call_start, call_end = times_at(calls, mine, trace.last_s)
    call_end = np.where(np.isnan(call_end), call_start, call_end)
    # time inside the intervals up to t: whole intervals before t, plus the part of the one
    # that holds t
    lengths = hi - lo
    before = np.concatenate([[0.0], np.cumsum(lengths)])

    def covered(times: np.ndarray) -> np.ndarray:
        at = np.searchsorted(lo, times, side="right") - 1
        inside_part = np.clip(times - lo[np.maximum(at, 0)], 0.0, lengths[np.maximum(at, 0)])
        return np.where(at >= 0, before[np.maximum(at, 0)] + inside_part, 0.0)

    overlap = covered(call_end) - covered(call_start)
    inside = overlap > 0
    rows = mine[inside]
    seconds = overlap[inside]
    names = np.asarray(taken(calls, ["syscall"], rows)["syscall"].to_pylist(), dtype=object)
    futex_wait = 0.0
    if len(rows):
        futex_rows = np.flatnonzero(names == "futex")
        if len(futex_rows):
            heads = taken(calls, ["args"], rows[futex_rows])["args"].to_pylist()
            is_wait = np.array([base_op(_op_of(text)) in WAIT_OPS for text in heads], dtype=bool)
            futex_wait = float(seconds[futex_rows][is_wait].sum())
    by_resource: list[dict[str, Any]] = []
    if len(rows):
        if resources is not None:
            codes, resource_names = resources(rows)
            labels = np.where(
                codes >= 0,
                np.asarray([*resource_names, ""], dtype=object)[
                    np.where(codes >= 0, codes, len(resource_names))
                ],
                names,
            )
        else:
            labels = names
        labels = _connected_peers(trace, rows, labels, rows_per_slice)
        frame = pd.DataFrame({"resource": labels, "syscall": names, "seconds": seconds})
        grouped = frame.groupby("resource", sort=False).agg(
            seconds=("seconds", "sum"),
            calls=("seconds", "size"),
            syscalls=("syscall", lambda values: sorted(set(values))),
        )
        for resource, row in grouped.sort_values("seconds", ascending=False).head(top).iterrows():
            by_resource.append(
                {
                    "resource": str(resource),
                    "syscalls": list(row["syscalls"]),
                    "calls": int(row["calls"]),
                    "seconds": float(row["seconds"]),
                }
            )
    return Activity(
        span_s=float((hi - lo).sum()),
        syscall_s=float(seconds.sum()),
        futex_wait_s=futex_wait,
        by_resource=by_resource,
        rows=rows,
    )


def _connected_peers(
    trace: StraceTables, rows: np.ndarray, labels: np.ndarray, rows_per_slice: int = ROWS_PER_SLICE
) -> np.ndarray:
    """`labels` with sockets that a trace without ``-yy`` names only ``TCP:[]`` or
    ``TCP:[1234]`` named after the peer their thread's process last connected the fd to
    (``tcp 127.0.0.1:5432``, read from the ``connect`` call's sockaddr)."""
    unnamed = np.array(
        [
            isinstance(label, str) and label.startswith(("TCP", "UDP")) and "->" not in label
            for label in labels
        ],
        dtype=bool,
    )
    if not unnamed.any():
        return labels
    calls = trace.syscalls
    pids = numbers_at(calls, "pid", rows)
    wanted_pids = np.unique(pids[unnamed])

    def connecting(part: pa.Table) -> np.ndarray:
        named = filled_numpy(pc.equal(part["syscall"], "connect"), False)
        return named & np.isin(numbers(part["pid"]), wanted_pids)

    connects = selected_rows(calls, ["syscall", "pid"], connecting, rows_per_slice)
    if len(connects) == 0:
        return labels
    connect = taken(calls, ["pid", "fd", "start_s", "args"], connects)
    peers: dict[tuple[float, float], list[tuple[float, str]]] = {}
    for pid, fd, start, args in zip(
        numbers(connect["pid"]).tolist(),
        numbers(connect["fd"]).tolist(),
        numbers(connect["start_s"]).tolist(),
        connect["args"].to_pylist(),
        strict=True,
    ):
        address = sockaddr_text(args or "")
        if address:
            peers.setdefault((pid, fd), []).append((start, address))
    fds = numbers_at(calls, "fd", rows)
    starts = numbers_at(calls, "start_s", rows)
    labels = labels.copy()
    for index in np.flatnonzero(unnamed).tolist():
        found = [
            address
            for when, address in peers.get((pids[index], fds[index]), [])
            if not when > starts[index]
        ]
        if found:
            protocol = "udp" if str(labels[index]).startswith("UDP") else "tcp"
            labels[index] = f"{protocol} {found[-1]}"
    return labels


def _op_of(args: str | None) -> str | None:
    parts = (args or "").split(",", 2)
    return parts[1].strip() if len(parts) > 1 else None


# --- file locks -------------------------------------------------------------------------------


LOCK_SYSCALLS = ("flock", "fcntl", "fcntl64")
SET_COMMANDS = frozenset({"F_SETLK", "F_SETLKW", "F_SETLK64", "F_SETLKW64"})
OFD_COMMANDS = frozenset({"F_OFD_SETLK", "F_OFD_SETLKW"})
BLOCKING_COMMANDS = frozenset({"F_SETLKW", "F_SETLKW64", "F_OFD_SETLKW"})
REFUSED = frozenset({"EAGAIN", "EACCES", "EWOULDBLOCK"})
INTERRUPTED = frozenset({"EINTR", "ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND"})
MAX_RETRY_GAP_S = 2.0
"""A refused try and the same thread's next try on the file further apart than this are
two episodes, not one busy-wait (SQLite's busy handler sleeps at most 100 ms)."""
BLOCKED_MIN_S = 0.001
"""A blocking lock call this long waited for another owner (shorter: it only took it)."""

_FLOCK_OP = r",\s*(?P<op>LOCK_[A-Z_|]+)"
_FCNTL_LOCK = (
    r"^[^,]*,\s*(?P<cmd>F_[A-Z0-9_]+)(?:,\s*\{l_type=(?P<type>F_[A-Z]+),\s*"
    r"l_whence=(?P<whence>[A-Z_0-9]+),\s*l_start=(?P<start>-?\d+),\s*l_len=(?P<len>-?\d+))?"
)
_WHOLE: tuple[float, float] = (0.0, math.inf)

SQLITE_PENDING = 0x40000000
SQLITE_RESERVED = SQLITE_PENDING + 1
SQLITE_SHARED_FIRST = SQLITE_PENDING + 2
SQLITE_SHARED_SIZE = 510


def sqlite_lock_name(kind: str, start: float, end: float) -> str | None:
    """SQLite's name for a byte-range lock on a rollback-journal database (src/os_unix.c),
    None for ranges that are not SQLite's lock bytes."""
    if start == SQLITE_SHARED_FIRST and end == SQLITE_SHARED_FIRST + SQLITE_SHARED_SIZE:
        return "SHARED" if kind == "R" else "EXCLUSIVE"
    if start == SQLITE_RESERVED and end == SQLITE_RESERVED + 1:
        return "RESERVED"
    if start == SQLITE_PENDING and end == SQLITE_PENDING + 1:
        return "PENDING" if kind == "W" else "SHARED (getting)"
    return None


@dataclass(frozen=True)
class LockCall:
    """One decoded lock call (flock or a set-lock fcntl)."""

    row: int
    tid: int
    pid: int
    fd: int
    target: str
    family: str
    """``flock`` or ``posix`` (fcntl record locks, OFD locks included: they conflict)."""
    owner: tuple[str, int, int]
    """(family, pid, fd): POSIX locks belong to the process (fd -1), flock and OFD locks to
    the open file description (approximated by the process and fd)."""
    kind: str
    """``R``, ``W`` or ``U`` (unlock)."""
    start_byte: float
    end_byte: float
    blocking: bool
    start: float
    end: float
    ok: bool
    refused: bool
    unfinished: bool = False
    """Still blocked when the trace ended (no return value), or interrupted by a signal."""


def file_lock_calls(trace: StraceTables) -> list[LockCall]:
    """The flock and set-lock fcntl calls of the trace on fds whose file is known, in time
    order. Only the lock calls' argument texts are read (a regex on those rows only)."""
    calls = trace.syscalls
    rows = selected_rows(
        calls,
        ["syscall"],
        lambda part: pc.fill_null(pc.is_in(part["syscall"], pa.array(LOCK_SYSCALLS)), False),
    )
    if len(rows) == 0:
        return []
    read = ("syscall", "tid", "pid", "fd", "target", "retval", "errno", "args")
    table = taken(calls, sorted({*read, *TIME_COLUMNS}), rows)
    starts, ends = call_times(table, np.arange(len(rows)), trace.last_s)
    args = pc.fill_null(table["args"], "")
    flock = pc.extract_regex(args, _FLOCK_OP)
    fcntl = pc.extract_regex(args, _FCNTL_LOCK)
    found: list[LockCall] = []
    columns = {
        name: table[name].to_pylist()
        for name in ("syscall", "tid", "pid", "fd", "target", "retval", "errno")
    }
    flock_ops = pc.struct_field(flock, "op").to_pylist() if len(flock) else []
    fcntl_parts = {
        name: pc.struct_field(fcntl, name).to_pylist()
        for name in ("cmd", "type", "whence", "start", "len")
    }
    for i, row in enumerate(rows.tolist()):
        target, fd = columns["target"][i], columns["fd"][i]
        if not target or fd is None or np.isnan(starts[i]):
            continue
        end = ends[i] if not np.isnan(ends[i]) else starts[i]
        retval, errno = columns["retval"][i], columns["errno"][i]
        ok = retval == 0
        refused = errno in REFUSED
        pid = int(columns["pid"][i] if columns["pid"][i] is not None else columns["tid"][i])
        tid = int(columns["tid"][i])
        if columns["syscall"][i] == "flock":
            op = flock_ops[i] or ""
            kind = (
                "U"
                if "LOCK_UN" in op
                else "W"
                if "LOCK_EX" in op
                else "R"
                if "LOCK_SH" in op
                else ""
            )
            if not kind:
                continue
            family, owner_fd, blocking = "flock", int(fd), "LOCK_NB" not in op
            first, last = _WHOLE
        else:
            command = fcntl_parts["cmd"][i]
            lock_type = fcntl_parts["type"][i]
            if command not in SET_COMMANDS | OFD_COMMANDS or not lock_type:
                continue
            kind = {"F_RDLCK": "R", "F_WRLCK": "W", "F_UNLCK": "U"}.get(lock_type, "")
            if not kind:
                continue
            family = "posix"
            owner_fd = int(fd) if command in OFD_COMMANDS else -1
            blocking = command in BLOCKING_COMMANDS
            first = float(fcntl_parts["start"][i] or 0)
            length = float(fcntl_parts["len"][i] or 0)
            last = math.inf if length == 0 else first + length
            if length < 0:
                first, last = first + length, first
        found.append(
            LockCall(
                row=row,
                tid=tid,
                pid=pid,
                fd=int(fd),
                target=str(target),
                family=family,
                owner=(family, pid, owner_fd),
                kind=kind,
                start_byte=first,
                end_byte=last,
                blocking=blocking,
                start=float(starts[i]),
                end=float(end),
                ok=ok,
                refused=refused,
                unfinished=(retval is None and errno is None) or errno in INTERRUPTED,
            )
        )
    found.sort(key=lambda call: (call.start, call.row))
    return found


@dataclass
class Hold:
    """One owner holding locks on one file without a break: from its first lock to the
    moment it held none (or the end of the trace)."""

    target: str
    owner: tuple[str, int, int]
    pid: int
    tid: int
    """The thread that took the first lock."""
    start: float
    end: float = math.nan
    names: set[str] = field(default_factory=set)
    """What it held: SQLite's lock names, else ``shared``/``exclusive``."""
    ranges: list[tuple[float, float, str]] = field(default_factory=list)
    """Every range it held during the hold, with its kind (``R``/``W``)."""
    open_at_end: bool = False
    rows: list[int] = field(default_factory=list)

    def conflicts(self, first: float, last: float, kind: str) -> bool:
        return any(
            start < last and end > first and "W" in (held, kind) for start, end, held in self.ranges
        )


@dataclass
class LockWait:
    """Time one thread waited for a file lock: a blocking call, or a busy-wait (refused
    tries and the time until the next try)."""

    target: str
    family: str
    owner: tuple[str, int, int]
    tid: int
    pid: int
    start: float
    end: float
    how: str
    """``blocked`` (a blocking call) or ``retry`` (refused tries and the sleeps between)."""
    wanted: str
    kind: str
    first_byte: float
    last_byte: float
    rows: list[int]
    tries: int = 0
    """Refused tries (``retry``)."""


@dataclass(frozen=True)
class Charge:
    """A piece of a wait charged to the hold it waited for."""

    wait: int
    hold: int
    start: float
    end: float


@dataclass(frozen=True)
class FileLocks:
    holds: list[Hold]
    waits: list[LockWait]
    charges: list[Charge]
    sqlite: set[str]
    """Targets locked on SQLite's lock bytes."""


def _remove(
    ranges: list[tuple[float, float, str]], first: float, last: float
) -> list[tuple[float, float, str]]:
    kept = []
    for start, end, kind in ranges:
        if end <= first or start >= last:
            kept.append((start, end, kind))
            continue
        if start < first:
            kept.append((start, first, kind))
        if end > last:
            kept.append((last, end, kind))
    return kept


def _lock_name(call: LockCall, sqlite: bool) -> str:
    if sqlite:
        named = sqlite_lock_name(call.kind, call.start_byte, call.end_byte)
        if named:
            return named
    return "exclusive" if call.kind == "W" else "shared"


def _is_sqlite(call: LockCall) -> bool:
    return (
        call.family == "posix"
        and SQLITE_PENDING <= call.start_byte < SQLITE_SHARED_FIRST + SQLITE_SHARED_SIZE
    )


def replay_file_locks(trace: StraceTables, calls: list[LockCall] | None = None) -> FileLocks:
    """Replay the lock calls (see the module docstring): the holds of each owner on each
    file, the waits, and each wait's pieces charged to the conflicting hold it waited for
    (when several conflicting holds cover a moment, the one that ends last)."""
    calls = file_lock_calls(trace) if calls is None else calls
    if not calls:
        return FileLocks([], [], [], set())
    sqlite = {call.target for call in calls if _is_sqlite(call)}
    targets = {call.target for call in calls}
    releases = _implicit_releases(trace, targets, {call.owner for call in calls})
    # events: (time, what, order, payload); at one time, releases before takes
    events: list[tuple[float, int, int, object]] = []
    for order, call in enumerate(calls):
        if call.kind == "U":
            events.append((call.start, 0, order, call))
        elif call.ok:
            events.append((call.end, 1, order, call))
    for order, (time, target, owner) in enumerate(releases):
        events.append((time, 0, len(calls) + order, (target, owner)))
    events.sort(key=lambda event: (event[0], event[1], event[2]))
    held: dict[str, dict[tuple[str, int, int], list[tuple[float, float, str]]]] = {}
    current: dict[tuple[str, tuple[str, int, int]], int] = {}
    holds: list[Hold] = []
    for time, what, _, payload in events:
        if what == 0:
            if isinstance(payload, LockCall):
                target, owner = payload.target, payload.owner
                first, last = payload.start_byte, payload.end_byte
            else:
                target, owner = payload  # type: ignore[misc]
                first, last = _WHOLE
            owners = held.get(target, {})
            ranges = owners.get(owner)
            if not ranges:
                continue
            owners[owner] = _remove(ranges, first, last)
            if not owners[owner]:
                del owners[owner]
                index = current.pop((target, owner), None)
                if index is not None:
                    holds[index].end = time
            continue
        assert isinstance(payload, LockCall)
        call = payload
        owners = held.setdefault(call.target, {})
        ranges = _remove(owners.get(call.owner, []), call.start_byte, call.end_byte)
        ranges.append((call.start_byte, call.end_byte, call.kind))
        owners[call.owner] = ranges
        key = (call.target, call.owner)
        if key not in current:
            current[key] = len(holds)
            holds.append(Hold(call.target, call.owner, call.pid, call.tid, time))
        hold = holds[current[key]]
        hold.names.add(_lock_name(call, call.target in sqlite))
        hold.ranges.append((call.start_byte, call.end_byte, call.kind))
        if len(hold.rows) < 8:
            hold.rows.append(call.row)
    end_of_trace = trace.last_s
    for index in current.values():
        holds[index].end = end_of_trace if end_of_trace is not None else holds[index].start
        holds[index].open_at_end = True
    waits = _waits(calls, sqlite)
    return FileLocks(holds, waits, _charge(waits, holds), sqlite)


def _waits(calls: list[LockCall], sqlite: set[str]) -> list[LockWait]:
    """Blocking calls that waited, and busy-wait episodes: a thread's refused tries on a
    file, from the first to its next try that is not refused (or the last refused one),
    while the tries are at most `MAX_RETRY_GAP_S` apart."""
    waits: list[LockWait] = []
    episodes: dict[tuple[int, str], LockWait] = {}
    for call in calls:
        key = (call.tid, call.target)
        episode = episodes.get(key)
        if episode is not None and (call.start - episode.end > MAX_RETRY_GAP_S or not call.refused):
            if call.start - episode.end <= MAX_RETRY_GAP_S:
                episode.end = call.start
            waits.append(episodes.pop(key))
            episode = None
        if call.kind == "U":
            continue
        if call.refused:
            if episode is None:
                episodes[key] = LockWait(
                    call.target,
                    call.family,
                    call.owner,
                    call.tid,
                    call.pid,
                    call.start,
                    call.end,
                    "retry",
                    _lock_name(call, call.target in sqlite),
                    call.kind,
                    call.start_byte,
                    call.end_byte,
                    [call.row],
                    1,
                )
            else:
                episode.end = call.end
                episode.tries += 1
                if len(episode.rows) < 8:
                    episode.rows.append(call.row)
                if call.kind == "W" and episode.kind != "W":
                    episode.kind, episode.wanted = "W", _lock_name(call, call.target in sqlite)
                    episode.first_byte, episode.last_byte = call.start_byte, call.end_byte
        elif (
            call.blocking
            and (call.ok or call.unfinished)
            and call.end - call.start >= BLOCKED_MIN_S
        ):
            waits.append(
                LockWait(
                    call.target,
                    call.family,
                    call.owner,
                    call.tid,
                    call.pid,
                    call.start,
                    call.end,
                    "blocked",
                    _lock_name(call, call.target in sqlite),
                    call.kind,
                    call.start_byte,
                    call.end_byte,
                    [call.row],
                )
            )
    waits.extend(episodes.values())
    waits.sort(key=lambda wait: wait.start)
    return waits


def _charge(waits: list[LockWait], holds: list[Hold]) -> list[Charge]:
    """Each wait cut at the starts and ends of the conflicting holds of other owners that
    overlap it; each piece goes to the one of them that covers it and ends last."""
    by_target: dict[str, list[int]] = {}
    for index, hold in enumerate(holds):
        by_target.setdefault(hold.target, []).append(index)
    charges: list[Charge] = []
    for number, wait in enumerate(waits):
        candidates = [
            index
            for index in by_target.get(wait.target, [])
            if holds[index].owner != wait.owner
            and holds[index].owner[0] == wait.family
            and holds[index].start < wait.end
            and holds[index].end > wait.start
            and holds[index].conflicts(wait.first_byte, wait.last_byte, wait.kind)
        ]
        if not candidates:
            continue
        cuts = sorted(
            {wait.start, wait.end}
            | {
                t
                for index in candidates
                for t in (holds[index].start, holds[index].end)
                if wait.start < t < wait.end
            }
        )
        for begin, finish in itertools.pairwise(cuts):
            covering = [
                index
                for index in candidates
                if holds[index].start <= begin and holds[index].end >= finish
            ]
            if not covering:
                continue
            chosen = max(covering, key=lambda index: holds[index].end)
            if charges and charges[-1].wait == number and charges[-1].hold == chosen:
                last = charges[-1]
                charges[-1] = Charge(number, chosen, last.start, finish)
            else:
                charges.append(Charge(number, chosen, begin, finish))
    return charges


def _implicit_releases(
    trace: StraceTables, targets: set[str], owners: set[tuple[str, int, int]]
) -> list[tuple[float, str, tuple[str, int, int]]]:
    """The releases the kernel makes itself: a close of an fd of a locked file drops the
    process's POSIX locks on it (any fd) and the fd's own flock/OFD locks; a process's exit
    drops all of them."""
    calls = trace.syscalls

    def closing(part: pa.Table) -> pa.ChunkedArray:
        return pc.and_(
            pc.fill_null(pc.equal(part["syscall"], "close"), False),
            pc.fill_null(pc.is_in(part["target"], pa.array(sorted(targets))), False),
        )

    found: list[tuple[float, str, tuple[str, int, int]]] = []
    rows = selected_rows(calls, ["syscall", "target"], closing)
    if len(rows):
        table = taken(calls, ["tid", "pid", "fd", "target", "start_s"], rows)
        for row in table.to_pylist():
            pid = row["pid"] if row["pid"] is not None else row["tid"]
            if row["start_s"] is None:
                continue
            for owner in owners:
                if owner[1] == pid and (
                    (owner[0] == "posix" and owner[2] < 0) or owner[2] == row["fd"]
                ):
                    found.append((float(row["start_s"]), row["target"], owner))
    exits = trace.exits
    if exits.num_rows:
        ended: dict[int, float] = {}
        # a process's exit line is its leader's (tid == pid)
        for row in exits.select(["tid", "time_s"]).to_pylist():
            pid, when = row.get("tid"), row.get("time_s")
            if pid is not None and when is not None:
                ended[int(pid)] = float(when)
        for owner in owners:
            if owner[1] in ended:
                for target in targets:
                    found.append((ended[owner[1]], target, owner))
    return found


def root_charges(locks: FileLocks, depth: int = 8) -> list[Charge]:
    """The charges moved to the hold at the root of each chain: a piece charged to a hold
    whose owner was itself waiting then (a writer holding RESERVED while it waits for a
    reader's SHARED to go) goes, for the overlapping part, to the hold that owner waited
    for, and so on (at most `depth` steps)."""
    by_owner: dict[tuple[str, tuple[str, int, int]], list[Charge]] = {}
    for charge in locks.charges:
        wait = locks.waits[charge.wait]
        by_owner.setdefault((wait.target, wait.owner), []).append(charge)

    def resolve(charge: Charge, level: int) -> list[Charge]:
        hold = locks.holds[charge.hold]
        upstream = by_owner.get((hold.target, hold.owner), [])
        if level >= depth or not upstream:
            return [charge]
        pieces: list[Charge] = []
        uncovered = [(charge.start, charge.end)]
        for other in upstream:
            if other.end <= charge.start or other.start >= charge.end:
                continue
            begin, finish = max(charge.start, other.start), min(charge.end, other.end)
            pieces.extend(resolve(Charge(charge.wait, other.hold, begin, finish), level + 1))
            uncovered = [
                part
                for start, end in uncovered
                for part in ((start, min(end, begin)), (max(start, finish), end))
                if part[1] > part[0]
            ]
        pieces.extend(Charge(charge.wait, charge.hold, start, end) for start, end in uncovered)
        return pieces

    return [piece for charge in locks.charges for piece in resolve(charge, 0)]
