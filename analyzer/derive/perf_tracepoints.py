"""Tracepoint tables from `perf script` samples: block I/O, off-CPU time, syscall latency.

Pure functions from the `perf_samples` table (`analyzer.formats.perf.parse(...).samples`)
to Arrow tables whose schemas are in `analyzer.schema`. Each returns ``(table, counts)``: the
rows that could be paired, and a dict of counts of what could not (so nothing is silently
dropped). Samples are taken in input order, which is time order in `perf script` output.

- `block_io`: ``block:block_rq_issue`` paired with the next ``block:block_rq_complete`` on the
  same (device, sector), as BCC biolatency does since commit ed1c9804; a second issue of the same
  key overwrites the first (counted as ``reissues``); a ``block_rq_insert`` for the key gives the
  queue time. The owner (comm/pid/tid) comes from the issue: completions run in softirq context
  and carry whatever task was interrupted. Both payload layouts are read, anchored on `` + ``
  rather than counted from the right: ``8,0 WS 4096 () 123456 + 8 [comm]`` (before the 2024 ioprio
  patch) and ``254,0 WS 4096 () 123456 + 8 0x2,0,4 [comm]``. Flushes: the flush request is issued
  as ``FF`` at sector 0 with 0 sectors and completes as ``FF`` at sector 2**64-1, so it cannot be
  paired; the empty ``WS () 0 + 0`` request that asked for it completes at sector 0 and pairs with
  the ``FF`` issue (the pair is marked ``flush``). On `block_rq_insert_issue_complete.txt` this
  gives the research's figures: 90 pairs, 10 unpaired ``FF`` completions.
- `off_cpu`: ``sched:sched_switch`` switch-out of ``prev_pid`` to the next switch-in as
  ``next_pid``. A thread cannot be switched out twice without a switch-in between, so the
  latest switch-out before a switch-in starts the interval. The tracepoint fires in the
  outgoing task, so a per-task recording holds every switch-out of the traced threads but
  only the switch-ins from one traced thread to another: intervals are exact where a
  switch-in was recorded, the rest is counted. With a ``--filter``, threads outside the filter
  (seen only as the other side of a switch) may have run unrecorded inside an interval.
- `syscall_latency`: enter and exit paired per thread (and per source, so a recording of both
  ``raw_syscalls`` and ``syscalls`` does not cross-pair), with x86-64 names for raw numbers.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analyzer.schema import PERF_BLOCK_IO, PERF_OFF_CPU, PERF_SYSCALL_LATENCY

Counts = dict[str, int]

# x86-64 system call numbers, "common" and "64" ABI entries of the kernel's
# arch/x86/entry/syscalls/syscall_64.tbl (torvalds/linux; as of Linux 6.19, numbers 0-336 and
# 424-470; 337-423 are unused on x86-64 and the x32 range 512-547 is left out).
_X86_64_NAMES_0 = """
    read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction
    rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select
    sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep
    getitimer alarm setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg
    recvmsg shutdown bind listen getsockname getpeername socketpair setsockopt getsockopt clone
    fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv
    msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename
    mkdir rmdir creat link unlink symlink readlink chmod fchmod chown fchown lchown umask
    gettimeofday getrlimit getrusage sysinfo times ptrace getuid syslog getgid setuid setgid
    geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups
    setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset
    rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib
    personality ustat statfs fstatfs sysfs getpriority setpriority sched_setparam sched_getparam
    sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval mlock munlock mlockall munlockall vhangup modify_ldt pivot_root
    _sysctl prctl arch_prctl adjtimex setrlimit chroot sync acct settimeofday mount umount2
    swapon swapoff reboot sethostname setdomainname iopl ioperm create_module init_module
    delete_module get_kernel_syms query_module quotactl nfsservctl getpmsg putpmsg afs_syscall
    tuxcall security gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr
    listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill time futex
    sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy io_getevents
    io_submit io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old
    remap_file_pages getdents64 set_tid_address restart_syscall semtimedop fadvise64
    timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime
    clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes
    vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive
    mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get
    inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat
    fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat
    faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee sync_file_range
    vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create eventfd fallocate
    timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2
    inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init
    fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg
    setns getcpu process_vm_readv process_vm_writev kcmp finit_module sched_setattr
    sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat
    userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc
    pkey_free statx io_pgetevents rseq uretprobe uprobe
"""
_X86_64_NAMES_424 = """
    pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
    fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2
    process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
    landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv
    set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait
    futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal
    setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr
    listns
"""
X86_64_SYSCALLS: dict[int, str] = {
    **dict(enumerate(_X86_64_NAMES_0.split())),
    **{424 + i: name for i, name in enumerate(_X86_64_NAMES_424.split())},
}
"""x86-64 syscall number -> name."""
X86_64_SYSCALL_NUMBERS: dict[str, int] = {name: nr for nr, name in X86_64_SYSCALLS.items()}
"""x86-64 syscall name -> number."""

BLOCK_INSERT = "block:block_rq_insert"
BLOCK_ISSUE = "block:block_rq_issue"
BLOCK_COMPLETE = "block:block_rq_complete"
BLOCK_REQUEUE = "block:block_rq_requeue"
SCHED_SWITCH = "sched:sched_switch"
RAW_ENTER = "raw_syscalls:sys_enter"
RAW_EXIT = "raw_syscalls:sys_exit"
NAMED_ENTER = "syscalls:sys_enter_"
NAMED_EXIT = "syscalls:sys_exit_"

_U64 = 1 << 64

# "%d,%d %s [%u ](%s) %llu + %u[ %s,%u,%u] [%s|%d]": the bytes field only on insert/issue,
# the ioprio field only since the 2024 patch; the tail is the comm (insert/issue) or the error.
_BLOCK_RE = re.compile(
    r"(?P<major>\d+),(?P<minor>\d+) (?P<rwbs>\S+) (?:(?P<bytes>\d+) )?\((?P<cmd>[^)]*)\) "
    r"(?P<sector>\d+) \+ (?P<nr>\d+)(?: (?P<ioprio>\S+))? \[(?P<tail>.*)\]"
)
# prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d
# next_prio=%d; comms may contain spaces, so anchor on the field names.
_SWITCH_RE = re.compile(
    r"prev_comm=(?P<prev_comm>.*?) prev_pid=(?P<prev_pid>-?\d+) prev_prio=-?\d+ "
    r"prev_state=(?P<state>\S+) ==> next_comm=(?P<next_comm>.*?) next_pid=(?P<next_pid>-?\d+) "
    r"next_prio=-?\d+"
)
_RAW_ENTER_RE = re.compile(r"NR (?P<nr>-?\d+) \((?P<args>.*)\)")
_RAW_EXIT_RE = re.compile(r"NR (?P<nr>-?\d+) = (?P<ret>-?\d+)")
_NAMED_RET_RE = re.compile(r"(?:0x(?P<hex>[0-9a-fA-F]+)|(?P<dec>-?\d+))")

_COLUMNS = ("line_no", "time_ns", "pid", "tid", "comm", "cpu", "event", "payload", "stack_id")


def _rows(samples: pa.Table, keep: pa.Array) -> list[dict[str, Any]]:
    """The samples selected by the boolean mask ``keep``, as dicts, in input order."""
    return samples.select(list(_COLUMNS)).filter(keep).to_pylist()


def _events(samples: pa.Table, names: list[str]) -> list[dict[str, Any]]:
    return _rows(samples, pc.fill_null(pc.is_in(samples["event"], pa.array(names)), False))


def _minus(end: int | None, start: int | None) -> int | None:
    return None if end is None or start is None else end - start


def _is_flush(rwbs: str, nr_sectors: int) -> bool:
    return rwbs.startswith("F") or nr_sectors == 0


def block_io(samples: pa.Table) -> tuple[pa.Table, Counts]:
    """Block requests paired issue -> complete on (device, sector); see the module doc.

    Counts: ``inserts``, ``issues``, ``completions``, ``requeues``, ``pairs``, ``flush_pairs``,
    ``reissues`` (an issue replaced an unfinished one of the same key), ``unmatched_issues``
    (never completed in the trace), ``unmatched_completions`` (no issue seen), their flush
    parts ``unmatched_flush_issues`` / ``unmatched_flush_completions``, and
    ``unparsed_payloads``.
    """
    counts: Counts = dict.fromkeys(
        (
            "inserts",
            "issues",
            "completions",
            "requeues",
            "pairs",
            "flush_pairs",
            "reissues",
            "unmatched_issues",
            "unmatched_completions",
            "unmatched_flush_issues",
            "unmatched_flush_completions",
            "unparsed_payloads",
        ),
        0,
    )
    out: dict[str, list[Any]] = {name: [] for name in PERF_BLOCK_IO.names}
    inserted: dict[tuple[str, int], int | None] = {}
    issued: dict[tuple[str, int], tuple[dict[str, Any], re.Match[str], int | None]] = {}
    events = [BLOCK_INSERT, BLOCK_ISSUE, BLOCK_COMPLETE, BLOCK_REQUEUE]
    for row in _events(samples, events):
        match = _BLOCK_RE.fullmatch((row["payload"] or "").strip())
        if match is None:
            counts["unparsed_payloads"] += 1
            continue
        key = (f"{match['major']},{match['minor']}", int(match["sector"]))
        event = row["event"]
        if event == BLOCK_INSERT:
            counts["inserts"] += 1
            inserted[key] = row["time_ns"]
        elif event == BLOCK_REQUEUE:
            counts["requeues"] += 1
        elif event == BLOCK_ISSUE:
            counts["issues"] += 1
            insert_ns = inserted.pop(key, None)
            if key in issued:
                counts["reissues"] += 1
                if insert_ns is None:  # a re-issue keeps the request's insert time
                    insert_ns = issued[key][2]
            issued[key] = (row, match, insert_ns)
        else:
            counts["completions"] += 1
            pending = issued.pop(key, None)
            if pending is None:
                counts["unmatched_completions"] += 1
                if _is_flush(match["rwbs"], int(match["nr"])) or key[1] >= _U64 - 1:
                    counts["unmatched_flush_completions"] += 1
                continue
            issue, issue_match, insert_ns = pending
            nr = int(issue_match["nr"])
            flush = _is_flush(issue_match["rwbs"], nr)
            counts["pairs"] += 1
            counts["flush_pairs"] += flush
            tail = match["tail"].strip()
            out["dev"].append(key[0])
            out["sector"].append(key[1])
            out["nr_sectors"].append(nr)
            out["bytes"].append(
                int(issue_match["bytes"]) if issue_match["bytes"] is not None else nr * 512
            )
            out["rwbs"].append(issue_match["rwbs"])
            out["ioprio"].append(issue_match["ioprio"])
            out["flush"].append(flush)
            out["insert_ns"].append(insert_ns)
            out["issue_ns"].append(issue["time_ns"])
            out["complete_ns"].append(row["time_ns"])
            out["queue_ns"].append(_minus(issue["time_ns"], insert_ns))
            out["latency_ns"].append(_minus(row["time_ns"], issue["time_ns"]))
            out["error"].append(int(tail) if re.fullmatch(r"-?\d+", tail) else None)
            out["comm"].append(issue["comm"])
            out["pid"].append(issue["pid"])
            out["tid"].append(issue["tid"])
            out["issue_cpu"].append(issue["cpu"])
            out["complete_cpu"].append(row["cpu"])
            out["issue_stack_id"].append(issue["stack_id"])
            out["issue_line"].append(issue["line_no"])
            out["complete_line"].append(row["line_no"])
    counts["unmatched_issues"] = len(issued)
    counts["unmatched_flush_issues"] = sum(
        _is_flush(match["rwbs"], int(match["nr"])) for _, match, _ in issued.values()
    )
    return pa.table(out, schema=PERF_BLOCK_IO.schema), counts


def off_cpu(samples: pa.Table) -> tuple[pa.Table, Counts]:
    """Off-CPU intervals per thread from ``sched:sched_switch``; see the module doc.

    Counts: ``switches``, ``intervals``, ``unmatched_switch_outs`` (still off CPU when the
    trace ends: exited threads, or a per-task recording), ``unmatched_switch_ins`` (switched
    in without a recorded switch-out, e.g. off CPU since before the trace), ``repeated_switch_outs``
    (a second switch-out before any switch-in; the later one is kept), ``negative_intervals``
    (switch-in stamped before the switch-out; skipped, as BCC offcputime does) and
    ``unparsed_payloads``. The idle task (pid 0) is ignored.
    """
    counts: Counts = dict.fromkeys(
        (
            "switches",
            "intervals",
            "unmatched_switch_outs",
            "unmatched_switch_ins",
            "repeated_switch_outs",
            "negative_intervals",
            "unparsed_payloads",
        ),
        0,
    )
    out: dict[str, list[Any]] = {name: [] for name in PERF_OFF_CPU.names}
    away: dict[int, tuple[dict[str, Any], str, str]] = {}
    for row in _events(samples, [SCHED_SWITCH]):
        match = _SWITCH_RE.fullmatch((row["payload"] or "").strip())
        if match is None:
            counts["unparsed_payloads"] += 1
            continue
        counts["switches"] += 1
        prev_pid = int(match["prev_pid"])
        next_pid = int(match["next_pid"])
        if prev_pid != 0:
            if prev_pid in away:
                counts["repeated_switch_outs"] += 1
            away[prev_pid] = (row, match["prev_comm"], match["state"])
        if next_pid == 0:
            continue
        pending = away.pop(next_pid, None)
        if pending is None:
            counts["unmatched_switch_ins"] += 1
            continue
        out_row, comm, state = pending
        duration = _minus(row["time_ns"], out_row["time_ns"])
        if duration is not None and duration < 0:
            counts["negative_intervals"] += 1
            continue
        counts["intervals"] += 1
        out["tid"].append(next_pid)
        out["pid"].append(out_row["pid"] if out_row["tid"] == next_pid else None)
        out["comm"].append(comm)
        out["state"].append(state)
        out["start_ns"].append(out_row["time_ns"])
        out["end_ns"].append(row["time_ns"])
        out["duration_ns"].append(duration)
        out["cpu_out"].append(out_row["cpu"])
        out["cpu_in"].append(row["cpu"])
        out["stack_id"].append(out_row["stack_id"])
        out["out_line"].append(out_row["line_no"])
        out["in_line"].append(row["line_no"])
    counts["unmatched_switch_outs"] = len(away)
    return pa.table(out, schema=PERF_OFF_CPU.schema), counts


def _signed_ret(text: str) -> int | None:
    """A named ``sys_exit_*`` return (u64 hex, ``0xfffffffffffffffe`` = -2) as a signed int."""
    match = _NAMED_RET_RE.fullmatch(text.strip())
    if match is None:
        return None
    if match["dec"] is not None:
        return int(match["dec"])
    value = int(match["hex"], 16)
    return value - _U64 if value >= 1 << 63 else value


def syscall_latency(samples: pa.Table) -> tuple[pa.Table, Counts]:
    """System calls paired enter -> exit per thread; see the module doc.

    Counts: ``enters``, ``exits``, ``pairs``, ``unmatched_enters`` (no exit before the trace
    ends, e.g. ``exit_group``), ``unmatched_exits`` (no enter seen, e.g. the ``execve`` exit
    that starts a per-task trace), ``replaced_enters`` (a second enter on the thread before any
    exit, so the first one's exit was lost; the later enter is kept), ``mismatched`` (an exit
    whose syscall differs from the pending enter; both are dropped and counted here, not in
    the unmatched counts) and ``unparsed_payloads``.
    """
    counts: Counts = dict.fromkeys(
        (
            "enters",
            "exits",
            "pairs",
            "unmatched_enters",
            "unmatched_exits",
            "replaced_enters",
            "mismatched",
            "unparsed_payloads",
        ),
        0,
    )
    out: dict[str, list[Any]] = {name: [] for name in PERF_SYSCALL_LATENCY.names}
    events = samples["event"]
    keep = pc.fill_null(
        pc.or_(
            pc.is_in(events, pa.array([RAW_ENTER, RAW_EXIT])),
            pc.or_(pc.starts_with(events, NAMED_ENTER), pc.starts_with(events, NAMED_EXIT)),
        ),
        False,
    )
    pending: dict[tuple[int | None, str], tuple[dict[str, Any], int | None, str | None, str]] = {}
    for row in _rows(samples, keep):
        event = row["event"]
        payload = (row["payload"] or "").strip()
        ret: int | None = None
        if event in (RAW_ENTER, RAW_EXIT):
            source = "raw_syscalls"
            match = (_RAW_ENTER_RE if event == RAW_ENTER else _RAW_EXIT_RE).fullmatch(payload)
            if match is None:
                counts["unparsed_payloads"] += 1
                continue
            nr: int | None = int(match["nr"])
            name = X86_64_SYSCALLS.get(nr)  # type: ignore[arg-type]
            enter = event == RAW_ENTER
            if enter:
                args = match["args"]
            else:
                ret = int(match["ret"])
        else:
            source = "syscalls"
            enter = event.startswith(NAMED_ENTER)
            name = event[len(NAMED_ENTER if enter else NAMED_EXIT) :]
            nr = X86_64_SYSCALL_NUMBERS.get(name)
            if enter:
                args = payload
            else:
                ret = _signed_ret(payload)
                if ret is None:
                    counts["unparsed_payloads"] += 1
                    continue
        key = (row["tid"], source)
        if enter:
            counts["enters"] += 1
            if key in pending:
                counts["replaced_enters"] += 1
            pending[key] = (row, nr, name, args)
            continue
        counts["exits"] += 1
        start = pending.pop(key, None)
        if start is None:
            counts["unmatched_exits"] += 1
            continue
        enter_row, enter_nr, enter_name, enter_args = start
        if (enter_nr, enter_name) != (nr, name):
            counts["mismatched"] += 1
            continue
        counts["pairs"] += 1
        out["tid"].append(enter_row["tid"])
        out["pid"].append(enter_row["pid"])
        out["comm"].append(enter_row["comm"])
        out["source"].append(source)
        out["nr"].append(nr)
        out["syscall"].append(name)
        out["enter_ns"].append(enter_row["time_ns"])
        out["exit_ns"].append(row["time_ns"])
        out["duration_ns"].append(_minus(row["time_ns"], enter_row["time_ns"]))
        out["ret"].append(ret)
        out["error"].append(ret is not None and -4095 <= ret < 0)
        out["args"].append(enter_args)
        out["cpu"].append(enter_row["cpu"])
        out["stack_id"].append(enter_row["stack_id"])
        out["enter_line"].append(enter_row["line_no"])
        out["exit_line"].append(row["line_no"])
    counts["unmatched_enters"] = len(pending)
    return pa.table(out, schema=PERF_SYSCALL_LATENCY.schema), counts
