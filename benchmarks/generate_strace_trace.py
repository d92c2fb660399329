"""Generate a realistic, deterministic ``strace -f -tt -T -o`` trace of a threaded server.

Usage::

    python benchmarks/generate_strace_trace.py OUT.log --lines 1000000 --threads 32 [--seed 1]
    python benchmarks/generate_strace_trace.py OUT.log --lines 20000 --check   # generate + verify
    python benchmarks/generate_strace_trace.py --check-only SOME.log           # verify a file

The simulated program is one process with ``--threads`` threads (main thread included):

* the **main thread** starts like a dynamically linked binary (``execve``, loader ``openat``/
  ``mmap``), opens a listening socket (fd 3), an epoll instance (fd 4) and an append-only log
  file (fd 5), creates the other threads with ``clone3``, then runs an ``epoll_wait`` loop that
  ``accept4``s client connections, registers them with ``epoll_ctl`` and wakes workers with
  ``futex(FUTEX_WAKE_PRIVATE)``; twice it ``posix_spawn``s a ``gzip`` child process whose exit
  interrupts ``epoll_wait`` (``EINTR``) and delivers ``--- SIGCHLD {...} ---``;
* a **logger thread** ``write``s to the log file and ``fsync``s it about once a second (~50 ms);
* a **timer thread** sleeps with ``clock_nanosleep`` (100 ms ticks) and rewrites a metrics file;
* the other threads are **workers**: they wait on condition variables (``futex`` wait
  bitset, some with a timeout ending in ``ETIMEDOUT``), contend on a mutex (``FUTEX_WAIT_PRIVATE``
  / ``EAGAIN``), take a client connection and ``recvfrom`` (sometimes ``EAGAIN``) / ``sendto``
  on it, stat/open/``lseek``/``read``/``mmap``/``close`` data files (some ``ENOENT``), talk to
  an upstream over a socket they ``socket``+``connect``ed at start; the upstream
  ``10.0.7.42:8080`` is slow (``read`` of 100-500 ms).

At the end the main thread wakes everyone, the threads ``exit(0)`` (``+++ exited with 0 +++``)
and the main thread joins them and calls ``exit_group(0)``.

Every call has an entry and an exit time; an event queue (``heapq``) orders all entries and exits
of all tasks by time. As strace does, a call is printed on one line when no other task's event
comes between its entry and its exit, otherwise as ``name(args <unfinished ...>`` at entry time
plus ``<... name resumed>rest) = ret <dur>`` at exit time (exit time - dur = entry time). The
file descriptor table is consistent: every fd used was returned earlier by ``openat``/
``socket``/``accept4``/``epoll_create1`` in the same process and not closed since.

Line format (strace 6.1, ``-f -o FILE -tt -T``): ``"%-5u "`` pid, ``HH:MM:SS.uuuuuu ``, the call,
padded with spaces so that ``=`` sits in column 40 when the text before it is shorter, else
``" = "``; ``-T`` as ``<s.uuuuuu>``; strings abbreviated at 32 bytes (``"..."...``) and escaped
like strace's ``string_quote``.
"""

from __future__ import annotations

import argparse
import heapq
import random
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TextIO

# --------------------------------------------------------------------------- items
# An item yielded by a task generator is a tuple
#   (kind, gap_us, name, entry_args, exit_args, ret, dur_us, show_T, spawn, wait_key)
# kind CALL: name(entry_args + exit_args) = ret; split after entry_args when interrupted.
#   dur_us < 0 means "blocked until wait_key is released" (see Simulation.release).
#   spawn: None or (tid, iterator_of_items, delay_us): start a task delay_us after entry.
# kind SIGNAL / EXIT: the whole body is in `name`, printed at entry time.
CALL, SIGNAL, EXIT = 0, 1, 2
Item = tuple  # (int, int, str, str, str, str, int, bool, object, object)

STRSIZE = 32  # strace's default -s
COLUMN = 40  # strace's default -a

DAY_US = 86_400_000_000


def quote(data: bytes, size: int | None = None) -> str:
    """Quote ``data`` like strace's string_quote with -s 32: ``"abc"`` or ``"abc"...``.

    ``size`` is the byte count of the buffer (the syscall's count or return value); when it is
    larger than the 32 bytes printed, ``...`` follows the closing quote.
    """
    if size is None:
        size = len(data)
    shown = data[: min(size, STRSIZE)]
    out = ['"']
    n = len(shown)
    for i, c in enumerate(shown):
        if c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x09:
            out.append("\\t")
        elif c == 0x0C:
            out.append("\\f")
        elif c == 0x0B:
            out.append("\\v")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        elif i + 1 < n and 0x30 <= shown[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(f"\\{c:o}")
    out.append('"')
    if size > STRSIZE:
        out.append("...")
    return "".join(out)


# ------------------------------------------------------------------------- fd table
class FdTable:
    """Lowest-free-fd allocator of one process; closed fds are reusable after the close."""

    def __init__(self, first: int) -> None:
        self.next_fd = first
        self.free: list[int] = []
        self.pending: list[tuple[int, int]] = []  # (usable from time, fd)

    def alloc(self, now: int) -> int:
        if self.pending:
            keep = []
            for t, fd in self.pending:
                if t < now:
                    heapq.heappush(self.free, fd)
                else:
                    keep.append((t, fd))
            self.pending = keep
        if self.free:
            return heapq.heappop(self.free)
        fd = self.next_fd
        self.next_fd += 1
        return fd

    def release(self, fd: int, closed_at: int) -> None:
        self.pending.append((closed_at, fd))


# ----------------------------------------------------------------------- simulation
class Simulation:
    """Shared state of the simulated process and the event-queue scheduler."""

    def __init__(self, lines: int, threads: int, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.target_lines = lines
        self.nthreads = max(4, threads)
        self.pid = rng.randrange(20000, 60000)
        # wall clock: a time of day that leaves room for a long trace before midnight
        self.start_us = (9 * 3600 + rng.randrange(0, 3600)) * 1_000_000 + rng.randrange(10**6)
        self.now = self.start_us
        self.mono_base = rng.randrange(900, 5000) * 1_000_000 + rng.randrange(10**6)
        self.epoch_base = 1764115200  # 2025-11-26 00:00:00 UTC
        self.stopping = False
        self.fds = FdTable(3)
        self.pool: deque[tuple[int, int]] = deque()  # (available from, fd) idle connections
        self.busy = 0
        self.live_workers = 0
        self.waiters: dict[object, tuple[int, int, Item]] = {}  # key -> (tid, entry_t, item)
        self.next_tid = self.pid + 1
        self.heap: list[tuple[int, int, int, bool, Item]] = []
        self.seq = 0
        self.tasks: dict[int, Iterator[Item]] = {}
        self.worker_tids: set[int] = set()
        self.lines = 0
        self.libbase = (
            0x7F0000000000 | (rng.randrange(0x80, 0xFF) << 32) | (rng.randrange(4096) << 20)
        )
        self.heap_base = 0x55A000000000 + rng.randrange(0x1000, 0xFFFF) * 0x1000000
        self.mmap_next = self.libbase - 0x10000000
        self.conn_port = 40000
        self.gzip_runs = 0
        self.think = 50.0  # scales user-space time between calls (sets the overlap of threads)
        self.stack_addr = 0x7FFC00000000 + rng.randrange(0x3FFFFFF) * 0x10
        self.fired: set[object] = set()

    # -- helpers used by task generators ------------------------------------------
    def mono(self, t: int) -> int:
        return t - self.start_us + self.mono_base

    def realtime_ts(self, t: int) -> str:
        s, us = divmod(t, 1_000_000)
        return f"{{tv_sec={self.epoch_base + s}, tv_nsec={us * 1000}}}"

    def anon_addr(self, size: int) -> int:
        self.mmap_next -= (size + 0xFFF) & ~0xFFF
        if self.mmap_next < self.libbase - 0x4000000000:
            self.mmap_next = self.libbase - 0x10000000
        return self.mmap_next

    def fast(self) -> int:
        """Duration of a cheap syscall under strace, in microseconds."""
        return 3 + int(self.rng.expovariate(0.09))

    def gap(self, mean: float = 40.0) -> int:
        """User-space time between two calls of one thread (scaled by ``think``)."""
        return 2 + int(self.rng.expovariate(1.0 / (mean * self.think)))

    def qgap(self, mean: float = 40.0) -> int:
        """Gap in straight-line startup/teardown code (loader, thread start): not scaled."""
        return 2 + int(self.rng.expovariate(1.0 / mean))

    # -- scheduler ------------------------------------------------------------------
    def start_task(self, tid: int, items: Iterable[Item], t: int) -> None:
        it = iter(items)
        self.tasks[tid] = it
        self.now = t
        item = next(it)
        self.seq += 1
        heapq.heappush(self.heap, (t + item[1], self.seq, tid, False, item))

    def release(self, key: object, t: int) -> None:
        """Unblock the task waiting on ``key``: its blocked call returns shortly after t."""
        w = self.waiters.pop(key, None)
        if w is None:
            self.fired.add(key)
            return
        tid, entry_t, item = w
        te = t + 15 + self.rng.randrange(40)
        item = (*item[:6], te - entry_t, *item[7:])
        self.seq += 1
        heapq.heappush(self.heap, (te, self.seq, tid, True, item))

    def run(self, out: TextIO) -> None:
        heap = self.heap
        heappush = heapq.heappush
        heappop = heapq.heappop
        tasks = self.tasks
        prefixes: dict[int, str] = {}
        buf: list[str] = []
        last_sec = -1
        hms = ""
        stop_at = self.target_lines - (8 * self.nthreads + 40)

        def fetch(tid: int, t: int) -> None:
            self.now = t
            try:
                item = next(tasks[tid])
            except StopIteration:
                return
            self.seq += 1
            heappush(heap, (t + item[1], self.seq, tid, False, item))

        while heap:
            t, _, tid, is_exit, item = heappop(heap)
            prefix = prefixes.get(tid)
            if prefix is None:
                prefix = prefixes[tid] = f"{tid:<5} "
            sec = t // 1_000_000
            if sec != last_sec:
                last_sec = sec
                s = sec % 86400
                hms = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}."
            lead = f"{prefix}{hms}{t % 1_000_000:06d} "
            if is_exit:
                _, _, name, _, xa, ret, dur, show_t, _, _ = item
                head = f"{lead}<... {name} resumed>{xa})"
                pad = COLUMN - len(head)
                tail = (
                    f"= {ret} <{dur // 1_000_000}.{dur % 1_000_000:06d}>" if show_t else f"= {ret}"
                )
                buf.append(f"{head}{' ' * pad if pad > 0 else ' '}{tail}")
                self.lines += 1
                fetch(tid, t)
            else:
                kind = item[0]
                if kind == CALL:
                    _, _, name, ea, xa, ret, dur, show_t, spawn, wait_key = item
                    if spawn is not None:
                        ctid, citems, delay = spawn
                        saved = self.now
                        self.start_task(ctid, citems, t + delay)
                        self.now = saved
                    if dur < 0 and wait_key in self.fired:
                        dur = 15 + self.rng.randrange(40)
                        item = (*item[:6], dur, *item[7:])
                    if dur < 0:
                        buf.append(f"{lead}{name}({ea} <unfinished ...>")
                        self.lines += 1
                        self.waiters[wait_key] = (tid, t, item)
                    else:
                        te = t + dur
                        if not heap or te < heap[0][0]:
                            head = f"{lead}{name}({ea}{xa})"
                            pad = COLUMN - len(head)
                            sep = " " * pad if pad > 0 else " "
                            if show_t:
                                tail = f"= {ret} <{dur // 1_000_000}.{dur % 1_000_000:06d}>"
                            else:
                                tail = f"= {ret}"
                            buf.append(f"{head}{sep}{tail}")
                            self.lines += 1
                            fetch(tid, te)
                        else:
                            buf.append(f"{lead}{name}({ea} <unfinished ...>")
                            self.lines += 1
                            self.seq += 1
                            heappush(heap, (te, self.seq, tid, True, item))
                elif kind == SIGNAL:
                    buf.append(f"{lead}{item[2]}")
                    self.lines += 1
                    fetch(tid, t)
                else:  # EXIT
                    buf.append(f"{lead}{item[2]}")
                    self.lines += 1
                    del tasks[tid]
                    self.release(("pid", tid), t)
                    if tid in self.worker_tids:
                        self.live_workers -= 1
                        if self.live_workers == 0:
                            self.release("all-workers", t)
            if len(buf) >= 8192:
                out.write("\n".join(buf))
                out.write("\n")
                buf.clear()
                if not self.stopping and self.lines >= stop_at:
                    self.stopping = True
            elif not self.stopping and self.lines >= stop_at:
                self.stopping = True
        if buf:
            out.write("\n".join(buf))
            out.write("\n")


def C(
    gap: int,
    name: str,
    ea: str,
    xa: str,
    ret: object,
    dur: int,
    show_t: bool = True,
    spawn: object = None,
    wait_key: object = None,
) -> Item:
    """A syscall item (see the comment at the top of the module)."""
    return (CALL, gap, name, ea, xa, str(ret), dur, show_t, spawn, wait_key)


EAGAIN = "-1 EAGAIN (Resource temporarily unavailable)"
ENOENT = "-1 ENOENT (No such file or directory)"
ETIMEDOUT = "-1 ETIMEDOUT (Connection timed out)"
EINTR = "-1 EINTR (Interrupted system call)"

CLONE_FLAGS = (
    "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
    "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"
)
FUTEX_WAIT_BS = "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME"

# ----------------------------------------------------------------------- payloads
HTTP_PATHS = [
    "/api/v1/objects/{:06x}",
    "/api/v1/users/{}/profile",
    "/static/img/{:04x}.png",
    "/api/v2/search?q=item{}&limit=50",
    "/healthz",
    "/api/v1/orders/{}",
]


def _payloads(rng: random.Random) -> dict[str, list[str]]:
    """Pre-quoted buffers (first 32 bytes as strace shows them)."""
    p: dict[str, list[str]] = {"req": [], "resp": [], "file": [], "log": [], "up_req": []}
    for i in range(64):
        path = HTTP_PATHS[i % len(HTTP_PATHS)].format(rng.randrange(1, 1 << 20))
        meth = "GET" if i % 5 else "POST"
        p["req"].append(quote(f"{meth} {path} HTTP/1.1\r\nHost: api.internal\r\n".encode(), 64))
    for status in ("200 OK", "200 OK", "200 OK", "304 Not Modified", "404 Not Found"):
        p["resp"].append(quote(f"HTTP/1.1 {status}\r\nContent-Type: a".encode(), 64))
    heads = [
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x04\0\0\0\x03\0\x08\x06\0\0\0\xfb\xfc\xa1\x12",
        b'{"id": 123, "name": "widget", "tags": ["a", "b"]}',
        b"\x1f\x8b\x08\0\0\0\0\0\0\x03\xed\xbdYs\xdbH\x92.\xfa\xbc\xf3+\x10\x1e\x8b\x99\xe4",
        b"SQLite format 3\0\x10\0\x01\x01\0@  \0\0\x0b\x17\0\0\0\x2a\0\0\0\0",
        b"id,name,price,qty\n1,widget,9.99,3\n2,gadget,19.5,1\n",
        b"\0\0\0\0\0\0\0\0\x01\0\0\0\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0",
    ]
    for h in heads:
        p["file"].append(quote(h, 4096))
    for lvl, msg in (("INFO", "GET /api/v1/objects"), ("WARN", "slow upstream"), ("INFO", "POST")):
        p["log"].append(quote(f"2025-11-26T09:14:07Z {lvl} {msg} id=1".encode(), 100))
    for key in ("GET obj:", "HGETALL user:", "INCR req:count"):
        p["up_req"].append(quote(f"*2\r\n$3\r\n{key}\r\n$8\r\nab12cd34\r\n".encode(), 40))
    return p


# ------------------------------------------------------------------------ tasks
class Worker:
    """Per-thread constants of one thread."""

    def __init__(self, sim: Simulation, tid: int, index: int) -> None:
        self.tid = tid
        self.index = index
        self.stack = sim.anon_addr(8392704)
        self.tls = self.stack + 0x7FF6C0
        self.cond = sim.heap_base + 0xA5B000 + 0x48 * index
        self.upfd = -1
        self.slow = False


def loader_prologue(sim: Simulation, argv0: str, argv: str, nvars: int) -> Iterator[Item]:
    """execve and dynamic-loader calls at the start of a process (fd table starts empty)."""
    rng = sim.rng
    lb = sim.libbase + rng.randrange(0x100) * 0x1000
    g = sim.qgap
    f = sim.fast
    envp = 0x7FFC00000000 + rng.randrange(0x10000000) * 0x10
    yield C(0, "execve", f'"{argv0}", {argv}, 0x{envp:x} /* {nvars} vars */', "", 0, 300)
    brk0 = sim.heap_base + 0x2D26000 + rng.randrange(0x100) * 0x1000
    yield C(g(80), "brk", "NULL", "", f"0x{brk0:x}", f())
    yield C(
        g(),
        "mmap",
        "NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0",
        "",
        f"0x{lb + 0x2C5D000:x}",
        f(),
    )
    yield C(g(), "access", '"/etc/ld.so.preload", R_OK', "", ENOENT, f())
    yield C(g(), "openat", 'AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC', "", 3, f())
    yield C(
        g(),
        "newfstatat",
        '3, "", ',
        "{st_mode=S_IFREG|0644, st_size=34547, ...}, AT_EMPTY_PATH",
        0,
        f(),
    )
    yield C(
        g(), "mmap", "NULL, 34547, PROT_READ, MAP_PRIVATE, 3, 0", "", f"0x{lb + 0x2C54000:x}", f()
    )
    yield C(g(), "close", "3", "", 0, f())
    elf = quote(
        b"\x7fELF\x02\x01\x01\x03" + b"\0" * 8 + b"\x03\0>\0\x01\0\0\0\x20t\x02\0" + b"\0" * 4, 832
    )
    yield C(
        g(), "openat", 'AT_FDCWD, "/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC', "", 3, f()
    )
    yield C(g(), "read", "3, ", f"{elf}, 832", 832, f())
    yield C(
        g(),
        "newfstatat",
        '3, "", ',
        "{st_mode=S_IFREG|0755, st_size=1926232, ...}, AT_EMPTY_PATH",
        0,
        f(),
    )
    base = lb + 0x2948000
    yield C(
        g(),
        "mmap",
        "NULL, 1974096, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0",
        "",
        f"0x{base:x}",
        f(),
    )
    for off, size, prot, foff in (
        (0x26000, 1400832, "PROT_READ|PROT_EXEC", 0x26000),
        (0x17C000, 339968, "PROT_READ", 0x17C000),
        (0x1CF000, 24576, "PROT_READ|PROT_WRITE", 0x1CF000),
    ):
        a = f"0x{base + off:x}"
        yield C(
            g(),
            "mmap",
            f"{a}, {size}, {prot}, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x{foff:x}",
            "",
            a,
            f(),
        )
    yield C(g(), "close", "3", "", 0, f())
    yield C(g(), "arch_prctl", f"ARCH_SET_FS, 0x{base - 0x1FC0:x}", "", 0, f())
    yield C(g(), "set_tid_address", f"0x{base - 0x1CF0:x}", "", "TID", f())
    yield C(g(), "set_robust_list", f"0x{base - 0x1CE0:x}, 24", "", 0, f())
    yield C(g(), "rseq", f"0x{base - 0x16A0:x}, 0x20, 0, 0x53053053", "", 0, f())
    yield C(g(), "mprotect", f"0x{base + 0x1CF000:x}, 16384, PROT_READ", "", 0, f())
    yield C(
        g(),
        "prlimit64",
        "0, RLIMIT_STACK, NULL, ",
        "{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}",
        0,
        f(),
    )
    rnd = quote(bytes(rng.randrange(256) for _ in range(8)))
    yield C(g(), "getrandom", f"{rnd}, 8, GRND_NONBLOCK", "", 8, f())
    yield C(g(), "brk", "NULL", "", f"0x{brk0:x}", f())
    yield C(g(), "brk", f"0x{brk0 + 0x21000:x}", "", f"0x{brk0 + 0x21000:x}", f())


def main_task(sim: Simulation, workers: list[Worker], pl: dict[str, list[str]]) -> Iterator[Item]:
    rng = sim.rng
    g = sim.qgap  # start-up code runs straight through
    f = sim.fast
    tid = sim.pid
    for item in loader_prologue(
        sim, "/usr/local/bin/appsrv", '["appsrv", "--config", "/etc/appsrv/appsrv.conf"]', 27
    ):
        if item[5] == "TID":
            item = (*item[:5], str(tid), *item[6:])
        yield item
    fds = sim.fds
    conf = quote(b"# appsrv configuration\nlisten = 0.0.0.0:8080\nworkers = 30\n", 1187)
    yield C(g(200), "openat", 'AT_FDCWD, "/etc/appsrv/appsrv.conf", O_RDONLY|O_CLOEXEC', "", 3, f())
    yield C(
        g(),
        "newfstatat",
        '3, "", ',
        "{st_mode=S_IFREG|0644, st_size=1187, ...}, AT_EMPTY_PATH",
        0,
        f(),
    )
    yield C(g(), "read", "3, ", f"{conf}, 4096", 1187, f())
    yield C(g(), "read", "3, ", '"", 2909', 0, f())
    yield C(g(), "close", "3", "", 0, f())
    yield C(
        g(),
        "openat",
        'AT_FDCWD, "/etc/appsrv/conf.d/override.conf", O_RDONLY|O_CLOEXEC',
        "",
        ENOENT,
        f(),
    )
    lfd = fds.alloc(sim.now)  # 3
    yield C(
        g(), "socket", "AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP", "", lfd, f()
    )
    yield C(g(), "setsockopt", f"{lfd}, SOL_SOCKET, SO_REUSEADDR, [1], 4", "", 0, f())
    yield C(
        g(),
        "bind",
        f'{lfd}, {{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("0.0.0.0")}}, 16',
        "",
        0,
        f(),
    )
    yield C(g(), "listen", f"{lfd}, 4096", "", 0, f())
    efd = fds.alloc(sim.now)  # 4
    yield C(g(), "epoll_create1", "EPOLL_CLOEXEC", "", efd, f())
    yield C(
        g(),
        "epoll_ctl",
        f"{efd}, EPOLL_CTL_ADD, {lfd}, {{events=EPOLLIN, data={{u32={lfd}, u64={lfd}}}}}",
        "",
        0,
        f(),
    )
    logfd = fds.alloc(sim.now)  # 5
    yield C(
        g(),
        "openat",
        'AT_FDCWD, "/var/log/appsrv/appsrv.log", O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0640',
        "",
        logfd,
        f(),
    )
    yield C(g(), "lseek", f"{logfd}, 0, SEEK_END", "", 18734592, f())

    # ---- thread creation
    roles = {1: "logger", 2: "timer"}
    for w in workers:
        role = roles.get(w.index, "worker")
        yield C(
            g(60),
            "mmap",
            "NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0",
            "",
            f"0x{w.stack:x}",
            f(),
        )
        yield C(
            g(), "mprotect", f"0x{w.stack + 0x1000:x}, 8388608, PROT_READ|PROT_WRITE", "", 0, f()
        )
        yield C(g(), "rt_sigprocmask", "SIG_BLOCK, ~[], ", "[], 8", 0, f())
        ctid = w.tls + 0x2D0
        args = (
            f"{{flags={CLONE_FLAGS}, child_tid=0x{ctid:x}, parent_tid=0x{ctid:x}, exit_signal=0, "
            f"stack=0x{w.stack:x}, stack_size=0x7fff80, tls=0x{w.tls:x}}}"
        )
        if role == "logger":
            body = logger_task(sim, w, logfd, pl)
        elif role == "timer":
            body = timer_task(sim, w)
        else:
            body = worker_task(sim, w, pl)
            sim.worker_tids.add(w.tid)
        if role != "worker":
            sim.worker_tids.add(w.tid)
        sim.live_workers += 1
        dur = 70 + rng.randrange(60)
        yield C(
            g(),
            "clone3",
            args,
            f" => {{parent_tid=[{w.tid}]}}, 88",
            w.tid,
            dur,
            spawn=(w.tid, body, dur - 20 - rng.randrange(20)),
        )
        yield C(g(), "rt_sigprocmask", "SIG_SETMASK, [], ", "NULL, 8", 0, f())

    # ---- event loop
    g = sim.gap
    spawn_at = [sim.target_lines // 3, (2 * sim.target_lines) // 3]
    target_conns = 3 * len(workers)
    conn_addr: dict[int, str] = {}
    while not sim.stopping:
        if spawn_at and sim.lines >= spawn_at[0]:
            spawn_at.pop(0)
            yield from spawn_gzip(sim, efd)
            continue
        n_idle = len(sim.pool)
        want_accept = n_idle + sim.busy < target_conns and rng.random() < 0.5
        if want_accept:
            evs = [lfd]
        else:
            k = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
            evs = [fd for _, fd in islice(sim.pool, k)] or [lfd]
        evtxt = ", ".join(f"{{events=EPOLLIN, data={{u32={fd}, u64={fd}}}}}" for fd in evs)
        wait = 20 + int(rng.expovariate(1 / (500.0 * sim.think)))
        yield C(g(150), "epoll_wait", f"{efd}, ", f"[{evtxt}], 1024, 1000", len(evs), wait)
        if want_accept:
            for _ in range(1 + (rng.random() < 0.2)):
                fd = fds.alloc(sim.now)
                sim.conn_port = 32768 + (sim.conn_port * 7 + 13) % 28000
                peer = f"10.1.{rng.randrange(4)}.{rng.randrange(2, 250)}"
                sa = (
                    f"{{sa_family=AF_INET, sin_port=htons({sim.conn_port}), "
                    f'sin_addr=inet_addr("{peer}")}}'
                )
                gp, d = g(), f() + 5
                yield C(gp, "accept4", f"{lfd}, ", f"{sa}, [16], SOCK_CLOEXEC|SOCK_NONBLOCK", fd, d)
                conn_addr[fd] = peer
                ev = f"{{events=EPOLLIN|EPOLLRDHUP|EPOLLET, data={{u32={fd}, u64={fd}}}}}"
                gp, d = g(), f()
                yield C(gp, "epoll_ctl", f"{efd}, EPOLL_CTL_ADD, {fd}, {ev}", "", 0, d)
                sim.pool.append((sim.now + gp + d, fd))
            sa = f"0x{sim.stack_addr + 0x130:x}, [16], SOCK_CLOEXEC|SOCK_NONBLOCK"
            yield C(g(), "accept4", f"{lfd}, ", sa, EAGAIN, f())
        else:
            for _ in evs:
                w = workers[rng.randrange(2, len(workers))] if len(workers) > 2 else workers[0]
                woke = 1 if rng.random() < 0.8 else 0
                yield C(g(), "futex", f"0x{w.cond:x}, FUTEX_WAKE_PRIVATE, 1", "", woke, f())

    # ---- shutdown: stop listening, wake everybody, join
    yield C(g(), "epoll_ctl", f"{efd}, EPOLL_CTL_DEL, {lfd}, NULL", "", 0, f())
    yield C(g(), "close", str(lfd), "", 0, f())
    bcast = sim.heap_base + 0xA5B800
    yield C(
        g(), "futex", f"0x{bcast:x}, FUTEX_WAKE_PRIVATE, 2147483647", "", len(workers), f() + 20
    )
    w0 = workers[-1]
    yield C(
        g(),
        "futex",
        f"0x{w0.tls + 0x2D0:x}, {FUTEX_WAIT_BS}, {w0.tid}, NULL, FUTEX_BITSET_MATCH_ANY",
        "",
        0,
        -1,
        wait_key="all-workers",
    )
    yield C(g(), "close", str(efd), "", 0, f())
    yield C(g(), "fsync", str(logfd), "", 0, 20000 + rng.randrange(20000))
    yield C(g(), "close", str(logfd), "", 0, f())
    yield C(g(), "munmap", f"0x{sim.libbase + 0x2789000:x}, 16384", "", 0, f())
    yield C(g(), "exit_group", "0", "", "?", 40, show_t=False)
    yield (EXIT, 50 + rng.randrange(300), "+++ exited with 0 +++", "", "", "", 0, False, None, None)


def spawn_gzip(sim: Simulation, efd: int) -> Iterator[Item]:
    """posix_spawn a gzip child; its exit interrupts epoll_wait and delivers SIGCHLD."""
    rng = sim.rng
    g = sim.qgap
    f = sim.fast
    cpid = sim.next_tid + 50 + sim.gzip_runs * 7
    sim.gzip_runs += 1
    log = "/var/log/appsrv/access.log.1"
    child: list[Item] = [
        C(0, "rt_sigprocmask", "SIG_SETMASK, [], ", "NULL, 8", 0, f()),
    ]
    exec_gap, exec_dur = 20, 250 + rng.randrange(200)
    vars_ = 0x7FFD00000000 + rng.randrange(0x1000000) * 0x10
    child.append(
        C(
            exec_gap,
            "execve",
            f'"/usr/bin/gzip", ["gzip", "-9", "{log}"], 0x{vars_:x} /* 27 vars */',
            "",
            0,
            exec_dur,
        )
    )
    pre = list(loader_prologue(sim, "/usr/bin/gzip", "[]", 0))[1:]  # drop its execve
    for item in pre:
        if item[5] == "TID":
            item = (*item[:5], str(cpid), *item[6:])
        child.append(item)
    st = "{st_mode=S_IFREG|0640, st_size=4718592, ...}"
    child += [
        C(g(), "openat", f'AT_FDCWD, "{log}", O_RDONLY|O_NOCTTY|O_NONBLOCK|O_NOFOLLOW', "", 3, f()),
        C(g(), "newfstatat", '3, "", ', f"{st}, AT_EMPTY_PATH", 0, f()),
        C(g(), "openat", f'AT_FDCWD, "{log}.gz", O_WRONLY|O_CREAT|O_EXCL, 0600', "", 4, f()),
    ]
    text = quote(b'10.1.2.17 - - [26/Nov/2025:09:14:07 +0000] "GET /', 65536)
    gz = quote(b"\x1f\x8b\x08\x08\x8f\xc3\x26\x69\x02\x03access.log.1\0\xed\xbdYs", 16384)
    for _ in range(4):
        child.append(C(g(300), "read", "3, ", f"{text}, 65536", 65536, 40 + rng.randrange(60)))
        child.append(C(g(), "write", f"4, {gz}, 16384", "", 16384, 20 + rng.randrange(30)))
    child += [
        C(g(), "read", "3, ", '"", 65536', 0, f()),
        C(g(), "close", "3", "", 0, f()),
        C(g(), "close", "4", "", 0, f()),
        C(g(), "unlink", f'"{log}"', "", 0, 30 + rng.randrange(40)),
        C(g(), "exit_group", "0", "", "?", 60, show_t=False),
        (EXIT, 100 + rng.randrange(200), "+++ exited with 0 +++", "", "", "", 0, False, None, None),
    ]
    sp = sim.anon_addr(0x9000)
    delay = 30
    # vfork semantics: the parent's clone3 returns after the child's execve returned
    cdur = delay + child[0][6] + exec_gap + exec_dur + 25
    flags = "CLONE_VM|CLONE_VFORK|CLONE_CLEAR_SIGHAND"
    yield C(
        g(),
        "clone3",
        f"{{flags={flags}, exit_signal=SIGCHLD, stack=0x{sp:x}, stack_size=0x9000}}",
        ", 88",
        cpid,
        cdur,
        spawn=(cpid, child, delay),
    )
    yield C(g(), "munmap", f"0x{sp:x}, 36864", "", 0, f())
    # the loop goes back to epoll_wait, which the SIGCHLD interrupts
    evbuf = f"0x{sim.stack_addr + 0x40:x}, 1024, 1000"
    yield C(g(), "epoll_wait", f"{efd}, ", evbuf, EINTR, -1, wait_key=("pid", cpid))
    yield (
        SIGNAL,
        5 + rng.randrange(10),
        f"--- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid={cpid}, si_uid=1000, "
        "si_status=0, si_utime=0, si_stime=0} ---",
        "",
        "",
        "",
        0,
        False,
        None,
        None,
    )
    yield C(g(20), "rt_sigreturn", "{mask=[]}", "", EINTR, f())
    yield C(
        g(),
        "wait4",
        f"{cpid}, ",
        "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], WNOHANG, NULL",
        cpid,
        f(),
    )
    st = f"0x{sim.stack_addr + 0x2C:x}, WNOHANG, NULL"
    yield C(g(), "wait4", "-1, ", st, "-1 ECHILD (No child processes)", f())


def thread_start(sim: Simulation, w: Worker) -> Iterator[Item]:
    f = sim.fast
    g = sim.qgap
    yield C(5, "rseq", f"0x{w.tls + 0x920:x}, 0x20, 0, 0x53053053", "", 0, f())
    yield C(g(20), "set_robust_list", f"0x{w.tls + 0x2E0:x}, 24", "", 0, f())
    yield C(g(20), "rt_sigprocmask", "SIG_SETMASK, [], ", "NULL, 8", 0, f())
    arena = sim.anon_addr(134217728)
    yield C(
        g(),
        "mmap",
        "NULL, 134217728, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0",
        "",
        f"0x{arena:x}",
        f(),
    )
    yield C(g(), "munmap", f"0x{arena + 0x4000000:x}, 67108864", "", 0, f())
    yield C(g(), "mprotect", f"0x{arena:x}, 135168, PROT_READ|PROT_WRITE", "", 0, f())
    yield C(g(), "gettid", "", "", w.tid, f())


def thread_end(sim: Simulation, w: Worker) -> Iterator[Item]:
    f = sim.fast
    g = sim.qgap
    rng = sim.rng
    yield C(g(), "rt_sigprocmask", "SIG_BLOCK, ~[RT_1], ", "NULL, 8", 0, f())
    yield C(g(), "madvise", f"0x{w.stack:x}, 8368128, MADV_DONTNEED", "", 0, f() + 30)
    yield C(g(), "exit", "0", "", "?", 30 + rng.randrange(60), show_t=False)
    yield (EXIT, 20 + rng.randrange(80), "+++ exited with 0 +++", "", "", "", 0, False, None, None)


def idle_wait(sim: Simulation, w: Worker, mean: float) -> Item:
    rng = sim.rng
    r = rng.random()
    if r < 0.06:  # timed wait that runs out
        dur = 100_000 + rng.randrange(2000)
        deadline = sim.realtime_ts(sim.now + dur)
        return C(
            sim.gap(),
            "futex",
            f"0x{w.cond:x}, {FUTEX_WAIT_BS}, 0, {deadline}, FUTEX_BITSET_MATCH_ANY",
            "",
            ETIMEDOUT,
            dur,
        )
    if r < 0.12:  # value changed before sleeping
        return C(
            sim.gap(),
            "futex",
            f"0x{w.cond:x}, {FUTEX_WAIT_BS}, 0, NULL, FUTEX_BITSET_MATCH_ANY",
            "",
            EAGAIN,
            sim.fast(),
        )
    dur = 20 + int(rng.expovariate(1.0 / (mean * sim.think)))
    return C(
        sim.gap(),
        "futex",
        f"0x{w.cond:x}, {FUTEX_WAIT_BS}, 0, NULL, FUTEX_BITSET_MATCH_ANY",
        "",
        0,
        dur,
    )


def worker_task(sim: Simulation, w: Worker, pl: dict[str, list[str]]) -> Iterator[Item]:
    rng = sim.rng
    g = sim.gap
    f = sim.fast
    fds = sim.fds
    yield from thread_start(sim, w)
    w.slow = w.index % 10 == 7  # a few workers proxy to the slow peer
    up_ip, up_port = ("10.0.7.42", 8080) if w.slow else ("10.0.0.5", 6379)
    w.upfd = fds.alloc(sim.now)
    yield C(g(), "socket", "AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP", "", w.upfd, f())
    yield C(
        g(),
        "connect",
        f"{w.upfd}, {{sa_family=AF_INET, sin_port=htons({up_port}), "
        f'sin_addr=inet_addr("{up_ip}")}}, 16',
        "",
        0,
        60 + rng.randrange(200),
    )
    mutex = sim.heap_base + 0xA5B8F8
    reqs, resps, files, upreqs = pl["req"], pl["resp"], pl["file"], pl["up_req"]
    bufaddr = sim.anon_addr(65536)
    while not sim.stopping:
        pool = sim.pool
        if not pool or pool[0][0] >= sim.now:
            yield idle_wait(sim, w, 6000.0)
            continue
        _, cfd = pool.popleft()
        sim.busy += 1
        # -- read the request (edge-triggered: sometimes nothing yet)
        if rng.random() < 0.1:
            yield C(
                g(), "recvfrom", f"{cfd}, ", f"0x{bufaddr:x}, 65536, 0, NULL, NULL", EAGAIN, f()
            )
        n = 180 + rng.randrange(700)
        yield C(g(), "recvfrom", f"{cfd}, ", f"{rng.choice(reqs)}, 65536, 0, NULL, NULL", n, f())
        # -- mutex contention on the shared cache
        if rng.random() < 0.3:
            if rng.random() < 0.5:
                res = EAGAIN
                d = f()
            else:
                res, d = 0, 20 + int(rng.expovariate(1 / 300.0))
            yield C(g(), "futex", f"0x{mutex:x}, FUTEX_WAIT_PRIVATE, 2, NULL", "", res, d)
            yield C(g(), "futex", f"0x{mutex:x}, FUTEX_WAKE_PRIVATE, 1", "", rng.randrange(2), f())
        status = 0
        r = rng.random()
        if r < 0.65:
            # -- serve a file
            path = f"/srv/data/objects/{rng.randrange(256):02x}/{rng.randrange(1 << 24):06x}.bin"
            size = 512 + int(rng.expovariate(1 / 60000.0))
            if rng.random() < 0.06:
                yield C(
                    g(), "newfstatat", f'AT_FDCWD, "{path}", ', "0x7f8a4bffe9a0, 0", ENOENT, f()
                )
                status = 2
            else:
                st = f"{{st_mode=S_IFREG|0644, st_size={size}, ...}}"
                yield C(g(), "newfstatat", f'AT_FDCWD, "{path}", ', f"{st}, 0", 0, f())
                ffd = fds.alloc(sim.now)
                yield C(g(), "openat", f'AT_FDCWD, "{path}", O_RDONLY|O_CLOEXEC', "", ffd, f() + 5)
                yield C(g(), "newfstatat", f'{ffd}, "", ', f"{st}, AT_EMPTY_PATH", 0, f())
                if size > 200_000 and rng.random() < 0.5:
                    a = sim.anon_addr(size)
                    yield C(
                        g(),
                        "mmap",
                        f"NULL, {size}, PROT_READ, MAP_PRIVATE, {ffd}, 0",
                        "",
                        f"0x{a:x}",
                        f() + 10,
                    )
                    yield C(g(), "madvise", f"0x{a:x}, {size}, MADV_SEQUENTIAL", "", 0, f())
                    yield C(g(), "close", str(ffd), "", 0, f())
                    fds.release(ffd, sim.now)
                    yield C(
                        g(),
                        "sendto",
                        f"{cfd}, {rng.choice(resps)}, {size}, MSG_NOSIGNAL, NULL, 0",
                        "",
                        size,
                        50 + rng.randrange(400),
                    )
                    yield C(g(), "munmap", f"0x{a:x}, {size}", "", 0, f() + 10)
                    status = 1
                else:
                    off = 0
                    if rng.random() < 0.3:
                        off = rng.randrange(size) & ~0xFFF
                        yield C(g(), "lseek", f"{ffd}, {off}, SEEK_SET", "", off, f())
                    left = size - off
                    while left > 0:
                        n = min(left, 65536)
                        big = n > 8192
                        d = f() + (int(rng.expovariate(1 / 150.0)) if big else 0)
                        yield C(g(), "read", f"{ffd}, ", f"{rng.choice(files)}, 65536", n, d)
                        left -= n
                        if rng.random() < 0.2:
                            break
                    if left <= 0 and rng.random() < 0.5:
                        yield C(g(), "read", f"{ffd}, ", '"", 65536', 0, f())
                    yield C(g(), "close", str(ffd), "", 0, f())
                    fds.release(ffd, sim.now)
        elif r < 0.95:
            # -- ask the upstream
            q = rng.choice(upreqs)
            yield C(g(), "sendto", f"{w.upfd}, {q}, 40, MSG_NOSIGNAL, NULL, 0", "", 40, f() + 10)
            if w.slow and rng.random() < 0.3:
                d = 100_000 + rng.randrange(400_000)
                body = quote(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", 1372)
                yield C(g(), "read", f"{w.upfd}, ", f"{body}, 8192", 1372, d)
            else:
                d = 150 + int(rng.expovariate(1 / 900.0))
                yield C(
                    g(),
                    "recvfrom",
                    f"{w.upfd}, ",
                    '"$8\\r\\nab12cd34\\r\\n", 16384, 0, NULL, NULL',
                    14,
                    d,
                )
        # -- respond
        if status != 1:
            n = 200 + rng.randrange(3000)
            resp = resps[-1] if status == 2 else rng.choice(resps[:4])
            if rng.random() < 0.04:
                yield C(
                    g(), "sendto", f"{cfd}, {resp}, {n}, MSG_NOSIGNAL, NULL, 0", "", EAGAIN, f()
                )
                yield C(
                    g(),
                    "futex",
                    f"0x{w.cond:x}, {FUTEX_WAIT_BS}, 0, NULL, FUTEX_BITSET_MATCH_ANY",
                    "",
                    0,
                    200 + rng.randrange(3000),
                )
            yield C(g(), "sendto", f"{cfd}, {resp}, {n}, MSG_NOSIGNAL, NULL, 0", "", n, f() + 8)
        if rng.random() < 0.5:
            logger = sim.heap_base + 0xA5B000 + 0x48
            yield C(g(), "futex", f"0x{logger:x}, FUTEX_WAKE_PRIVATE, 1", "", rng.randrange(2), f())
        sim.busy -= 1
        if rng.random() < 0.12:
            yield C(g(), "close", str(cfd), "", 0, f())
            fds.release(cfd, sim.now)
        else:
            pool.append((sim.now + int((300 + rng.randrange(20000)) * sim.think), cfd))
    # shutdown
    yield C(g(), "close", str(w.upfd), "", 0, f())
    fds.release(w.upfd, sim.now)
    yield from thread_end(sim, w)


def logger_task(sim: Simulation, w: Worker, logfd: int, pl: dict[str, list[str]]) -> Iterator[Item]:
    rng = sim.rng
    g = sim.gap
    f = sim.fast
    yield from thread_start(sim, w)
    last_sync = sim.now
    logs = pl["log"]
    while not sim.stopping:
        yield idle_wait(sim, w, 2500.0)
        for _ in range(1 + rng.randrange(4)):
            n = 90 + rng.randrange(120)
            yield C(g(), "write", f"{logfd}, {rng.choice(logs)}, {n}", "", n, f() + 5)
        if sim.now - last_sync > 1_000_000:
            yield C(g(), "fsync", str(logfd), "", 0, 40_000 + rng.randrange(20_000))
            last_sync = sim.now
    yield from thread_end(sim, w)


def timer_task(sim: Simulation, w: Worker) -> Iterator[Item]:
    rng = sim.rng
    g = sim.gap
    f = sim.fast
    fds = sim.fds
    yield from thread_start(sim, w)
    tick = 0
    deadline = sim.mono(sim.now) + 100_000
    while not sim.stopping:
        entry = sim.now + 10
        s, us = divmod(deadline, 1_000_000)
        dur = max(5, deadline - sim.mono(entry) + rng.randrange(80))
        yield C(
            10,
            "clock_nanosleep",
            f"CLOCK_MONOTONIC, TIMER_ABSTIME, {{tv_sec={s}, tv_nsec={us * 1000}}}, ",
            "NULL",
            0,
            dur,
        )
        deadline += 100_000
        tick += 1
        if tick % 10 == 0:
            tmp = "/var/lib/appsrv/metrics.json.tmp"
            mfd = fds.alloc(sim.now)
            yield C(
                g(),
                "openat",
                f'AT_FDCWD, "{tmp}", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644',
                "",
                mfd,
                f() + 10,
            )
            body = quote(b'{"requests": 1234567, "errors": 12, "p99_ms": 4.2}', 1843)
            yield C(g(), "write", f"{mfd}, {body}, 1843", "", 1843, f())
            yield C(g(), "close", str(mfd), "", 0, f())
            fds.release(mfd, sim.now)
            yield C(g(), "rename", f'"{tmp}", "/var/lib/appsrv/metrics.json"', "", 0, f() + 10)
    yield from thread_end(sim, w)


def generate(path: str, lines: int, threads: int, seed: int) -> int:
    """Write the trace to ``path``; return the number of lines written."""
    sim = Simulation(lines, threads, seed)
    pl = _payloads(sim.rng)
    workers = []
    for i in range(1, sim.nthreads):
        w = Worker(sim, sim.next_tid, i)
        sim.next_tid += 1 + (sim.rng.random() < 0.1)  # other tasks on the box take some ids
        workers.append(w)
    sim.start_task(sim.pid, main_task(sim, workers, pl), sim.start_us)
    with open(path, "w", encoding="ascii", buffering=1 << 20) as out:
        sim.run(out)
    return sim.lines


# --------------------------------------------------------------------------- check
_TS = r"\d\d:\d\d:\d\d\.\d{6}"
_RET = r"(?:-?\d+|0x[0-9a-f]+|\?)(?: E[A-Z]+ \([^()]*\))?(?: \([^()]*\))?"
LINE_RE = re.compile(
    rf"^(?P<pid>\d+) +(?P<ts>{_TS}) (?:"
    rf"(?P<unf>[a-z_0-9]+\(.* <unfinished \.\.\.>)"
    rf"|(?P<res><\.\.\. (?P<rname>[a-z_0-9]+) resumed>.*\)(?P<rpad> +)= {_RET}(?: <\d+\.\d{{6}}>)?)"
    rf"|(?P<sig>--- SIG[A-Z]+ \{{.*\}} ---)"
    rf"|(?P<exit>\+\+\+ exited with \d+ \+\+\+)"
    rf"|(?P<call>(?P<cname>[a-z_0-9]+)\(.*\)(?P<cpad> +)= {_RET}(?: <\d+\.\d{{6}}>)?)"
    r")$"
)


FD_FIRST_ARG = frozenset(
    (
        "read",
        "write",
        "recvfrom",
        "sendto",
        "lseek",
        "fsync",
        "close",
        "connect",
        "setsockopt",
        "bind",
        "listen",
        "accept4",
        "epoll_wait",
        "epoll_ctl",
        "newfstatat",
    )
)
FD_RETURNING = frozenset(("openat", "socket", "accept4", "epoll_create1"))


class _FdChecker:
    """Follows the fd table of every process: each fd used must have been returned before."""

    def __init__(self) -> None:
        self.proc: dict[str, str] = {}  # pid -> process id (thread group)
        self.fds: dict[str, set[int]] = {}

    def table(self, pid: str) -> set[int]:
        tg = self.proc.setdefault(pid, pid)
        return self.fds.setdefault(tg, {0, 1, 2})

    def call(self, pid: str, name: str, args: str, ret: str) -> str | None:
        """Account for one completed call; return an error message or None."""
        fds = self.table(pid)
        if name in FD_FIRST_ARG:
            first = args.split(",", 1)[0]
            if first.isdigit() and int(first) not in fds:
                return f"{name} on fd {first}, which is not open"
            if name == "epoll_ctl":
                fd = args.split(", ", 3)[2]
                if int(fd) not in fds:
                    return f"epoll_ctl on fd {fd}, which is not open"
        elif name == "mmap":
            fd = args.split(", ")[4]
            if fd != "-1" and int(fd) not in fds:
                return f"mmap of fd {fd}, which is not open"
        retval = ret.split(" ", 1)[0]
        if name in FD_RETURNING and retval.isdigit():
            if int(retval) in fds:
                return f"{name} returned fd {retval}, which is already open"
            fds.add(int(retval))
        elif name == "close" and retval == "0":
            fds.discard(int(args))
        elif name == "clone3" and retval.isdigit():
            self.proc[retval] = self.proc[pid] if "CLONE_THREAD" in args else retval
        return None


def check(path: str, verbose: bool = True, fd_check: bool = True) -> dict[str, float]:
    """Validate every line of ``path``; raise ValueError on the first problem, return stats.

    Checks: the line grammar (strace 6.1 ``-f -tt -T -o``), ``=`` alignment, monotonic time,
    per-task pairing of ``<unfinished ...>``/``<... resumed>`` (names match, exit time - ``-T``
    is not before the entry), nothing after ``+++ exited``, and a consistent fd table.
    """
    kinds = {"syscall": 0, "unfinished": 0, "resumed": 0, "signal": 0, "exit": 0}
    pending: dict[str, tuple[str, str, int]] = {}  # pid -> (name, args so far, entry time)
    exited: set[str] = set()
    fdc = _FdChecker()
    last = -1
    total_len = 0
    n = lineno = 0

    def fail(msg: str) -> ValueError:
        return ValueError(f"{path}:{lineno}: {msg}")

    with open(path, encoding="ascii") as fh:
        for lineno, line in enumerate(fh, 1):
            n = lineno
            line = line.rstrip("\n")
            total_len += len(line) + 1
            m = LINE_RE.match(line)
            if not m:
                raise fail(f"does not look like strace output: {line!r}")
            hh, mm, ss = m.group("ts").split(":")
            t = (int(hh) * 3600 + int(mm) * 60) * 1_000_000 + round(float(ss) * 1_000_000)
            if t < last:
                raise fail("timestamp goes backwards")
            last = t
            pid = m.group("pid")
            if pid in exited:
                raise fail(f"line for pid {pid} after it exited")
            group = "cpad" if m.group("cpad") else "rpad" if m.group("rpad") else None
            ret = ""
            dur = 0
            if group is not None:
                pad = m.group(group)
                head_len = m.start(group)
                want = COLUMN - head_len if head_len < COLUMN else 1
                if len(pad) != want:
                    raise fail(f"'=' not aligned like strace: {line!r}")
                ret = line[m.end(group) + 2 :]
                if ret.endswith(">"):
                    ret, _, d = ret.rpartition(" <")
                    dur = round(float(d[:-1]) * 1_000_000)
            err = None
            if m.group("unf"):
                kinds["unfinished"] += 1
                if pid in pending:
                    raise fail(f"second unfinished call for pid {pid}")
                name, _, args = m.group("unf")[: -len(" <unfinished ...>")].partition("(")
                pending[pid] = (name, args, t)
            elif m.group("res"):
                kinds["resumed"] += 1
                name, args, entry = pending.pop(pid, ("", "", 0))
                if name != m.group("rname"):
                    raise fail("resumed without a matching unfinished call")
                if dur and t - dur < entry:
                    raise fail("call would have started before its <unfinished ...> line")
                rest = line[line.index(" resumed>") + 9 : m.start("rpad") - 1]
                err = fdc.call(pid, name, args + rest, ret)
            elif m.group("call"):
                kinds["syscall"] += 1
                if pid in pending:
                    raise fail(f"complete call while {pid} is in a call")
                name = m.group("cname")
                args = line[m.start("cname") + len(name) + 1 : m.start("cpad") - 1]
                err = fdc.call(pid, name, args, ret)
            elif m.group("sig"):
                kinds["signal"] += 1
            else:
                kinds["exit"] += 1
                if pid in pending:
                    raise fail("exit while a call is unfinished")
                exited.add(pid)
            if err and fd_check:
                raise fail(err)
    if pending:
        raise ValueError(f"{path}: calls never resumed: {pending}")
    stats: dict[str, float] = {"lines": n, "bytes": total_len, "avg_len": total_len / max(n, 1)}
    for k, v in kinds.items():
        stats[f"pct_{k}"] = 100.0 * v / max(n, 1)
    if verbose:
        print(
            f"check OK: {n} lines, {total_len / 1e6:.1f} MB, "
            f"avg {stats['avg_len']:.1f} bytes/line; "
            + ", ".join(f"{k} {stats[f'pct_{k}']:.1f}%" for k in kinds),
            file=sys.stderr,
        )
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", help="output trace file")
    ap.add_argument("--lines", type=int, default=1_000_000, help="approximate line count")
    ap.add_argument("--threads", type=int, default=32, help="threads incl. the main thread")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="validate the file after writing it")
    ap.add_argument("--check-only", metavar="FILE", help="only validate FILE")
    ap.add_argument(
        "--no-fd-check",
        action="store_true",
        help="skip the fd-table check (for real logs, which use pipe2/dup/... fds)",
    )
    args = ap.parse_args(argv)
    if args.check_only:
        try:
            check(args.check_only, fd_check=not args.no_fd_check)
        except ValueError as e:
            print(f"check FAILED: {e}", file=sys.stderr)
            return 1
        return 0
    if not args.out:
        ap.error("OUT is required unless --check-only is given")
    t0 = time.perf_counter()
    n = generate(args.out, args.lines, args.threads, args.seed)
    dt = time.perf_counter() - t0
    print(f"wrote {n} lines to {args.out} in {dt:.2f} s ({n / dt:,.0f} lines/s)", file=sys.stderr)
    if args.check:
        try:
            check(args.out)
        except ValueError as e:
            print(f"check FAILED: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
