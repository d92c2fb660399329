"""Why an event loop was blocked: the catalogue of causes, their words and their fixes.

Shared by the passes that explain blocked loops (`blocked_loop`, `slow_callback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analyzer.derive.strace_families import (
    CHILD_WAITS,
    FLUSHES,
    LOOP_WAITS,
    PATH_CALLS,
    SLEEPS,
    SOCKET_CALLS,
    SOCKET_CLASSES,
    STDIO,
)


@dataclass(frozen=True)
class Cause:
    """Why an event loop was blocked: the words for it and the mitigation, for asyncio
    (`label`, `fix`), for Node.js (`node_fix`) and for any other event loop (`other_label`,
    `other_fix`: libuv, libevent, Netty, nginx ...)."""

    name: str
    label: str
    fix: str
    other_label: str
    other_fix: str
    node_fix: str

    def label_for(self, runtime: str | None) -> str:
        """The label for a loop in a process running `runtime` (see `process_runtime`;
        None, an unknown program, gets the asyncio words: iodiag's first audience)."""
        return self.label if runtime in (None, "python") else self.other_label

    def fix_for(self, runtime: str | None) -> str:
        if runtime in (None, "python"):
            return self.fix
        return self.node_fix if runtime == "node" else self.other_fix


_CAUSE_LIST: tuple[Cause, ...] = (
    Cause(
        "sleep",
        "time.sleep in a coroutine",
        "Replace time.sleep() in coroutines and callbacks with `await asyncio.sleep()`; a "
        "blocking sleep stops every other task on the loop.",
        "a blocking sleep on the loop thread",
        "A sleep on the event-loop thread stops every other event: use the loop's timers instead.",
        "A synchronous sleep blocks the event loop (Atomics.wait, child_process.execSync, a "
        "native addon): use `await setTimeout(ms)` from `timers/promises`.",
    ),
    Cause(
        "lock_retry",
        "retrying a file lock held by another process (SQLite busy) in a coroutine",
        "The loop retries a lock another process holds, sleeping between refused tries "
        "(SQLite's busy handler after SQLITE_BUSY: sqlite3_busy_timeout sleeps 1, 2, 5 ... "
        "100 ms): run the database call off the loop (`await asyncio.to_thread(...)`, or an "
        "async driver such as aiosqlite), keep the other process's transactions short, and "
        "use WAL mode (PRAGMA journal_mode=WAL) so that readers and a writer do not block each "
        "other.",
        "retrying a file lock held by another process",
        "The event-loop thread sleeps between refused tries of a lock another process holds: "
        "take the lock (or run the database call) on a worker thread, and keep the holder's "
        "critical sections short.",
        "The main thread sleeps between refused tries of a file lock (better-sqlite3 or "
        "another synchronous driver on SQLITE_BUSY): run the database in a worker_thread, keep "
        "the other process's transactions short, and use WAL mode.",
    ),
    Cause(
        "file_io",
        "blocking file I/O",
        "Move file I/O off the loop: `await asyncio.to_thread(...)` or "
        "`loop.run_in_executor(None, ...)` (or aiofiles), and read large files in chunks.",
        "blocking file I/O",
        "Move file I/O off the event-loop thread (a worker thread pool, or io_uring/AIO), "
        "and read large files in chunks.",
        "Replace fs.readFileSync and the other *Sync calls on the main thread with "
        "`fs.promises` or streams (which run on libuv's thread pool), and read large files "
        "as streams.",
    ),
    Cause(
        "dns",
        "synchronous DNS lookup",
        "Resolve names without blocking the loop: `await loop.getaddrinfo()` or aiodns, and "
        "cache the answers; socket.gethostbyname/getaddrinfo or a synchronous client that "
        "connects by name blocks the loop for the whole lookup.",
        "synchronous DNS lookup",
        "Resolve names asynchronously (c-ares, the runtime's async resolver) or on a worker "
        "thread, and cache the answers.",
        "A synchronous lookup runs on the main thread: use `dns.promises` (c-ares: "
        "`dns.promises.resolve`) and cache the answers.",
    ),
    Cause(
        "lock",
        "lock or GIL wait",
        "The loop waits on a lock: a threading.Lock, a queue.Queue.get, a "
        "concurrent.futures Future.result() called in a coroutine, or the GIL held by a "
        "CPU-busy thread. Await `asyncio.wrap_future`/`run_in_executor` results instead, use "
        "asyncio.Lock/asyncio.Queue on the loop, and move CPU-heavy threads to a "
        "ProcessPoolExecutor.",
        "lock wait",
        "The event-loop thread waits on a lock: never block the loop on a mutex, a blocking "
        "queue or a future's result; hand results back to the loop as events.",
        "The main thread waits on a lock (Atomics.wait, a native addon, a synchronous "
        "worker hand-off): post messages to and from worker_threads instead of waiting.",
    ),
    Cause(
        "disk_flush",
        "disk flush",
        "fsync on the loop waits for the disk: do the write and flush in a thread "
        "(`asyncio.to_thread`), batch flushes, or use a faster volume.",
        "disk flush",
        "fsync on the event-loop thread waits for the disk: flush on a worker thread, batch "
        "flushes, or use a faster volume.",
        "fs.fsyncSync on the main thread waits for the disk: use `filehandle.sync()` from "
        "`fs.promises`, batch flushes, or use a faster volume.",
    ),
    Cause(
        "socket_io",
        "blocking socket I/O",
        "A synchronous network client runs on the loop (requests, a blocking database "
        "driver, socket.recv): use an async client (aiohttp, httpx.AsyncClient, asyncpg, "
        "loop.sock_recv ...) or run it with `run_in_executor`, and set timeouts.",
        "blocking socket I/O",
        "A synchronous network call runs on the event-loop thread: use the loop's "
        "non-blocking sockets or a worker thread, and set timeouts.",
        "A synchronous network call runs on the main thread (a native addon, execSync of a "
        "client): use the async net/http APIs and set timeouts.",
    ),
    Cause(
        "pipe_io",
        "blocking pipe I/O",
        "The loop reads or writes a pipe synchronously (often subprocess.run or "
        "communicate()): use `asyncio.create_subprocess_exec` and await its streams.",
        "blocking pipe I/O",
        "The event-loop thread reads or writes a pipe synchronously: register the pipe with "
        "the loop (non-blocking) or use a worker thread.",
        "child_process.execSync/spawnSync or synchronous pipe I/O blocks the main thread: "
        "use the asynchronous `child_process.spawn`/`execFile` and read their streams.",
    ),
    Cause(
        "child_wait",
        "waiting for a child process",
        "The loop waits for a child process (subprocess.run, os.waitpid): use "
        "`asyncio.create_subprocess_exec` and `await proc.wait()`.",
        "waiting for a child process",
        "The event-loop thread waits for a child process: watch it through the loop "
        "(SIGCHLD, pidfd) instead of blocking in waitpid.",
        "spawnSync/execSync waits for the child on the main thread: use the asynchronous "
        "`child_process` API and its 'exit' event.",
    ),
    Cause(
        "subprocess",
        "a subprocess run synchronously",
        "The loop starts a child process and waits for it (subprocess.run, check_output, "
        "Popen.communicate, os.system): use `asyncio.create_subprocess_exec` and await "
        "`proc.communicate()`, with a timeout, so the loop serves other requests meanwhile.",
        "a child process run synchronously",
        "The event-loop thread starts a child process and waits for its output and exit: "
        "spawn it through the loop (non-blocking pipes, SIGCHLD or a pidfd) instead.",
        "child_process.execSync/spawnSync blocks the main thread until the child exits: use "
        "the asynchronous `child_process.execFile`/`spawn` and their events.",
    ),
    Cause(
        "stdio",
        "blocking I/O on stdin/stdout/stderr",
        "The loop blocks on its standard streams: whatever reads its stdout/stderr (a log "
        "shipper, the container runtime, a paused terminal) is slow. Log through a "
        "logging.handlers.QueueHandler and QueueListener so that a thread, not the loop, "
        "waits, and check the consumer.",
        "blocking I/O on stdin/stdout/stderr",
        "The event-loop thread blocks on its standard streams: whatever reads them (a log "
        "shipper, the container runtime, a paused terminal) is slow. Log asynchronously (a "
        "logging thread or a non-blocking buffer) and check the consumer.",
        "Node writes process.stdout/stderr synchronously when they are files or terminals: "
        "a slow consumer blocks the main thread. Log asynchronously (e.g. pino with a "
        "worker transport) and check the consumer.",
    ),
    Cause(
        "blocking_wait",
        "a blocking poll/select outside the loop's own wait",
        "Code inside a callback waits on its own socket (a synchronous client with a "
        "timeout): use an async client or `run_in_executor`.",
        "a blocking poll/select outside the loop's own wait",
        "Code on the event-loop thread waits on its own socket with poll/select: use the "
        "loop's non-blocking I/O instead.",
        "Code on the main thread waits on its own socket (a native addon or a synchronous "
        "client): use the async API.",
    ),
    Cause(
        "device_io",
        "blocking device I/O",
        "The loop reads or writes a device synchronously: move it to a thread "
        "(`asyncio.to_thread`).",
        "blocking device I/O",
        "The event-loop thread reads or writes a device synchronously: move it to a worker thread.",
        "The main thread reads or writes a device synchronously: move it to a worker_thread "
        "or use the async fs API.",
    ),
    Cause(
        "cpu",
        "CPU-bound code",
        "Offload CPU-bound work: `loop.run_in_executor(ProcessPoolExecutor(), ...)` (a thread "
        "does not help under the GIL), or split it into chunks with `await asyncio.sleep(0)` "
        "between them; `perf record -g` on the loop thread shows which code it is.",
        "CPU-bound code",
        "Move CPU-bound work off the event-loop thread (a worker pool) or split it into "
        "chunks between events; `perf record -g` on the loop thread shows which code it is.",
        "Move CPU-bound work off the main thread (worker_threads or a child process) or "
        "split it into chunks with `setImmediate` between them; `node --cpu-prof`, or `perf "
        "record -g` with `node --perf-basic-prof`, shows which code it is.",
    ),
    Cause(
        "other",
        "other system calls",
        "Look at the calls listed per episode (and their source lines) to see what the loop "
        "was doing instead of serving events.",
        "other system calls",
        "Look at the calls listed per episode (and their source lines) to see what the loop "
        "was doing instead of serving events.",
        "Look at the calls listed per episode (and their source lines) to see what the loop "
        "was doing instead of serving events.",
    ),
)


CAUSES: Mapping[str, Cause] = {cause.name: cause for cause in _CAUSE_LIST}


CAUSE_NAMES: list[str] = [cause.name for cause in _CAUSE_LIST]


STDIO_CALLS: frozenset[str] = frozenset(
    {"read", "readv", "write", "writev", "pwrite64", "pwritev", "pwritev2"}
)
"""Calls that read or write a standard stream when their fd is 0, 1 or 2."""


def cause_of(
    syscall: str,
    target_class: str | None,
    dns: bool,
    resource: str | None = None,
    stdio: bool = False,
) -> str:
    """The cause (a key of `CAUSES`) of time spent in `syscall` on a target of this class;
    `stdio`: the call reads or writes fd 0, 1 or 2 (a log line to stderr blocked by a full
    pipe is logging back-pressure, not a subprocess, whatever the pipe is)."""
    if dns:
        return "dns"
    if resource in STDIO or (stdio and syscall in STDIO_CALLS):
        return "stdio"
    if syscall in SLEEPS:
        return "sleep"
    if syscall == "futex":
        return "lock"
    if syscall in FLUSHES:
        return "disk_flush"
    if syscall in CHILD_WAITS:
        return "child_wait"
    if target_class == "file" or (target_class is None and syscall in PATH_CALLS):
        return "file_io"
    if target_class == "device":
        return "device_io"
    if target_class in SOCKET_CLASSES or syscall in SOCKET_CALLS:
        return "socket_io"
    if target_class == "pipe":
        return "pipe_io"
    if syscall in LOOP_WAITS:
        return "blocking_wait"
    return "other"
