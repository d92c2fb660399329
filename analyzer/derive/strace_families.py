"""Syscall families: what strace shows a wait, a sleep, a flush or a socket call as.

The catalogue the derivations and the passes share, so that "a loop wait" or "a flush" means
the same set of calls everywhere.
"""

from __future__ import annotations

import re

LOOP_WAITS: frozenset[str] = frozenset(
    {
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "poll",
        "ppoll",
        "select",
        "pselect6",
        "_newselect",
    }
)
"""The calls an event loop (asyncio, libuv, Twisted, ...) idles in."""


IDLE_WAITS: frozenset[str] = LOOP_WAITS | {
    "futex",
    "wait4",
    "waitid",
    "pause",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "sigsuspend",
    "restart_syscall",
    "nanosleep",
    "clock_nanosleep",
    "accept",
    "accept4",
    "io_getevents",
    "io_pgetevents",
}
"""Calls whose length is waiting by design (for events, children, a lock, a timer or a
client): long durations there are not slow I/O. Locks and sleeps have their own passes."""


SLEEPS: frozenset[str] = frozenset({"nanosleep", "clock_nanosleep"})


FLUSHES: frozenset[str] = frozenset({"fsync", "fdatasync", "sync_file_range", "msync", "syncfs"})


EPOLL_WAITS: frozenset[str] = frozenset({"epoll_wait", "epoll_pwait", "epoll_pwait2"})


CHILD_WAITS: frozenset[str] = frozenset({"wait4", "waitid", "waitpid"})


SOCKET_CALLS: frozenset[str] = frozenset({
    "connect", "accept", "accept4", "recv", "recvfrom", "recvmsg", "recvmmsg", "send", "sendto",
    "sendmsg", "sendmmsg",
})  # fmt: skip


PATH_CALLS: frozenset[str] = frozenset({
    "open", "openat", "openat2", "creat", "stat", "lstat", "newfstatat", "statx", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "unlink", "unlinkat", "rename",
    "renameat", "renameat2", "mkdir", "mkdirat", "getdents64", "truncate", "ftruncate",
    "fallocate",
})  # fmt: skip
"""Calls on files named by path (strace shows no fd target for most of them)."""


DNS_PORT = re.compile(r":53$")


DNS_ARGS = r'htons\(53\)|"/etc/(?:resolv\.conf|hosts|nsswitch\.conf|gai\.conf|host\.conf)"'
"""A call to port 53, or an open of the resolver's configuration: name resolution."""


DNS_FILES: frozenset[str] = frozenset(
    {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf"}
)


STDIO: tuple[str, str, str] = ("stdin", "stdout", "stderr")
"""Names given to fds 0-2 that strace could not resolve (inherited standard streams)."""


SOCKET_CLASSES = frozenset({"tcp", "udp", "unix", "socket", "netlink"})
