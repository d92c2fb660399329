"""IOD017 slow_storage: waits in file I/O on one directory tree or device, as one cause.

A slow disk, a throttled volume or an overloaded network filesystem makes every file call on
it slow, whichever file it is on: the durable write of an upload (``write``, ``fsync`` of
the file, ``rename``, ``fsync`` of the directory), a log's flush, a database's journal. One
finding per file (IOD001 groups by file) then tells the same story many times; this pass
tells it once, for the storage the files share.

**Which calls.** The calls on regular files (the fd's target, or for path calls such as
``openat``, ``rename``, ``unlink`` and ``mkdir`` the path they name; ``analyzer.passes.
targets.with_paths``), by operation: flush (``fsync``, ``fdatasync``, ``sync_file_range``,
``syncfs``; a flush of a directory, which persists its entries after a ``rename``, counts
apart), write, read, open, rename/link, unlink, mkdir, truncate/allocate, metadata (stat,
getdents ...) and close. Pseudo filesystems (``/proc``, ``/sys``, ``/dev``) are not storage.
Calls made by an event-loop thread that IOD002 (blocked_loop, an earlier pass) reports are
left to it: there the root cause is the blocking call on the loop, whatever the disk.

**Which storage.** Without a device in the trace, files are grouped by the top two levels of
their directory (``/var/tmp``, ``/srv/data``); within a group, the storage is the longest
common directory of the *slow* calls' files (calls at or above `PassConfig.slow_syscall_s`;
without one, those of the costliest operation), and every file call under it counts. When
the trace shows the device (``strace -v`` prints ``st_dev=makedev(MAJ, MIN)`` in ``stat``
results) or the mount table (a read of ``/proc/self/mountinfo`` or ``/proc/mounts``), files
on one device are grouped whatever their directories, and the device is named.

**When it is reported.** When one call waited `slow_syscall_s` or more (a read or write
less the time its bytes need at `TRANSFER_BYTES_PER_S`: one 56 MB ``write`` of 0.3 s is
much data, not slow storage); when flushes took at
least `slow_syscall_share` of the traced wall time (a writer bound by per-record ``fsync``:
each flush waits for the device, however fast it is, so their number is the cost); or when
the calls were consistently slow (p95 at least half of `slow_syscall_s`) and took that share.
Quick flushes of a healthy service stay far below both. Error when a call took 1 s or the
waits add up to half the traced time, else warning.

**Facts relied on.** ``fsync``/``fdatasync`` return only after the file's dirty pages and
the metadata needed to read them are on stable storage, including a cache flush of the
device (fsync(2)); they start the writeback themselves, so the time is charged to the
caller's I/O (cgroup throttles included, ``Documentation/admin-guide/cgroup-v1/
blkio-controller.rst``). Making a new file durable needs an ``fsync`` of its directory too
(fsync(2), NOTES). Threads blocked in the kernel on one device share its bandwidth and
queue: adding threads (a bigger executor) does not make the device faster; ``iostat -x``
shows its ``w_await``, ``aqu-sz`` and ``%util``.

`cost_s` is the time the calls took, summed over threads. The finding explains the per-file
IOD001 findings and the IOD004 pile-ups on files under the same directory: the same waiting,
not added.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, numbers, take_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_durations
from analyzer.derive.strace_names import process_names
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
from analyzer.passes.call_slices import ResourceEncoder, slices
from analyzer.passes.common import cited_lines, in_flight, percentile, plural
from analyzer.passes.targets import coded_slice_paths

CODE = "IOD017"
KIND = "slow_storage"
MAX_FINDINGS = 5
"""Storage findings per trace at most (costliest first)."""
LONG_CALL_S = 1.0
TRANSFER_BYTES_PER_S = 100e6
"""A pace any healthy storage path keeps for a big read or write (about one disk's
sequential rate; a buffered write copies into the page cache far faster): the time a call
needs to move its bytes at this pace is transfer, not waiting on the storage."""
WAITING_SHARE = 0.01
"""A thread whose calls are at least this share of the storage's waits is one that waited
on it (a main thread that made the directory once is not)."""
SEVERE_SHARE = 0.5

OPERATIONS: dict[str, tuple[str, ...]] = {
    "flush": ("fsync", "fdatasync", "sync_file_range", "syncfs"),
    "write": ("write", "pwrite64", "writev", "pwritev", "pwritev2"),
    "read": ("read", "pread64", "readv", "preadv", "preadv2"),
    "open": ("open", "openat", "openat2", "creat"),
    "rename": ("rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat"),
    "unlink": ("unlink", "unlinkat", "rmdir"),
    "mkdir": ("mkdir", "mkdirat"),
    "truncate": ("truncate", "ftruncate", "fallocate"),
    "metadata": (
        "stat", "lstat", "fstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
        "getdents64", "utimensat", "chmod", "fchmod", "chown", "fchown", "fchownat",
    ),
    "close": ("close",),
}  # fmt: skip
"""Operation kind -> the syscalls of that kind on a file."""
DIR_FLUSH = "dir_flush"
OP_WORDS = {
    "flush": "fsync",
    DIR_FLUSH: "directory fsync",
    "write": "write",
    "read": "read",
    "open": "open",
    "rename": "rename/link",
    "unlink": "unlink",
    "mkdir": "mkdir",
    "truncate": "truncate/fallocate",
    "metadata": "stat/metadata",
    "close": "close",
}
_OP_OF = {name: op for op, names in OPERATIONS.items() for name in names}
_OP_NAMES = [*OPERATIONS, DIR_FLUSH]
PSEUDO_FILESYSTEMS = ("/proc/", "/sys/", "/dev/")

_DEVICE = re.compile(
    r"st_dev=makedev\((?P<major>0x[0-9a-f]+|\d+), (?P<minor>0x[0-9a-f]+|\d+)\)"
    r"|stx_dev_major=(?P<smajor>\d+), stx_dev_minor=(?P<sminor>\d+)"
)
"""The device of a stat result (``strace -v``)."""
_MOUNTINFO_LINE = re.compile(
    r"^\d+ \d+ (?P<dev>\d+:\d+) \S+ (?P<mount>\S+) .*? - (?P<fstype>\S+) (?P<source>\S+)"
)
_MOUNTS_LINE = re.compile(r"^(?P<source>\S+) (?P<mount>/\S*) (?P<fstype>\S+) ")
_MOUNT_TABLES = r"^/proc/(?:self/|thread-self/|\d+/)?(?:mountinfo|mounts)$"
BOUND_SHARE = 0.25
"""Without a slow call, a storage is reported when the threads that use it spent this share
of their time in its flushes (or in its calls, when those are consistently slow)."""


def _number(text: str) -> int:
    return int(text, 16) if text.startswith("0x") else int(text)


def _unescape(text: str) -> str:
    """A strace string's text with ``\\n``, ``\\t`` and octal escapes undone (enough for
    mount tables)."""
    words = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
    return re.sub(
        r"\\(n|t|\\|\"|[0-7]{1,3})",
        lambda m: words.get(m.group(1)) or chr(int(m.group(1), 8)),
        text,
    )


def mount_table(texts: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The mounts in the data of reads of ``/proc/*/mountinfo`` or ``/proc/mounts`` ((target,
    argument text) pairs): ``[{mount, dev, fstype, source}]``, longest mount point first
    (``dev`` is ``MAJ:MIN`` from mountinfo, empty from /proc/mounts). A line cut off by
    strace's string limit (``-s``) is skipped."""
    mounts: dict[str, dict[str, str]] = {}
    for target, text in texts:
        content = re.match(r'^-?\d+(?:<[^>]*>)?, "((?:[^"\\]|\\.)*)"', text or "")
        if not content:
            continue
        pattern = _MOUNTINFO_LINE if target.endswith("mountinfo") else _MOUNTS_LINE
        for line in _unescape(content.group(1)).split("\n"):
            if found := pattern.match(line):
                row = found.groupdict()
                mounts[row["mount"]] = {
                    "mount": row["mount"],
                    "dev": row.get("dev") or "",
                    "fstype": row["fstype"],
                    "source": row["source"],
                }
    return sorted(mounts.values(), key=lambda row: -len(row["mount"]))


def _mount_of(path: str, mounts: Sequence[dict[str, str]]) -> dict[str, str] | None:
    for mount in mounts:
        point = mount["mount"].rstrip("/")
        if path == point or path.startswith(point + "/") or point == "":
            return mount
    return None


def common_directory(directories: Sequence[str]) -> str:
    """The longest directory that contains all of `directories`."""
    if not directories:
        return "/"
    unique = sorted(set(directories))
    return (os.path.commonpath(unique) if len(unique) > 1 else unique[0]) or "/"


def _under(paths: pa.Array, root: str) -> np.ndarray:
    """Which of `paths` are `root` or inside it."""
    inside = pc.or_(pc.equal(paths, root), pc.starts_with(paths, root.rstrip("/") + "/"))
    return filled_numpy(inside, False)


def _loop_tids(earlier: Sequence[Finding], trace: StraceTables) -> set[int]:
    """Event-loop threads an earlier IOD002 finding reports as blocked in this trace."""
    return {
        int(f.evidence["loop_tid"])
        for f in earlier
        if f.kind == "blocked_loop"
        and f.input == trace.input
        and f.severity != "info"
        and isinstance(f.evidence.get("loop_tid"), int)
    }


def _op_stats(
    op_codes: np.ndarray, durations: np.ndarray, syscalls: np.ndarray
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for code in np.unique(op_codes):
        member = op_codes == code
        values = durations[member]
        rows.append(
            {
                "op": _OP_NAMES[int(code)],
                "syscalls": sorted({str(name) for name in syscalls[member]}),
                "calls": len(values),
                "total_s": float(values.sum()),
                "p50_s": percentile(values, 50),
                "p95_s": percentile(values, 95),
                "max_s": float(values.max()),
            }
        )
    rows.sort(key=lambda row: -float(row["total_s"]))
    return rows


def _op_word(row: dict[str, Any]) -> str:
    """An operation in words: the flush calls by name (``fdatasync``), the others by kind."""
    if row["op"] == "flush":
        return "/".join(row["syscalls"])
    if row["op"] == DIR_FLUSH:
        return f"directory {'/'.join(row['syscalls'])}"
    return OP_WORDS[row["op"]]


def _seconds(value: float) -> str:
    if value < 0.001:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"


def _fix(
    root: str, where: str, ops: list[dict[str, Any]], peak: int, threads: int, device: str | None
) -> str:
    top = ops[0]["op"]
    check = (
        f"Check the volume behind {root}{f' (device {device})' if device else ''}: "
        "`iostat -x 1` (w_await/r_await, aqu-sz, %util) while it is slow, and its limits: "
        "a cgroup I/O throttle (io.max, blkio.throttle.*), the cloud volume's IOPS/throughput "
        "cap or burst credits, a busy neighbour on the same disk."
    )
    if top in ("flush", DIR_FLUSH):
        do = (
            "Every fsync waits for the device to persist the data: batch records per fsync "
            "(group commit), fsync off the request path (a writer thread or queue that "
            "acknowledges after the batch is durable), weaken durability where it is allowed, "
            f"or move {where} to a faster or less loaded volume."
        )
    elif top == "write":
        do = (
            "Writes block when the page cache's dirty limit throttles the writer to the "
            "device's speed: write less or in bigger sequential chunks, write asynchronously "
            f"off the request path, or move {where} to a faster volume."
        )
    elif top == "read":
        do = (
            "Reads miss the page cache and wait for the device: cache hot data in memory, "
            f"read in bigger chunks (readahead), or move {where} to a faster volume."
        )
    else:
        do = (
            f"Metadata calls ({OP_WORDS[top]}) on {where} are slow, typical of a network or "
            "overloaded filesystem or a huge directory: cache the results, shard the "
            "directory, or move it to local storage."
        )
    if threads > 1 and peak > 1:
        do += (
            f" {peak} threads waited at once: more threads do not make the device faster; "
            "size the pool for the disk and apply back-pressure upstream."
        )
    return f"{do} {check}"


@dataclass(frozen=True)
class _FileCalls:
    """The file calls of one trace the pass considers (one entry per call); `path` indexes
    the distinct paths (`paths`, `dirs`, `is_dir`)."""

    rows: np.ndarray
    durations: np.ndarray
    waits: np.ndarray
    """The durations less the time a read or write needs to move its bytes
    (`TRANSFER_BYTES_PER_S`): what tells slow storage from much data."""
    ops: np.ndarray
    tids: np.ndarray
    pids: np.ndarray
    starts: np.ndarray
    syscalls: np.ndarray
    path: np.ndarray
    paths: pa.Array
    dirs: pa.Array
    is_dir: np.ndarray

    def take(self, mask: np.ndarray) -> _FileCalls:
        return dataclasses.replace(
            self,
            rows=self.rows[mask],
            durations=self.durations[mask],
            waits=self.waits[mask],
            ops=self.ops[mask],
            tids=self.tids[mask],
            pids=self.pids[mask],
            starts=self.starts[mask],
            syscalls=self.syscalls[mask],
            path=self.path[mask],
        )


def _flush_ops() -> list[int]:
    return [_OP_NAMES.index("flush"), _OP_NAMES.index(DIR_FLUSH)]


def _may_qualify(
    durations: np.ndarray,
    tids: np.ndarray,
    lifetimes: _Lifetimes,
    config: PassConfig,
) -> np.ndarray:
    """Per call, whether its thread could make a storage worth reporting: it made a slow
    call, or spent `BOUND_SHARE` of its life in file calls. A storage's waiting threads
    cannot reach that share in its flushes or calls unless one of them does."""
    known = np.nan_to_num(durations, nan=0.0)
    inverse, thread_ids = pd.factorize(np.nan_to_num(tids, nan=-1))
    file_s = np.bincount(inverse, weights=known, minlength=len(thread_ids))
    slowest = np.zeros(len(thread_ids))
    np.maximum.at(slowest, inverse, known)
    life = np.array([lifetimes[int(t)] for t in thread_ids])
    with np.errstate(invalid="ignore"):
        bound = (life > 0) & (file_s >= BOUND_SHARE * life)
    possible = (slowest >= config.slow_syscall_s) | (bound & (file_s >= config.slow_syscall_s))
    return possible[inverse]


@dataclass(frozen=True)
class _Scanned:
    """What one scan of a trace's calls, a slice at a time, keeps for this pass: the
    resources' names, and the rows, resource codes, durations and threads of the calls on
    regular files and of the reads of mount tables (the rows only)."""

    names: list[str]
    rows: np.ndarray
    codes: np.ndarray
    durations: np.ndarray
    tids: np.ndarray
    any_file: bool
    mount_rows: np.ndarray
    mount_codes: np.ndarray


def _is_file(name: str, target_class: str | None) -> bool:
    return target_class == "file" and not name.startswith(PSEUDO_FILESYSTEMS)


def _is_mount_table(name: str) -> bool:
    return bool(name and name.startswith("/proc/") and re.match(_MOUNT_TABLES, name))


class _ThreadFileTimes:
    """Per thread, the seconds of its calls on regular files and its slowest such call,
    added up a slice at a time (in row order: the sums are those of one whole-trace
    `np.bincount`)."""

    def __init__(self) -> None:
        self._index: dict[float, int] = {}
        self.tids: np.ndarray = np.zeros(0)
        self.file_s: np.ndarray = np.zeros(0)
        self.slowest: np.ndarray = np.zeros(0)

    def add(self, durations: np.ndarray, tids: np.ndarray) -> None:
        known = np.nan_to_num(durations, nan=0.0)
        local, seen = pd.factorize(np.nan_to_num(tids, nan=-1))
        for tid in seen.tolist():
            if tid not in self._index:
                self._index[tid] = len(self._index)
        mapping = np.array([self._index[tid] for tid in seen.tolist()], dtype=np.int64)
        at = mapping[local]
        count = len(self._index)
        before = len(self.file_s)
        # the running totals come first, so each thread's sum goes on in row order
        self.file_s = np.bincount(
            np.concatenate([np.arange(before, dtype=np.int64), at]),
            weights=np.concatenate([self.file_s, known]),
            minlength=count,
        )
        self.slowest = np.append(self.slowest, np.zeros(count - before))
        np.maximum.at(self.slowest, at, known)
        self.tids = np.append(self.tids, np.array(list(self._index)[before:], dtype=np.float64))

    def any_may_qualify(self, lifetimes: _Lifetimes, config: PassConfig) -> bool:
        """`_may_qualify` of the calls added, for any of them."""
        life = np.array([lifetimes[int(t)] for t in self.tids])
        with np.errstate(invalid="ignore"):
            bound = (life > 0) & (self.file_s >= BOUND_SHARE * life)
        possible = (self.slowest >= config.slow_syscall_s) | (
            bound & (self.file_s >= config.slow_syscall_s)
        )
        return bool(possible.any())


def _file_times(trace: StraceTables) -> _ThreadFileTimes:
    """The seconds and slowest call of each thread on regular files, a slice at a time,
    without numbering the resources (a file is its own resource: its target text's class
    is the resource's)."""
    totals = _ThreadFileTimes()
    columns = ["target", "fd", "args", "duration_s", "start_s", "end_s", "tid"]
    for offset, part in slices(trace.syscalls, columns):
        paths = coded_slice_paths(trace, offset, part)
        if len(paths.encoded.dictionary) == 0:
            continue
        texts = paths.encoded.dictionary
        pseudo = functools.reduce(pc.or_, (pc.starts_with(texts, p) for p in PSEUDO_FILESYSTEMS))
        regular = pc.and_(pc.equal(paths.classes(), "file"), pc.invert(pseudo))
        entry = filled_numpy(regular, False)
        indices = paths.codes
        local = np.flatnonzero(np.append(entry, False)[indices])
        if len(local):
            # (row by row: the slice's figures indexed, not its argument texts taken)
            totals.add(call_durations(part)[local], numbers(part["tid"])[local])
    return totals


def _scan(trace: StraceTables) -> _Scanned:
    calls = trace.syscalls
    encoder = ResourceEncoder()
    is_file: list[bool] = []
    is_mount: list[bool] = []
    kept: list[tuple[np.ndarray, ...]] = []
    mounts: list[tuple[np.ndarray, ...]] = []
    columns = ["target", "fd", "args", "duration_s", "start_s", "end_s", "tid"]
    for offset, part in slices(calls, columns):
        paths = coded_slice_paths(trace, offset, part)
        codes = encoder.encode(paths.encoded, paths.codes, paths.classes())
        for name, cls in zip(
            encoder.names[len(is_file) :], encoder.classes[len(is_file) :], strict=True
        ):
            is_file.append(_is_file(name, cls))
            is_mount.append(_is_mount_table(name))
        # codes are -1 for calls without a path: they index the final False
        local = np.flatnonzero(np.array([*is_file, False], dtype=bool)[codes])
        if len(local):
            durations = call_durations(part)[local]
            tids = numbers(part["tid"])[local]
            kept.append((offset + local, codes[local], durations, tids))
        if any(is_mount):
            read = np.flatnonzero(np.array([*is_mount, False], dtype=bool)[codes])
            mounts.append((offset + read, codes[read]))

    def joined(parts: list[tuple[np.ndarray, ...]], column: int, dtype: type) -> np.ndarray:
        return np.concatenate([np.zeros(0, dtype)] + [part[column] for part in parts])

    return _Scanned(
        names=encoder.names,
        rows=joined(kept, 0, np.int64),
        codes=joined(kept, 1, np.int64),
        durations=joined(kept, 2, np.float64),
        tids=joined(kept, 3, np.float64),
        any_file=any(is_file),
        mount_rows=joined(mounts, 0, np.int64),
        mount_codes=joined(mounts, 1, np.int64),
    )


def _file_calls(
    trace: StraceTables,
    loops: set[int],
    config: PassConfig,
    lifetimes: _Lifetimes,
    scanned: _Scanned,
) -> _FileCalls | None:
    """The calls on regular files, with their operation kinds; None when no storage can be
    worth a finding (checked before any path is looked at)."""
    calls = trace.syscalls
    if not scanned.names or not scanned.any_file:
        return None
    names = pa.array(scanned.names, pa.string())
    rows = scanned.rows
    if len(rows) == 0:
        return None
    durations = scanned.durations.copy()
    tids = scanned.tids
    # Most traces have no storage problem: tell so from durations and threads alone.
    if not _may_qualify(durations, tids, lifetimes, config).any():
        return None
    picked = take_rows(calls.select(["pid", "syscall", "start_s"]), rows)
    syscall_names = pc.dictionary_encode(contiguous(picked["syscall"]))
    dictionary = syscall_names.dictionary.to_pylist()
    op_of_name = np.array(
        [_OP_NAMES.index(_OP_OF[n]) if n in _OP_OF else -1 for n in dictionary] + [-1],
        dtype=np.int64,
    )
    name_codes = filled_numpy(syscall_names.indices, -1)
    ops = op_of_name[name_codes]
    keep = (ops >= 0) & ~np.isnan(durations)
    keep &= ~np.isin(tids, np.array(sorted(loops), dtype=np.float64))
    keep[keep] &= _may_qualify(durations[keep], tids[keep], lifetimes, config)
    if not keep.any():
        return None
    rows, durations, ops, tids = rows[keep], durations[keep], ops[keep], tids[keep]
    moved = np.isin(ops, [_OP_NAMES.index("write"), _OP_NAMES.index("read")])
    retval = numbers(take_rows(calls["retval"], rows))
    moved_bytes = np.where(moved, np.nan_to_num(retval, nan=0.0), 0.0)
    waits = np.clip(durations - np.clip(moved_bytes, 0.0, None) / TRANSFER_BYTES_PER_S, 0.0, None)
    syscalls = np.array([*dictionary, None], dtype=object)[name_codes[keep]]
    used, path = np.unique(scanned.codes[keep], return_inverse=True)
    paths = names.take(pa.array(used))
    dirs = pc.replace_substring_regex(paths, r"/[^/]*$", "")
    dirs = pc.if_else(pc.equal(dirs, ""), "/", dirs)
    # A path that is the directory of another file, or was opened with O_DIRECTORY, is a
    # directory: a flush of it persists its entries.
    directory = pc.is_in(paths, value_set=pc.unique(dirs))
    is_dir = filled_numpy(directory, False)
    opens = np.flatnonzero(ops == _OP_NAMES.index("open"))
    if len(opens):
        flagged = pc.match_substring(take_rows(calls["args"], rows[opens]), "O_DIRECTORY")
        flagged_mask = filled_numpy(flagged, False)
        is_dir[path[opens[flagged_mask.astype(bool)]]] = True
    ops = np.where(
        (ops == _OP_NAMES.index("flush")) & is_dir[path], _OP_NAMES.index(DIR_FLUSH), ops
    )
    return _FileCalls(
        rows=rows,
        durations=durations,
        waits=waits,
        ops=ops,
        tids=tids,
        pids=numbers(picked["pid"])[keep],
        starts=numbers(picked["start_s"])[keep],
        syscalls=syscalls,
        path=path,
        paths=paths,
        dirs=dirs,
        is_dir=is_dir,
    )


@dataclass(frozen=True)
class _Storage:
    """Where the files are: per distinct path its group (`anchors`), and its device when
    the trace shows it; the mount table when the trace read one."""

    anchors: np.ndarray
    devices: list[str | None]
    mounts: list[dict[str, str]]


def _storage(trace: StraceTables, found: _FileCalls, scanned: _Scanned) -> _Storage:
    """Group the paths: by device or mount when the trace shows them (stat results with
    ``st_dev``, a read mount table), else by the top two levels of their directory."""
    calls = trace.syscalls
    count = len(found.paths)
    devices: list[str | None] = [None] * count
    stats = found.rows[found.ops == _OP_NAMES.index("metadata")]
    if len(stats):
        args = take_rows(calls["args"], stats)
        has = pc.fill_null(
            pc.or_(
                pc.match_substring(args, "st_dev=makedev("), pc.match_substring(args, "stx_dev_")
            ),
            False,
        )
        if pc.any(has).as_py():
            path_of_row = dict(zip(found.rows.tolist(), found.path.tolist(), strict=True))
            for row, text in zip(
                stats[np.asarray(has.to_numpy(zero_copy_only=False), bool)].tolist(),
                args.filter(has).to_pylist(),
                strict=True,
            ):
                if match := _DEVICE.search(text or ""):
                    major = match.group("major") or match.group("smajor")
                    minor = match.group("minor") or match.group("sminor")
                    devices[path_of_row[row]] = f"{_number(major)}:{_number(minor)}"
    mounts: list[dict[str, str]] = []
    if len(scanned.mount_rows):
        picked = take_rows(calls.select(["syscall", "args"]), scanned.mount_rows)
        texts = [
            (scanned.names[int(code)], row["args"])
            for code, row in zip(scanned.mount_codes, picked.to_pylist(), strict=True)
            if row["syscall"] in ("read", "pread64")
        ]
        mounts = mount_table(texts)
    top = pc.struct_field(pc.extract_regex(found.dirs, r"^(?P<top>/[^/]*(?:/[^/]*)?)"), "top")
    anchors = np.asarray(filled_numpy(top, "/"), dtype=object)
    if mounts or any(devices):
        paths = found.paths.to_pylist()
        dirs = found.dirs.to_pylist()
        device_of_dir = {dirs[i]: d for i, d in enumerate(devices) if d}
        for index, path in enumerate(paths):
            mount = _mount_of(path, mounts) if mounts else None
            device = devices[index] or device_of_dir.get(dirs[index]) or device_of_dir.get(path)
            if device is None and mount is not None and mount["dev"]:
                device = mount["dev"]
            devices[index] = device
            if device is not None:
                anchors[index] = f"device {device}"
            elif mount is not None:
                anchors[index] = f"mount {mount['mount']}"
    return _Storage(anchors, devices, mounts)


def _groups(
    found: _FileCalls, storage: _Storage, config: PassConfig, lifetimes: _Lifetimes
) -> list[tuple[str, _FileCalls]]:
    """(directory, its calls) of each storage whose waits are worth a finding, costliest
    first (see the module docstring)."""
    path_anchor, anchor_names = pd.factorize(storage.anchors)
    anchors = path_anchor[found.path]
    flushes = np.isin(found.ops, _flush_ops())
    candidates = []
    for anchor in range(len(anchor_names)):
        member = anchors == anchor
        if not member.any():
            continue
        slow = member & (found.waits >= config.slow_syscall_s)
        if not slow.any():
            totals = pd.Series(found.durations[member]).groupby(found.ops[member]).sum()
            slow = member & (found.ops == int(totals.idxmax()))
        slow_dirs = found.dirs.take(pa.array(np.unique(found.path[slow]))).to_pylist()
        root = common_directory(slow_dirs)
        member &= _under(found.paths, root)[found.path]
        durations = found.durations[member]
        waits = found.waits[member]
        total = float(durations.sum())
        # The share of the waiting threads' time: summed over threads, like the waits.
        lived = sum(lifetimes[int(tid)] for tid in np.unique(found.tids[member]))
        floor = BOUND_SHARE * lived if lived > 0 else float("inf")
        qualifies = total >= config.slow_syscall_s and (
            float(waits.max()) >= config.slow_syscall_s
            or float(found.durations[member & flushes].sum()) >= floor
            or (total >= floor and percentile(waits, 95) >= config.slow_syscall_s / 2)
        )
        if qualifies:
            candidates.append((total, root, member))
    candidates.sort(key=lambda item: -item[0])
    return [(root, found.take(member)) for _, root, member in candidates[:MAX_FINDINGS]]


def trace_findings(
    trace: StraceTables, config: PassConfig, earlier: Sequence[Finding]
) -> list[Finding]:
    """The slow_storage findings of one trace."""
    if trace.syscalls.num_rows == 0:
        return []
    loops = _loop_tids(earlier, trace)
    lifetimes = _thread_spans(trace)
    # Most traces have no storage problem: tell so from durations and threads alone, before
    # any path is numbered.
    if not _file_times(trace).any_may_qualify(lifetimes, config):
        return []
    scanned = _scan(trace)
    found = _file_calls(trace, loops, config, lifetimes, scanned)
    if found is None:
        return []
    storage = _storage(trace, found, scanned)
    return [
        _finding(trace, config, earlier, loops, root, group, storage, lifetimes)
        for root, group in _groups(found, storage, config, lifetimes)
    ]


def _finding(
    trace: StraceTables,
    config: PassConfig,
    earlier: Sequence[Finding],
    loops: set[int],
    root: str,
    group: _FileCalls,
    storage: _Storage,
    lifetimes: _Lifetimes,
) -> Finding:
    durations = group.durations
    total = float(durations.sum())
    op_rows = _op_stats(group.ops, durations, group.syscalls)
    frame = pd.DataFrame(
        {"tid": group.tids, "pid": group.pids, "path": group.path, "duration": durations}
    )
    by_thread = frame.groupby("tid")["duration"].agg(["sum", "count"])
    by_thread = by_thread.sort_values("sum", ascending=False, kind="stable")
    pid_of = frame.groupby("tid")["pid"].first()
    by_process = frame.groupby("pid")["duration"].sum().sort_values(ascending=False, kind="stable")
    by_file = frame.groupby("path")["duration"].agg(["sum", "count"])
    by_file = by_file.sort_values("sum", ascending=False, kind="stable")
    process_ids = [int(pid) for pid in by_process.index if not np.isnan(pid)]
    culprit_pid = process_ids[0] if process_ids else None
    names = process_names(trace, process_ids)
    culprit_tids = sorted(
        int(tid) for tid in frame.loc[frame["pid"] == culprit_pid, "tid"].unique()
    )
    steps = in_flight(
        np.zeros(len(durations), dtype=np.int64), group.starts, group.starts + durations
    )
    peak = int(steps.counts.max())
    peak_at = float(steps.times[int(np.argmax(steps.counts))])
    threads: list[dict[str, Any]] = [
        {
            "tid": int(tid),
            "pid": None if np.isnan(pid_of[tid]) else int(pid_of[tid]),
            "calls": int(row["count"]),
            "total_s": float(row["sum"]),
            "share_of_life": (
                float(row["sum"]) / lifetimes[int(tid)] if lifetimes[int(tid)] > 0 else None
            ),
        }
        for tid, row in by_thread.iterrows()
    ]
    waiting = [t for t in threads if t["total_s"] >= WAITING_SHARE * total] or threads
    slow_calls = int((durations >= config.slow_syscall_s).sum())
    wall = trace.wall_s
    share = total / wall if wall else None
    used = np.unique(group.path)
    device_list = sorted({d for i in used.tolist() if (d := storage.devices[i])})
    mount = _mount_of(root, storage.mounts) if storage.mounts else None
    about = []
    if mount is not None:
        about.append(f"{mount['fstype']} {mount['source']} mounted on {mount['mount']}")
    if device_list:
        about.append(f"device {', '.join(device_list)}")
    device_text = f" ({', '.join(about)})" if about else ""
    where = f"{root}{device_text}"
    used_paths = group.paths.take(pa.array(used))
    used_dirs = group.dirs.take(pa.array(used))
    is_dir = group.is_dir[used]
    files = int((~is_dir).sum())
    directories = set(used_dirs.filter(pa.array(~is_dir)).to_pylist())
    directories |= set(used_paths.filter(pa.array(is_dir)).to_pylist())
    process = names.get(culprit_pid) if culprit_pid is not None else None
    who = f"{process} (pid {culprit_pid})" if process else f"pid {culprit_pid}"
    if len(process_ids) > 1:
        who = f"{len(process_ids)} processes ({who} the most)"
    share_text = ""
    if share is not None:
        share_text = (
            f" ({share:.1f}× the {wall:.2f} s traced: threads waited in parallel)"
            if share > 1
            else f", {share:.0%} of the {wall:.2f} s traced"
        )
    parts = [
        f"{_op_word(row)} {row['calls']}× {row['total_s']:.3f} s "
        f"(p50 {_seconds(row['p50_s'])}, p95 {_seconds(row['p95_s'])}, "
        f"max {_seconds(row['max_s'])})"
        for row in op_rows[:4]
    ]
    busy = [t["share_of_life"] for t in waiting if t["share_of_life"] is not None]
    lived = sum(lifetimes[t["tid"]] for t in waiting)
    busy_share = sum(t["total_s"] for t in waiting) / lived if lived > 0 else None
    if slow_calls:
        slow_text = (
            f"{slow_calls} call{'s' if slow_calls != 1 else ''} took "
            f"{config.slow_syscall_s * 1e3:g} ms or more"
        )
    else:
        slow_text = (
            f"No call took {config.slow_syscall_s * 1e3:g} ms, but their number makes the cost"
        )
    message = (
        f"{who}: {plural(len(waiting), 'thread')} waited {total:.3f} s in file I/O on the "
        f"storage under {where}{share_text}, on {plural(files, 'file')} in "
        f"{len(directories)} director{'y' if len(directories) == 1 else 'ies'}: "
        f"{'; '.join(parts)}. {slow_text}"
        + (f"; up to {peak} were in flight at once." if peak > 1 else ".")
    )
    if len(waiting) > 1 and busy:
        message += (
            f" The waiting threads spent a median {np.median(busy):.0%} of their traced life "
            "in these calls."
        )
    severity: Severity = (
        "error"
        if float(durations.max()) >= LONG_CALL_S or (busy_share or 0) >= SEVERE_SHARE
        else "warning"
    )
    top = op_rows[0]
    whose = "its thread's" if len(waiting) == 1 else "its threads'"
    if slow_calls:
        title = (
            f"Slow storage under {where}: {_op_word(top)} waits, {total:.2f} s "
            f"across {plural(len(waiting), 'thread')}"
        )
    else:
        title = (
            f"Bound by storage under {where}: {top['calls']} {_op_word(top)} calls took "
            f"{busy_share or 0:.0%} of {whose} time"
        )
    evidence: dict[str, Any] = {
        "directory": root,
        "devices": device_list,
        "mount": mount,
        "total_s": total,
        "share_of_wall": share,
        "share_of_thread_time": busy_share,
        "calls": len(durations),
        "slow_calls": slow_calls,
        "max_s": float(durations.max()),
        "operations": op_rows,
        "files": files,
        "directories": len(directories),
        "top_files": [
            {
                "path": group.paths[int(index)].as_py(),
                "calls": int(row["count"]),
                "total_s": float(row["sum"]),
            }
            for index, row in by_file.head(config.max_samples).iterrows()
        ],
        "threads": threads[: config.max_samples * 4],
        "thread_count": len(threads),
        "waiting_threads": len(waiting),
        "processes": [
            {"pid": pid, "name": names.get(pid), "total_s": float(by_process[pid])}
            for pid in process_ids
        ],
        "peak_in_flight": peak,
        "peak_at": peak_at,
        "loop_threads_excluded": sorted(loops),
        "threshold_s": config.slow_syscall_s,
    }
    order = np.argsort(-durations, kind="stable")[: config.max_samples]
    lines = cited_lines(
        take_rows(trace.syscalls.select(["line_start", "line_end"]), group.rows[order])
    )
    culprit_tid = culprit_tids[0] if len(culprit_tids) == 1 else None
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=message,
        evidence=evidence,
        fix=_fix(root, where, op_rows, peak, len(waiting), ", ".join(device_list) or None),
        input=trace.input,
        pid=culprit_pid,
        tid=culprit_tid,
        start=float(group.starts.min()),
        duration_s=float(durations[order[0]]),
        cost_s=total,
        lines=tuple(int(line) for line in lines if not np.isnan(line)),
        culprit=Culprit(
            pid=culprit_pid, tid=culprit_tid, name=process, role="the process waiting on storage"
        ),
        resource=Resource("directory", root, f"directory {where}"),
        explains=_explains(earlier, trace, root, loops),
    )


class _Lifetimes(dict[int, float]):
    """Seconds each task was seen alive in the trace; a task the tasks table does not know
    counts as alive for the whole trace."""

    def __init__(self, spans: dict[int, float], default: float) -> None:
        super().__init__(spans)
        self.default = default

    def __missing__(self, tid: int) -> float:
        return self.default


def _thread_spans(trace: StraceTables) -> _Lifetimes:
    """Seconds each task was seen alive in the trace."""
    tasks = trace.tasks
    if trace.first_s is None or trace.last_s is None:
        return _Lifetimes({}, 0.0)
    wall = trace.last_s - trace.first_s
    if tasks.num_rows == 0:
        return _Lifetimes({}, wall)
    created = np.nan_to_num(numbers(tasks["created_s"]), nan=trace.first_s)
    exited = np.nan_to_num(numbers(tasks["exited_s"]), nan=trace.last_s)
    spans = np.maximum(exited - np.maximum(created, trace.first_s), 0.0)
    known = {
        int(tid): float(span)
        for tid, span in zip(tasks["tid"].to_pylist(), spans, strict=True)
        if span > 0
    }
    return _Lifetimes(known, wall)


def _explains(
    earlier: Sequence[Finding], trace: StraceTables, root: str, loops: set[int]
) -> tuple[Explains, ...]:
    """The per-file findings of earlier passes on files under `root` (same waiting)."""
    rules: dict[tuple[str, str], Explains] = {}
    for finding in earlier:
        if finding.kind not in ("slow_syscall", "thread_pileup") or finding.input != trace.input:
            continue
        threads = finding.evidence.get("threads") or ()
        if threads and loops and set(threads) <= loops:
            continue
        if finding.resource is None:
            continue
        key = finding.resource.key
        if key == root or key.startswith(root.rstrip("/") + "/"):
            rules[(finding.kind, key)] = Explains(key=key, kind=finding.kind)
    return tuple(rules.values())


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [
        finding
        for trace in inputs.traces
        for finding in trace_findings(trace, config, inputs.earlier)
    ]


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("slow_syscall", "blocked_loop", "thread_pileup"))
