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

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy
from analyzer.derive.strace_calls import TASK_CREATORS, take
from analyzer.formats.strace_bytes import LineBytes, int64_array
from analyzer.lazy import lazy_module

if TYPE_CHECKING:
    import pandas as pd

    from analyzer.formats import strace_lark
else:
    pd = lazy_module("pandas")
    strace_lark = lazy_module("analyzer.formats.strace_lark")

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
            "getsockname",
            "pipe",
            "pipe2",
            "socketpair",
            "close",
            "fcntl",
        }
    )
)
_QUOTED = r'"(?P<text>(?:[^"\\]|\\.)*)"'
"""The first double-quoted argument (RE2 and Python `re` agree on this pattern)."""
_DECORATED_FD = r"^(?P<fd>-?\d{1,18})(?:<(?P<target>.*?)>(?:\(deleted\))?)?(?:, |$)"
_BOUND_TO_PORT_0 = re.compile(r"^[A-Za-z0-9]+:\[[^\]>]*:0\]$")
_INET = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]*)"\)')
_INET6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]*)"')
_LISTENING = re.compile(r"^[A-Za-z0-9]+:\[([^\]>]*:\d+)\]$")
"""A bound (listening) socket's target, ``TCP:[127.0.0.1:8080]``: its local address."""
_FD_PAIR = re.compile(r"\[(\d+)(?:<[^\]]*?>)?, (\d+)")


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
    """`addr:port`, `[addr6]:port` or the UNIX path of the first sockaddr in an argument text.

    IPv4/IPv6 (the hot path: every connect and accept) are read with a regex that tests hold
    equal to the grammar's decoding; the rarer UNIX addresses, whose paths carry C escapes,
    are decoded by the grammar itself.
    """
    if match := _INET.search(args):
        return f"{match.group(2)}:{match.group(1)}"
    if match := _INET6.search(args):
        return f"[{match.group(2)}]:{match.group(1)}"
    if "sun_path=" in args:
        return grammar_sockaddr_text(args)
    return None


def grammar_sockaddr_text(args: str) -> str | None:
    """`sockaddr_text` by the grammar: decode the arguments, format the first sockaddr."""
    for value in strace_lark.decode_args(args):
        decoded = strace_lark.sockaddr(value)
        if decoded is None:
            continue
        family, address, port = decoded
        if family == "AF_UNIX":
            return address
        if address is None or port is None:
            return None
        return f"[{address}]:{port}" if family == "AF_INET6" else f"{address}:{port}"
    return None


def _protocol(target: str | None) -> str:
    if target and ":" in target:
        return target.split(":", 1)[0]
    return "socket"


@dataclass
class FdEvents:
    """The replayed descriptor changes: event i sets `fd[i]` of fd table `table[i]` to
    `target[i]` (null: closed) from `position[i]` on.

    Positions are `2 * line + 1` for changes made when a call returns and `2 * line - 1` for
    ones in effect before it (connect/bind), so a call's own lookup at `2 * line` sees the
    changes of earlier lines only. `order` is the index of the call that made the change:
    among changes of one fd at the same position, the later call's wins. Table 0 is the traced
    process's table; `task_table` maps every task that got another table (a forked child's
    copy, or its parent's via `CLONE_FILES`) to it, as it is at the end of the trace.
    """

    task_table: dict[int, int]
    table: np.ndarray
    fd: np.ndarray
    position: np.ndarray
    order: np.ndarray
    target: pa.Array


_SIMPLE_FD = r"^(?P<fd>-?(?:0|[1-9][0-9]{0,17}))(?:[,<]|$)"
"""A first argument that `_first_fd` reads as plain decimal (at most 18 digits: fits int64)."""


def _first_fd(args: str) -> int | None:
    head = args.split(",", 1)[0].split("<", 1)[0].strip()
    try:
        fd = int(head, 0)
    except ValueError:
        return None
    return fd if -(1 << 31) <= fd < 1 << 31 else None  # wider is no fd (a damaged line)


def _first_fds(args: pa.Array) -> list[int | None]:
    """`_first_fd` of each argument text, vectorised for the plain decimal case."""
    simple = pc.cast(pc.struct_field(pc.extract_regex(args, _SIMPLE_FD), "fd"), pa.int64())
    fds = simple.to_pylist()
    for row in np.flatnonzero(simple.is_null().to_numpy(zero_copy_only=False)).tolist():
        fds[row] = _first_fd(args[row].as_py() or "")
    return fds


def first_quoted(args: pa.Array) -> pa.Array:
    """The text inside the first double-quoted argument (what `_QUOTED` captures), null when
    there is none.

    The text between the first two quotes is that capture when it holds no backslash (no
    escaped quote can end it early); only the texts that do go through the regex, whose
    capture groups cost ~230 ns per text (3.7 ms for the 16k opens of a 262k-line step,
    0.8 ms split at the quotes)."""
    parts = pc.split_pattern(args, '"', max_splits=2)
    closed = pc.fill_null(pc.greater_equal(pc.list_value_length(parts), 3), False)
    between = pc.list_element(pc.if_else(closed, parts, pa.scalar(["", ""], parts.type)), 1)
    text = pc.if_else(closed, between, pa.scalar(None, pa.string()))
    escaped = np.flatnonzero(filled_numpy(pc.match_substring(text, "\\"), False))
    if len(escaped) == 0:
        return text
    rows = pa.array(escaped, pa.int64())
    captured = pc.struct_field(pc.extract_regex(args.take(rows), _QUOTED), "text")
    index = np.full(len(args), -1, dtype=np.int64)
    index[escaped] = np.arange(len(escaped))
    return pc.if_else(pa.array(index < 0), text, take(captured, index))


def _opened_targets(name: pa.Array, args: pa.Array, ret_target: pa.Array) -> pa.Array:
    """What successful open*/creat/memfd_create calls opened: the `-y` decoration, else the
    first quoted argument (`/memfd:NAME` for memfd_create), else `NAME:?`."""
    quoted = first_quoted(args)
    opened = pc.coalesce(quoted, pc.binary_join_element_wise(name, ":?", ""))
    memfd = pc.binary_join_element_wise("/memfd:", opened, "")
    return pc.coalesce(ret_target, pc.if_else(pc.equal(name, "memfd_create"), memfd, opened))


@dataclass
class FdTables:
    """The fd tables as a replay leaves them, to go on from in the next window of a trace:
    each table's fds and targets, and the table of every task that got one of its own."""

    tables: list[dict[int, str]] = field(default_factory=lambda: [{}])
    task_table: dict[int, int] = field(default_factory=dict)


def replay_fd_tables(calls: pa.Table, state: FdTables | None = None) -> FdEvents:
    """Apply every descriptor-changing call, in line order, to the per-process fd tables.

    `calls` has columns tid, syscall, args, retval, ret_target, errno, line_start, line_end,
    and optionally ``row`` (the call's number in the whole trace, which then orders the
    events instead of the call's index here). Opens and closes (nearly all of the changes) do
    not depend on what the tables hold, so their events are computed column-wise. A Python
    loop handles the other calls; before each of them it applies the opens and closes made
    so far (a fork copies its parent's table, an accept or dup looks an fd up), and it is the
    only place that assigns tables to tasks. `state` holds the tables the replay starts from
    (empty ones by default) and is left as the replay ends.
    """
    state = state if state is not None else FdTables()
    creates = pc.is_in(calls["syscall"], value_set=pa.array(sorted(TASK_CREATORS)))
    # Failed calls change nothing, except a creator that still returned a task id.
    kept = calls.filter(pc.or_(creates, pc.is_null(calls["errno"])))
    calls = {name: contiguous(kept[name]) for name in kept.column_names}
    count = kept.num_rows
    call_order = (
        calls["row"].to_numpy().astype(np.int64)
        if "row" in calls
        else np.arange(count, dtype=np.int64)
    )
    names, args, ret_targets = calls["syscall"], calls["args"], calls["ret_target"]
    # Every condition on the return value is `>= 0` or `> 0`, so a missing one can be -1.
    retvals = pc.fill_null(calls["retval"], -1)
    lines = pc.coalesce(calls["line_end"], calls["line_start"])

    # Opens and closes: one event each, made without looking at the tables.
    is_open = pc.is_in(names, value_set=pa.array(sorted(_OPENERS))).to_numpy(zero_copy_only=False)
    is_close = pc.equal(names, "close").to_numpy(zero_copy_only=False)
    open_rows = np.flatnonzero(is_open & (retvals.to_numpy() >= 0))
    close_rows = np.flatnonzero(is_close)
    close_fds = _first_fds(pc.take(args, close_rows))
    closing = [index for index, fd in enumerate(close_fds) if fd is not None]
    simple_rows = np.concatenate([open_rows, close_rows[closing]])
    in_call_order = np.argsort(simple_rows, kind="stable")
    simple_rows = simple_rows[in_call_order]
    simple_fds = np.concatenate(
        [retvals.to_numpy()[open_rows], np.array([close_fds[i] for i in closing], np.int64)]
    )[in_call_order]
    opened = _opened_targets(
        pc.take(names, open_rows), pc.take(args, open_rows), pc.take(ret_targets, open_rows)
    )
    simple_targets = pc.take(
        pa.concat_arrays([opened, pa.nulls(len(closing), pa.string())]), in_call_order
    )
    simple_tids = calls["tid"].to_numpy()[simple_rows].tolist()
    simple_fd_list = simple_fds.tolist()
    simple_target_list = simple_targets.to_pylist()
    simple_row_list = simple_rows.tolist()
    simple_tables = [0] * len(simple_row_list)

    task_table = state.task_table
    tables = state.tables
    applied = 0

    def apply_simple_events(until_row: int) -> None:
        """Apply the opens and closes of calls before `until_row` (in call order)."""
        nonlocal applied
        end = bisect.bisect_left(simple_row_list, until_row, applied)
        for index in range(applied, end):
            table_id = task_table.get(simple_tids[index], 0)
            simple_tables[index] = table_id
            target = simple_target_list[index]
            if target is None:
                tables[table_id].pop(simple_fd_list[index], None)
            else:
                tables[table_id][simple_fd_list[index]] = target
        applied = end

    event_table: list[int] = []
    event_fd: list[int] = []
    event_position: list[int] = []
    event_order: list[int] = []
    event_target: list[str | None] = []

    def set_fd(row: int, tid: int, fd: int, position: int, target: str | None) -> None:
        table_id = task_table.get(tid, 0)
        if target is None:
            tables[table_id].pop(fd, None)
        else:
            tables[table_id][fd] = target
        event_table.append(table_id)
        event_fd.append(fd)
        event_position.append(position)
        event_order.append(int(call_order[row]))
        event_target.append(target)

    def get_fd(tid: int, fd: int) -> str | None:
        return tables[task_table.get(tid, 0)].get(fd)

    other_rows = np.flatnonzero(~is_open & ~is_close)
    for row, tid, name, arg_text, retval, ret_target, line, line_start in zip(
        other_rows.tolist(),
        pc.take(calls["tid"], other_rows).to_pylist(),
        pc.take(names, other_rows).to_pylist(),
        pc.take(args, other_rows).to_pylist(),
        pc.take(retvals, other_rows).to_pylist(),
        pc.take(ret_targets, other_rows).to_pylist(),
        pc.take(lines, other_rows).to_pylist(),
        pc.take(calls["line_start"], other_rows).to_pylist(),
        strict=True,
    ):
        apply_simple_events(row)
        arg_text = arg_text or ""
        after = line * 2 + 1
        if name in TASK_CREATORS:
            if retval > 0:
                parent_table = task_table.get(tid, 0)
                if name in ("clone", "clone3") and "CLONE_FILES" in arg_text:
                    task_table[retval] = parent_table
                    continue
                # A forked child starts with a copy of its parent's table.
                task_table[retval] = len(tables)
                tables.append({})
                for fd, target in list(tables[parent_table].items()):
                    set_fd(row, retval, fd, after, target)
        elif name == "socket":
            if retval >= 0:
                set_fd(row, tid, retval, after, ret_target or f"{_socket_kind(arg_text)}:[]")
        elif name in ("accept", "accept4"):
            if retval >= 0:
                peer = sockaddr_text(arg_text)
                listener = _first_fd(arg_text)
                listening = get_fd(tid, listener) if listener is not None else None
                proto = _protocol(listening)
                # The accepted socket's local address is the listener's, as -yy prints it.
                local = _LISTENING.match(listening or "")
                here = local.group(1) if local else ""
                set_fd(row, tid, retval, after, ret_target or f"{proto}:[{here}->{peer or '?'}]")
        elif name in ("connect", "bind"):
            socket_fd = _first_fd(arg_text)
            address = sockaddr_text(arg_text)
            if socket_fd is not None and address is not None:
                proto = _protocol(get_fd(tid, socket_fd))
                target = f"{proto}:[->{address}]" if name == "connect" else f"{proto}:[{address}]"
                position = (line_start if line_start is not None else line) * 2 - 1
                set_fd(row, tid, socket_fd, position, target)
        elif name == "getsockname":
            # A socket bound to port 0 learns its real port here (a server on an
            # ephemeral port); later connects from clients name that port.
            socket_fd = _first_fd(arg_text)
            address = sockaddr_text(arg_text)
            if socket_fd is not None and address is not None and retval == 0:
                current = get_fd(tid, socket_fd)
                if current is not None and _BOUND_TO_PORT_0.match(current):
                    proto = _protocol(current)
                    set_fd(row, tid, socket_fd, after, f"{proto}:[{address}]")
        elif name in ("pipe", "pipe2", "socketpair"):
            match = _FD_PAIR.search(arg_text)
            if match:
                kind = "pipe" if name != "socketpair" else _socket_kind(arg_text)
                for fd in (int(match.group(1)), int(match.group(2))):
                    set_fd(row, tid, fd, after, f"{kind}:[L{line}]")
        elif name in _DUPLICATORS or (name == "fcntl" and "F_DUPFD" in arg_text):
            old = _first_fd(arg_text)
            if old is not None and retval >= 0:
                set_fd(row, tid, retval, after, get_fd(tid, old))
        elif name in _ANON_CREATORS and retval >= 0:
            set_fd(row, tid, retval, after, ret_target or _ANON_CREATORS[name])
    apply_simple_events(count)

    simple_positions = pc.take(lines, simple_rows).to_numpy() * 2 + 1
    return FdEvents(
        task_table=dict(task_table),
        table=np.concatenate([np.array(simple_tables, np.int64), np.array(event_table, np.int64)]),
        fd=np.concatenate([simple_fds, np.array(event_fd, np.int64)]),
        position=np.concatenate([simple_positions, np.array(event_position, np.int64)]),
        order=np.concatenate([call_order[simple_rows], np.array(event_order, np.int64)]),
        target=pa.concat_arrays([simple_targets, pa.array(event_target, pa.string())]),
    )


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


_FD_DIGITS = 8
"""Leading fds this long or longer are read by the regex (they are never real fds)."""


_FD_FIRST_ARG = pa.array(sorted(FD_FIRST_ARG))


def takes_fd_first(syscall_names: pa.Array) -> np.ndarray:
    """Whether each name is that of a call whose first argument is an fd (`FD_FIRST_ARG`)."""
    return pc.is_in(syscall_names, value_set=_FD_FIRST_ARG).to_numpy(zero_copy_only=False)


def decorated_fds(
    syscall: pa.Array, args: pa.Array, takes_fd: np.ndarray | None = None
) -> tuple[pa.Array, pa.Array]:
    """The first-argument fd of fd-taking calls and its `-y` target, null elsewhere.

    What `_DECORATED_FD` reads: the common undecorated form (``7, ...`` or a lone ``7``) is
    read from the bytes of the arguments with numpy; decorated fds (``7</path>, ...``) and
    overlong numbers go through the regex itself. `takes_fd` is `takes_fd_first` of each
    call's name when the caller has it from the names' codes (the test of every name costs
    5 ms per 266k calls).
    """
    count = len(syscall)
    if takes_fd is None:
        takes_fd = pc.is_in(syscall, value_set=_FD_FIRST_ARG).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(takes_fd)
    fd = np.zeros(count, dtype=np.int64)
    has_fd = np.zeros(count, dtype=bool)
    regex_rows = np.zeros(0, dtype=np.int64)
    if len(rows):
        raw = LineBytes(args)
        start, end = raw.start[rows], raw.end[rows]
        present = args.is_valid().to_numpy(zero_copy_only=False)[rows]
        minus = (raw.at(start) == ord("-")) & (start < end)
        first_digit = start + minus
        window = raw.window(first_digit, _FD_DIGITS)
        inside = np.arange(_FD_DIGITS) < (end - first_digit)[:, None]
        is_digit = (window >= ord("0")) & (window <= ord("9")) & inside
        length = np.where(is_digit.all(axis=1), _FD_DIGITS, is_digit.argmin(axis=1))
        after = first_digit + length
        following = raw.at(after)
        ends_here = after == end
        comma = (after + 1 < end) & (following == ord(",")) & (raw.at(after + 1) == ord(" "))
        read = present & (length >= 1)
        plain = read & (length < _FD_DIGITS) & (ends_here | comma)
        other = read & ((length == _FD_DIGITS) | ((after < end) & (following == ord("<"))))
        value = np.zeros(len(rows), dtype=np.int32)  # fewer than _FD_DIGITS digits: exact
        for place in range(_FD_DIGITS - 1):
            digit = window[:, place].astype(np.int32) - ord("0")
            value = np.where(place < length, value * 10 + digit, value)
        value = np.where(plain, value, 0).astype(np.int64)
        fd[rows] = np.where(minus, -value, value)
        has_fd[rows] = plain
        regex_rows = rows[other]
    direct_index = np.full(count, -1, dtype=np.int64)
    direct = pa.nulls(0, pa.string())
    if len(regex_rows):
        decorated = pc.extract_regex(pc.take(args, pa.array(regex_rows)), _DECORATED_FD)
        # `field` ignores the struct's own validity: rows that did not match read as "".
        matched_fd = pc.cast(
            pc.if_else(pc.equal(decorated.field("fd"), ""), None, decorated.field("fd")),
            pa.int64(),
        )
        fd[regex_rows] = filled_numpy(matched_fd, 0)
        has_fd[regex_rows] = matched_fd.is_valid().to_numpy(zero_copy_only=False)
        direct = decorated.field("target")
        direct = pc.if_else(pc.equal(direct, ""), pa.scalar(None, pa.string()), direct)
        direct_index[regex_rows] = np.arange(len(regex_rows))
    return int64_array(fd, has_fd), take(direct, direct_index)


def _as_of(
    event_key: np.ndarray,
    event_position: np.ndarray,
    event_order: np.ndarray,
    query_key: np.ndarray,
    query_position: np.ndarray,
) -> np.ndarray:
    """For each query, the last event with the same key at or before its position (-1: none).

    "Last" is in position order, then `event_order`, then array order (a backward
    `merge_asof` by key on events in replay order). Key and position are packed into one
    int64 so a single `searchsorted` does the join; positions are replaced by their rank
    among the event positions when the packed value could overflow.
    """
    if len(event_key) == 0 or len(query_key) == 0:
        return np.full(len(query_key), -1, dtype=np.int64)
    span = int(max(event_position.max(), query_position.max())) + 1
    key_count = int(max(event_key.max(), query_key.max())) + 1
    if key_count * span >= 2**62:
        ranks = np.unique(event_position)
        event_position = np.searchsorted(ranks, event_position, side="right")
        query_position = np.searchsorted(ranks, query_position, side="right")
        span = len(ranks) + 1
    by_key = np.lexsort((event_order, event_position, event_key))  # stable
    packed = event_key[by_key] * span + event_position[by_key]
    found = _search_sorted(packed, query_key, query_key * span + query_position, key_count) - 1
    hit = found >= 0
    hit[hit] = event_key[by_key[found[hit]]] == query_key[hit]
    return np.where(hit, by_key[np.maximum(found, 0)], -1)


def _search_sorted(
    values: np.ndarray, keys: np.ndarray, queries: np.ndarray, key_count: int
) -> np.ndarray:
    """`np.searchsorted(values, queries, side="right")`, the queries (whose high part is
    `keys`, each below `key_count`) searched in sorted order: a binary search per query in
    random order misses the cache at every step (8.5 ms for the 146k fd lookups of a
    262k-line step, 1.1 ms sorted). Queries come in call order, so sorting them by key alone
    (a radix sort when the keys fit 16 bits) usually sorts them; otherwise in full."""
    if len(queries) < 1024:
        return np.searchsorted(values, queries, side="right")
    if key_count <= 2**16:
        order = np.argsort(keys.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(queries, kind="stable")
    ordered = queries[order]
    if not bool((ordered[1:] >= ordered[:-1]).all()):
        order = np.argsort(queries, kind="stable")
        ordered = queries[order]
    found = np.empty(len(queries), dtype=np.int64)
    found[order] = np.searchsorted(values, ordered, side="right")
    return found


REPLAYED_COLUMNS = (
    "tid",
    "syscall",
    "args",
    "retval",
    "ret_target",
    "errno",
    "line_start",
    "line_end",
)
"""The calls columns `replay_fd_tables` reads."""


def changes_fds(syscall_names: pa.Array) -> np.ndarray:
    """Whether each name is that of a call that can change an fd table (the calls
    `replay_fd_tables` is given)."""
    return pc.is_in(syscall_names, value_set=_CHANGES_FDS).to_numpy(zero_copy_only=False)


def replay_calls(columns: dict[str, pa.Array], state: FdTables | None = None) -> FdEvents:
    """`replay_fd_tables` of the calls among `columns` that can change an fd table (all of
    them may be given, or only those), from `state` on."""
    names = [*REPLAYED_COLUMNS, "row"] if "row" in columns else list(REPLAYED_COLUMNS)
    calls = pa.table({name: columns[name] for name in names})
    return replay_fd_tables(calls.filter(pc.is_in(calls["syscall"], value_set=_CHANGES_FDS)), state)


def events_at(
    events: FdEvents, tids: np.ndarray, fds: np.ndarray, anchors: np.ndarray
) -> np.ndarray:
    """For each (task, fd) looked up at a position (``2 * line`` of the call that uses it),
    the index of the fd-table event that set the fd then (-1: none)."""
    if len(tids) == 0 or len(events.target) == 0:
        return np.full(len(tids), -1, dtype=np.int64)
    # The table each call's task uses (as it is at the end of the trace; 0 when never moved).
    unique_tids, tid_code = np.unique(tids, return_inverse=True)
    table_of_tid = np.array([events.task_table.get(int(t), 0) for t in unique_tids], np.int64)
    query_table = table_of_tid[tid_code]
    # (table, fd) pairs as one dense integer key, numbering fds by a joint factorize.
    fd_codes, fd_values = pd.factorize(np.concatenate([events.fd, fds.astype(np.int64)]))
    event_key = events.table * len(fd_values) + fd_codes[: len(events.fd)]
    query_key = query_table * len(fd_values) + fd_codes[len(events.fd) :]
    return _as_of(event_key, events.position, events.order, query_key, anchors.astype(np.int64))


def open_copies(
    events: FdEvents, tids: np.ndarray, found: np.ndarray, anchors: np.ndarray
) -> np.ndarray:
    """For each looked-up fd (`found`: its `events_at` index), how many fds of the same task's
    table referred to the same target at that position (1 for an fd that is alone; 2 for a
    pipe whose process still holds both ends, a self-pipe). 0 where the fd was not found."""
    counts = np.zeros(len(found), dtype=np.int64)
    hit = found >= 0
    if not hit.any():
        return counts
    wanted = {events.target[int(index)].as_py() for index in found[hit]} - {None}
    targets = events.target.to_pylist()
    # The stretches during which each (table, fd) held one of the wanted targets.
    order = np.lexsort((events.order, events.position, events.fd, events.table))
    spans: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for at, index in enumerate(order.tolist()):
        target = targets[index]
        if target not in wanted:
            continue
        following = order[at + 1] if at + 1 < len(order) else -1
        same_fd = following >= 0 and (
            events.table[following] == events.table[index]
            and events.fd[following] == events.fd[index]
        )
        end = float(events.position[following]) if same_fd else np.inf
        spans.setdefault((int(events.table[index]), target), []).append(
            (int(events.position[index]), end)
        )
    for query in np.flatnonzero(hit).tolist():
        table = events.task_table.get(int(tids[query]), 0)
        target = targets[int(found[query])]
        position = int(anchors[query])
        counts[query] = sum(
            1 for start, end in spans.get((table, target), ()) if start <= position < end
        )
    return counts


def _replayed_targets(
    columns: dict[str, pa.Array], fd: pa.Array, need: np.ndarray, events: FdEvents | None
) -> tuple[np.ndarray, pa.Array]:
    """For the calls in `need`, the index of the fd-table event that set their fd (-1: none)
    and the targets of those events (`replay_calls` of `columns`, unless given)."""
    if events is None:
        events = replay_calls(columns)
    rows = np.flatnonzero(need)
    if len(rows) == 0 or len(events.target) == 0:
        return np.full(len(rows), -1, dtype=np.int64), events.target
    tids = columns["tid"].to_numpy()[rows]
    query_fd = fd.to_numpy(zero_copy_only=False)[rows].astype(np.int64)
    anchor = pc.coalesce(columns["line_start"], columns["line_end"]).to_numpy()[rows] * 2
    return events_at(events, tids, query_fd, anchor), events.target


def resolve(
    columns: dict[str, pa.Array],
    events: FdEvents | None = None,
    decorated: tuple[pa.Array, pa.Array] | None = None,
) -> dict[str, pa.Array]:
    """Add `fd`, `target` and `target_kind` to the calls columns.

    `events` is `replay_calls` of the same calls when the caller has it already (it can be
    replayed from the fd-changing calls alone, while the other columns are being built), and
    `decorated` their `decorated_fds` (it needs only the syscall and args columns).

    Targets are gathered, not built per call: every call's target is an index into one small
    array of texts (the `-y` decorations, then the replayed events' targets), so the target
    column and its kinds are each a single `take`, and the kinds are classified once per
    distinct text.
    """
    columns = {name: contiguous(value) for name, value in columns.items()}
    fd, direct = decorated or decorated_fds(columns["syscall"], columns["args"])
    has_direct = direct.is_valid().to_numpy(zero_copy_only=False)
    need = fd.is_valid().to_numpy(zero_copy_only=False) & ~has_direct
    found, event_targets = _replayed_targets(columns, fd, need, events)

    direct_rows = np.flatnonzero(has_direct)
    texts = pa.concat_arrays([pc.take(direct, pa.array(direct_rows)), event_targets])
    index = np.full(len(has_direct), -1, dtype=np.int64)
    index[direct_rows] = np.arange(len(direct_rows))
    index[need] = np.where(found >= 0, len(direct_rows) + found, -1)
    # Several events share a text, so classify the distinct texts and gather twice.
    encoded = pc.dictionary_encode(texts)
    kinds = pc.take(classify_targets(encoded.dictionary), encoded.indices)
    return {
        **columns,
        "fd": fd,
        "target": take(texts, index),
        "target_kind": take(kinds, index),
    }
