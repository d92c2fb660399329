"""Which file, socket or pipe is behind the fd of each call.

With `-y`/`-yy` strace prints the target beside the fd (`read(3</etc/passwd>, ...)`) and that
is used as is. Otherwise the fd tables are replayed: every call that creates, copies or closes
a descriptor (open*, socket, accept*, connect, bind, pipe*, socketpair, dup*, fcntl F_DUPFD,
close, eventfd, epoll_create, ...) becomes an event on the table of its process; threads and
`CLONE_FILES` children share their parent's table, forked children get a copy. Each call's fd
is then looked up, in line order, in the table of its task (an as-of join, not a Python loop
over every call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.derive.strace_calls import TASK_CREATORS

FD_FIRST_ARG = frozenset(
    [
        "read",
        "write",
        "pread64",
        "pwrite64",
        "readv",
        "writev",
        "preadv",
        "pwritev",
        "preadv2",
        "pwritev2",
        "recvfrom",
        "sendto",
        "recvmsg",
        "sendmsg",
        "recvmmsg",
        "sendmmsg",
        "connect",
        "accept",
        "accept4",
        "bind",
        "listen",
        "getsockname",
        "getpeername",
        "setsockopt",
        "getsockopt",
        "shutdown",
        "fsync",
        "fdatasync",
        "fstat",
        "fstatfs",
        "fcntl",
        "ioctl",
        "lseek",
        "close",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_ctl",
        "ftruncate",
        "fallocate",
        "sendfile",
        "splice",
        "tee",
        "getdents64",
        "getdents",
        "fchmod",
        "fchown",
        "flock",
        "fadvise64",
        "sync_file_range",
        "syncfs",
        "fsetxattr",
        "fgetxattr",
        "fchdir",
        "readahead",
        "copy_file_range",
        "vmsplice",
    ]
)

_ANON_CREATORS = {
    "eventfd": "anon_inode:[eventfd]",
    "eventfd2": "anon_inode:[eventfd]",
    "epoll_create": "anon_inode:[eventpoll]",
    "epoll_create1": "anon_inode:[eventpoll]",
    "timerfd_create": "anon_inode:[timerfd]",
    "signalfd": "anon_inode:[signalfd]",
    "signalfd4": "anon_inode:[signalfd]",
    "inotify_init": "anon_inode:inotify",
    "inotify_init1": "anon_inode:inotify",
    "pidfd_open": "anon_inode:[pidfd]",
    "io_uring_setup": "anon_inode:[io_uring]",
    "perf_event_open": "anon_inode:[perf_event]",
    "userfaultfd": "anon_inode:[userfaultfd]",
    "fanotify_init": "anon_inode:[fanotify]",
}
_OPENERS = frozenset({"open", "openat", "openat2", "creat", "memfd_create"})
_DUPLICATORS = frozenset({"dup", "dup2", "dup3"})

_CHANGES_FDS = pa.array(
    sorted(
        TASK_CREATORS
        | _OPENERS
        | _DUPLICATORS
        | set(_ANON_CREATORS)
        | {
            "socket",
            "accept",
            "accept4",
            "connect",
            "bind",
            "pipe",
            "pipe2",
            "socketpair",
            "close",
            "fcntl",
        }
    )
)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DECORATED_FD = r"^(?P<fd>-?\d+)(?:<(?P<target>.*?)>(?:\(deleted\))?)?(?:, |$)"
_INET = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]*)"\)')
_INET6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]*)"')
_UNIX_PATH = re.compile(r'sun_path=(@?"(?:[^"\\]|\\.)*")')
_FD_PAIR = re.compile(r"\[(\d+)(?:<[^\]]*?>)?, (\d+)")
_ROOT_TABLE = "root"


def _socket_kind(args: str) -> str:
    domain = args.split(",", 1)[0].strip()
    stream = "SOCK_STREAM" in args
    if domain in ("AF_INET", "AF_INET6", "PF_INET", "PF_INET6"):
        suffix = "v6" if domain.endswith("6") else ""
        return ("TCP" if stream else "UDP") + suffix
    if domain in ("AF_UNIX", "AF_LOCAL", "PF_UNIX", "PF_LOCAL"):
        return "UNIX-STREAM" if stream else "UNIX-DGRAM"
    if domain in ("AF_NETLINK", "PF_NETLINK"):
        return "NETLINK"
    return "socket"


def sockaddr_text(args: str) -> str | None:
    """`addr:port` (or a UNIX path) of the first sockaddr in an argument text."""
    if match := _INET.search(args):
        return f"{match.group(2)}:{match.group(1)}"
    if match := _INET6.search(args):
        return f"[{match.group(2)}]:{match.group(1)}"
    if match := _UNIX_PATH.search(args):
        return match.group(1)
    return None


def _protocol(target: str | None) -> str:
    if target and ":" in target:
        return target.split(":", 1)[0]
    return "socket"


@dataclass
class _FdTables:
    """Replays descriptor changes; emits (table, fd, position, target) events."""

    task_table: dict[int, str] = field(default_factory=dict)
    tables: dict[str, dict[int, str]] = field(default_factory=dict)
    events: list[tuple[str, int, int, str | None]] = field(default_factory=list)

    def table_of(self, tid: int) -> str:
        return self.task_table.get(tid, _ROOT_TABLE)

    def set(self, tid: int, fd: int, position: int, target: str | None) -> None:
        name = self.table_of(tid)
        table = self.tables.setdefault(name, {})
        if target is None:
            table.pop(fd, None)
        else:
            table[fd] = target
        self.events.append((name, fd, position, target))

    def get(self, tid: int, fd: int) -> str | None:
        return self.tables.get(self.table_of(tid), {}).get(fd)

    def spawn(self, parent: int, child: int, shares_files: bool, position: int) -> None:
        parent_table = self.table_of(parent)
        if shares_files:
            self.task_table[child] = parent_table
            return
        name = f"task:{child}@{position}"
        self.task_table[child] = name
        copied = dict(self.tables.get(parent_table, {}))
        self.tables[name] = copied
        for fd, target in copied.items():
            self.events.append((name, fd, position, target))


def _first_fd(args: str) -> int | None:
    head = args.split(",", 1)[0].split("<", 1)[0].strip()
    try:
        return int(head, 0)
    except ValueError:
        return None


def replay_fd_tables(calls: pa.Table) -> _FdTables:
    """Apply every descriptor-changing call, in line order, to the per-process fd tables.

    `calls` has columns tid, syscall, args, retval, ret_target, errno, line_start, line_end.
    """
    tables = _FdTables()
    columns = [
        calls[name].to_pylist()
        for name in (
            "tid",
            "syscall",
            "args",
            "retval",
            "ret_target",
            "errno",
            "line_start",
            "line_end",
        )
    ]
    for tid, name, args, retval, ret_target, errno, line_start, line_end in zip(
        *columns, strict=True
    ):
        args = args or ""
        failed = errno is not None
        line = line_end if line_end is not None else line_start
        after = line * 2 + 1
        if name in TASK_CREATORS:
            if retval is not None and retval > 0:
                shares = name in ("clone", "clone3") and "CLONE_FILES" in args
                tables.spawn(tid, retval, shares, after)
            continue
        if failed:
            continue
        if name in _OPENERS and retval is not None and retval >= 0:
            target = ret_target
            if target is None:
                quoted = _QUOTED.search(args)
                target = quoted.group(1) if quoted else f"{name}:?"
                if name == "memfd_create":
                    target = f"/memfd:{target}"
            tables.set(tid, retval, after, target)
        elif name == "socket" and retval is not None and retval >= 0:
            tables.set(tid, retval, after, ret_target or f"{_socket_kind(args)}:[]")
        elif name in ("accept", "accept4") and retval is not None and retval >= 0:
            peer = sockaddr_text(args)
            listener = _first_fd(args)
            proto = _protocol(tables.get(tid, listener) if listener is not None else None)
            tables.set(tid, retval, after, ret_target or f"{proto}:[->{peer or '?'}]")
        elif name in ("connect", "bind"):
            fd = _first_fd(args)
            address = sockaddr_text(args)
            if fd is not None and address is not None:
                proto = _protocol(tables.get(tid, fd))
                target = f"{proto}:[->{address}]" if name == "connect" else f"{proto}:[{address}]"
                tables.set(
                    tid, fd, (line_start if line_start is not None else line) * 2 - 1, target
                )
        elif name in ("pipe", "pipe2", "socketpair"):
            match = _FD_PAIR.search(args)
            if match:
                kind = "pipe" if name != "socketpair" else _socket_kind(args)
                for fd in (int(match.group(1)), int(match.group(2))):
                    tables.set(tid, fd, after, f"{kind}:[L{line}]")
        elif name in _DUPLICATORS or (name == "fcntl" and "F_DUPFD" in args):
            old = _first_fd(args)
            if old is not None and retval is not None and retval >= 0:
                tables.set(tid, retval, after, tables.get(tid, old))
        elif name == "close":
            fd = _first_fd(args)
            if fd is not None:
                tables.set(tid, fd, after, None)
        elif name in _ANON_CREATORS and retval is not None and retval >= 0:
            tables.set(tid, retval, after, ret_target or _ANON_CREATORS[name])
    return tables


_TARGET_KINDS: tuple[tuple[str, str], ...] = (
    ("device", r"^/dev/|<(?:char|block) "),
    ("file", r"^/"),
    ("socket", r"^(?:TCP|UDP|UNIX|NETLINK|socket|RAW|SCTP|PACKET|L2TP)"),
    ("pipe", r"^pipe:"),
    ("anon", r"^anon_inode"),
    ("other", r"."),
)


def classify_targets(targets: pa.Array) -> pa.Array:
    """file, device, socket, pipe, anon or other for each target text (first rule wins)."""
    kinds = pa.nulls(len(targets), pa.string())
    for name, pattern in reversed(_TARGET_KINDS):
        matches = pc.fill_null(pc.match_substring_regex(targets, pattern), False)
        kinds = pc.if_else(matches, name, kinds)
    return kinds


def resolve(columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Add `fd`, `target` and `target_kind` to the calls columns."""
    columns = {
        name: value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value
        for name, value in columns.items()
    }
    syscall = columns["syscall"]
    args = columns["args"]
    takes_fd = pc.is_in(syscall, value_set=pa.array(sorted(FD_FIRST_ARG)))
    decorated = pc.extract_regex(
        pc.if_else(takes_fd, args, pa.scalar(None, pa.string())), _DECORATED_FD
    )
    fd = pc.cast(
        pc.if_else(pc.equal(decorated.field("fd"), ""), None, decorated.field("fd")), pa.int64()
    )
    direct = decorated.field("target")
    direct = pc.if_else(pc.equal(direct, ""), pa.scalar(None, pa.string()), direct)

    replayed = ("tid", "syscall", "args", "retval", "ret_target", "errno", "line_start", "line_end")
    calls = pa.table({name: columns[name] for name in replayed})
    tables = replay_fd_tables(calls.filter(pc.is_in(syscall, value_set=_CHANGES_FDS)))
    frame = pd.DataFrame(
        {
            "tid": columns["tid"].to_numpy(zero_copy_only=False),
            "line_start": columns["line_start"].to_pandas(),
            "line_end": columns["line_end"].to_pandas(),
        }
    )

    lookup_fd = fd.to_pandas()
    need = lookup_fd.notna().to_numpy() & ~direct.is_valid().to_numpy(zero_copy_only=False)
    target = direct.to_numpy(zero_copy_only=False).astype(object)
    if need.any() and tables.events:
        events = pd.DataFrame(tables.events, columns=["table", "fd", "position", "target"])
        events = events.sort_values("position", kind="stable")
        anchor = frame["line_start"].fillna(frame["line_end"]).astype("int64") * 2
        wanted = pd.DataFrame(
            {
                "row": np.flatnonzero(need),
                "table": frame["tid"][need]
                .map(tables.task_table)
                .astype(object)
                .fillna(_ROOT_TABLE)
                .to_numpy(),
                "fd": lookup_fd[need].astype("int64").to_numpy(),
                "position": anchor[need].to_numpy(),
            }
        ).sort_values("position", kind="stable")
        joined = pd.merge_asof(
            wanted, events, on="position", by=["table", "fd"], direction="backward"
        )
        target[joined["row"].to_numpy()] = joined["target"].to_numpy()
    target_array = pa.array(target, pa.string(), from_pandas=True)
    return {
        **columns,
        "fd": fd,
        "target": target_array,
        "target_kind": classify_targets(target_array),
    }
