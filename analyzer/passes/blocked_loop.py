"""IOD002 blocked_loop: event-loop threads that did not get back to their wait, and why.

An event loop (asyncio, libuv, Tornado, a `selectors` server thread) idles in one wait call
on one fd, again and again: ``epoll_wait(3, ...)``. A thread is a loop when one (wait
syscall, fd) of it occurs at least `PassConfig.loop_min_waits` times. On a thread that has
such an epoll wait, ``poll``/``select`` calls are *not* loop waits: they are a blocking
library waiting on its own socket inside a callback (glibc's DNS resolver, a socket with a
timeout), which is exactly what blocks a loop. A thread without an epoll loop wait may idle
in a frequent ``poll``/``select`` instead (selectors on poll, older libraries).

An episode is a gap of at least `PassConfig.blocked_loop_s` (asyncio's
``slow_callback_duration``, 100 ms) between one loop wait's return and the next wait's start:
for that long the loop ran callbacks and served nothing else. The time before the first wait
(start-up) is not an episode, nor is the time after the last one when the thread exited
(shut-down). When the thread did not exit and its last wait returned at least the threshold
before the trace ended, the loop was still blocked at the end: an ``ongoing`` episode up to
the trace's end, in which a call still in flight counts up to that end. A wait whose return
is unknown (strace detached) ends no gap.

Each episode is attributed: the thread's calls inside it, grouped by (syscall, resource) and
summed by the time they spent inside the episode (`total_s`), each with its cause
(`cause_of`). `cpu_s` is the rest, the time in no syscall: CPU-bound code, but also
strace's own stop at every syscall, so it is approximate. A loop of many short calls (a
file read in 4096 chunks) spends as long between its calls as in them, so a gap shorter
than `SHORT_GAP_S` right after a call counts with that call when causes are ranked; the
longer gaps are the CPU-bound code. An episode's cause is that of its biggest group (calls
plus their short gaps), or ``cpu`` when the long gaps outweigh it; the finding's causes, its
message and its fix sum whole episodes by their cause, so they add up to the blocked time.
With a perf profile whose sample times lie on the trace's clock (``perf record -k
CLOCK_REALTIME`` with ``strace -ttt``, or ``perf script -F +tod`` with ``strace -tt`` in the
same time zone) each listed episode gets the loop thread's sample count and hottest stacks
inside it; a profile whose samples do not fall inside the trace is skipped.

One finding per loop thread with episodes. `cost_s` is its total blocked time; the severity
is error when an episode lasted `LONG_EPISODE_S` or the loop was blocked for
`BLOCKED_WALL_SHARE` of the trace's wall time, else warning. `loop_episodes` gives every
episode (uncapped) to whoever needs them, e.g. to match logged slow callbacks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, numbers
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import TASK_CREATORS, call_ends
from analyzer.derive.strace_families import DNS_ARGS, DNS_FILES, DNS_PORT, STDIO
from analyzer.derive.strace_futex_keys import futex_keys_at
from analyzer.derive.strace_locks import LOCK_SYSCALLS, REFUSED
from analyzer.derive.strace_loops import LoopEpisodes, loop_episodes
from analyzer.derive.strace_rows import process_runtime_of
from analyzer.derive.strace_tasks import programs
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
from analyzer.passes.causes import CAUSE_NAMES, CAUSES, cause_of
from analyzer.passes.common import cited_lines
from analyzer.passes.targets import describe, encode_resources, resources

CODE = "IOD002"
KIND = "blocked_loop"
MAX_EPISODES = 50
"""Episodes listed per finding at most (the longest, in time order); totals cover all."""
TOP_CALLS = 5
"""(syscall, resource) groups listed per episode."""
MESSAGE_ITEMS = 3
"""What the message names at most: episode time by the (syscall, resource) or CPU time that
dominated it, largest first."""
MESSAGE_MIN_SHARE = 0.02
"""An item below this share of the blocked time is left out of the message."""
LONG_EPISODE_S = 1.0
"""An episode this long makes the finding an error."""
BLOCKED_WALL_SHARE = 0.1
"""Blocked for this share of the trace's wall time makes the finding an error."""
SECONDARY_FIX_SHARE = 0.2
"""Causes other than the dominant one add their fix when they hold this share of the time."""
FINDING_LINES = 12
"""Source lines a finding lists at most."""
HOT_STACKS = 3
"""Hot stacks listed per episode (with an aligned perf profile)."""
STACK_DEPTH = 12
"""Innermost frames kept per hot stack."""
ON_CPU_EVENT = re.compile(
    r"^(?:[\w-]+/)?(?:cpu-clock|task-clock|cpu-cycles|cycles|ref-cycles)(?:[/:]|$)"
)
"""perf events that sample code on CPU (the ones hot stacks are made of)."""

_READS = frozenset({"read", "pread64", "readv", "preadv", "preadv2"})
_WRITES = frozenset({"write", "pwrite64", "writev", "pwritev", "pwritev2"})
SHORT_GAP_S = 0.001
"""A gap this short right after a call, before the thread's next call, is strace's stop at
the call plus the code that drives the calls (a read loop): when causes are ranked it counts
with the call, not as CPU-bound code. Pure computation makes no syscalls, so its gaps are
long."""
GROUP_COLUMNS = (
    "episode", "syscall", "resource", "target_class", "cause", "total_s", "gaps_s", "count", "line"
)  # fmt: skip


# --------------------------------------------------------------------------- episodes


# ------------------------------------------------------------------------ attribution


@dataclass(frozen=True)
class Attribution:
    """What the loop threads did inside their episodes.

    `groups` has one row per (episode, syscall, resource, cause): episode (row of the
    episodes frame), syscall, resource, target_class, cause, total_s (time inside the calls
    and inside the episode), gaps_s (the short gaps right after them, see `SHORT_GAP_S`),
    count, line (the first call's line). Per episode, `in_calls_s` is the time in any
    syscall and `between_calls_s` the short gaps after calls.
    """

    groups: pd.DataFrame
    in_calls_s: np.ndarray
    between_calls_s: np.ndarray
    children: dict[int, list[int]]
    """The child processes the loop started in each episode (episode -> pids)."""


def _targets(calls: pa.Table, set_targets: pa.Array) -> pa.Array:
    """The target of each call: its own, else for a poll/select on several fds the one that
    became ready (else the first: `set_targets`), with ``stdin``/``stdout``/``stderr`` for
    fds 0-2 that strace could not resolve (inherited, so they are the standard streams)."""
    fd = pc.fill_null(calls["fd"], -1)
    standard = pc.and_(pc.greater_equal(fd, 0), pc.less_equal(fd, 2))
    names = pc.take(pa.array(STDIO), pc.if_else(standard, fd, 0))
    stdio = pc.if_else(standard, names, pa.scalar(None, pa.string()))
    return contiguous(pc.coalesce(calls["target"], set_targets, stdio))


def set_targets(trace: StraceTables) -> pa.Array:
    """For each call of the trace without an fd: for a poll/select on several fds, the
    target of the one it was waiting on (the first ready one, else the first); for a futex
    call, the futex it waits on (`futex_key`: the two words of a condition variable as one,
    as the lock passes key it); null elsewhere."""
    return set_targets_at(trace, np.arange(trace.syscalls.num_rows, dtype=np.int64))


def set_targets_at(trace: StraceTables, rows: np.ndarray) -> pa.Array:
    """`set_targets` of the calls at `rows` (distinct), reading only those calls."""
    texts = futex_keys_at(trace, rows)
    waits = trace.wait_fds
    if waits.num_rows and len(rows):
        listed = np.isin(np.asarray(waits["row"].to_numpy(zero_copy_only=False)), rows)
        frame = waits.select(["row", "ready", "target"]).filter(pa.array(listed)).to_pandas()
        frame = frame.dropna(subset=["target"])
        frame = frame.sort_values(["row", "ready"], ascending=[True, False], kind="stable")
        first = frame.drop_duplicates("row")
        order = np.argsort(rows, kind="stable")
        at = order[np.searchsorted(rows, first["row"].to_numpy(), sorter=order)]
        texts[at] = first["target"].to_numpy()
    return pa.array(texts, pa.string())


def _causes_of_kinds(
    syscalls: list[str],
    resources: list[str | None],
    classes: list[str | None],
    marks: np.ndarray,
) -> np.ndarray:
    """Cause codes (index in `CAUSE_NAMES`) of a few distinct (syscall, resource, mark);
    a mark is `DNS_MARK` (the call talks to a resolver) or `STDIO_MARK` (fd 0-2)."""
    return np.array(
        [
            CAUSE_NAMES.index(
                cause_of(
                    syscall,
                    target_class,
                    bool(mark & DNS_MARK),
                    resource,
                    stdio=bool(mark & STDIO_MARK),
                )
            )
            for syscall, resource, target_class, mark in zip(
                syscalls, resources, classes, marks, strict=True
            )
        ],
        dtype=np.int64,
    )


DNS_MARK = 1
STDIO_MARK = 2
SUBPROCESS_CAUSES = frozenset({"pipe_io", "child_wait", "blocking_wait", "other"})
"""In an episode where the loop started a child process, time in these causes is the
subprocess: reading its pipes, polling them, waiting for it to exit, and the clone itself."""


def _lock_retries(
    calls: pa.Table, episode: np.ndarray, cause: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Causes and resource codes of the calls inside episodes, with lock busy-retries told
    apart from plain sleeps: in an episode where the loop's non-blocking lock tries were
    refused (``fcntl(F_SETLK)`` or ``flock(LOCK_NB)`` failing with EAGAIN/EACCES: another
    process holds the lock), its sleeps are the waits between tries (SQLite's busy handler
    after SQLITE_BUSY sleeps 1, 2, 5 ... 100 ms, src/main.c sqliteDefaultBusyCallback), and
    both are charged to that lock's file rather than to a time.sleep."""
    refused = is_in(calls["syscall"], frozenset(LOCK_SYSCALLS)) & is_in(calls["errno"], REFUSED)
    if not refused.any():
        return cause, codes
    # per episode, the file whose lock was refused most often
    tries = pd.DataFrame({"episode": episode[refused], "code": codes[refused]})
    tries = tries[tries["code"] >= 0]
    if tries.empty:
        return cause, codes
    file_of = tries.groupby("episode")["code"].agg(lambda c: c.value_counts().index[0])
    retry_code = CAUSE_NAMES.index("lock_retry")
    in_retry = np.isin(episode, file_of.index.to_numpy())
    moved = in_retry & ((cause == CAUSE_NAMES.index("sleep")) | refused)
    cause = np.where(moved, retry_code, cause)
    codes = codes.copy()
    codes[moved] = file_of.reindex(episode[moved]).to_numpy(dtype=np.int64)
    return cause, codes


def _candidates(
    part: pa.Table, offset: int, wait_rows: np.ndarray, loop_tids: np.ndarray
) -> np.ndarray:
    """The rows of a slice (local) made by a loop thread that are not its loop waits."""
    mine = np.flatnonzero(np.isin(numbers(part["tid"]), loop_tids))
    if len(wait_rows) and len(mine):
        at = offset + mine
        position = np.minimum(np.searchsorted(wait_rows, at), len(wait_rows) - 1)
        mine = mine[wait_rows[position] != at]
    return mine


def _calls_inside(
    calls: pa.Table,
    wait_rows: np.ndarray,
    loop_tids: np.ndarray,
    ep_tid: np.ndarray,
    ep_start: np.ndarray,
    ep_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The loop threads' calls (not their loop waits) that start inside one of their
    episodes: rows (ascending), episode, start, end (a call in flight ends at infinity, one
    with no known end at its start). Two scans of the calls, a slice at a time, holding the
    inside calls only: the first finds the span of the candidates' starts, which the sorted
    key of the second is made of."""
    columns = ["tid", "start_s", "end_s", "duration_s", "status"]
    low, high, any_start = np.inf, -np.inf, False
    for offset, part in strace_slices.slices(calls, ["tid", "start_s"]):
        mine = _candidates(part, offset, wait_rows, loop_tids)
        starts = numbers(part["start_s"].take(pa.array(mine)))
        starts = starts[~np.isnan(starts)]
        if len(mine):
            any_start = True
        if len(starts):
            low, high = min(low, float(starts.min())), max(high, float(starts.max()))
    # One sorted key for all threads: thread rank * stride + time since the origin, with a
    # stride longer than the trace, so one searchsorted finds each call's episode.
    origin = float(min(np.nanmin(ep_start), low)) if any_start else 0.0
    stride = float(max(np.nanmax(ep_end), high) if any_start else np.nanmax(ep_end))
    stride = stride - origin + 1.0
    ep_key = np.searchsorted(loop_tids, ep_tid) * stride + (ep_start - origin)
    order = np.argsort(ep_key, kind="stable")
    sorted_keys = ep_key[order]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for offset, part in strace_slices.slices(calls, columns):
        mine = _candidates(part, offset, wait_rows, loop_tids)
        if len(mine) == 0:
            continue
        sub = part.take(pa.array(mine))
        tid = numbers(sub["tid"]).astype(np.int64)
        start = numbers(sub["start_s"])
        end = call_ends(sub)
        in_flight = filled_numpy(pc.equal(sub["status"], "in-flight"), False)
        end = np.where(np.isnan(end), np.where(in_flight, np.inf, start), end)
        call_key = np.searchsorted(loop_tids, tid) * stride + (start - origin)
        position = np.searchsorted(sorted_keys, call_key, side="right") - 1
        episode = order[np.maximum(position, 0)]
        inside = (
            (position >= 0)
            & (ep_tid[episode] == tid)
            & (start >= ep_start[episode])
            & (start < ep_end[episode])
        )
        if inside.any():
            found.append((offset + mine[inside], episode[inside], start[inside], end[inside]))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def attribute(trace: StraceTables, found: LoopEpisodes) -> Attribution:
    """Group the loop threads' calls inside their episodes (one vectorised pass)."""
    episodes = found.episodes
    nothing = np.zeros(len(episodes))
    empty = pd.DataFrame(columns=[*GROUP_COLUMNS])
    if episodes.empty:
        return Attribution(empty, nothing, nothing, {})
    calls = trace.syscalls
    loop_tids = np.unique(episodes["tid"].to_numpy())
    ep_tid = episodes["tid"].to_numpy(dtype=np.int64)
    ep_start = episodes["start"].to_numpy(dtype=np.float64)
    ep_end = episodes["end"].to_numpy(dtype=np.float64)
    inside_rows, episode, start, end = _calls_inside(
        calls, found.wait_rows, loop_tids, ep_tid, ep_start, ep_end
    )
    rows = np.lexsort((start, episode))
    inside_rows, episode, start, end = inside_rows[rows], episode[rows], start[rows], end[rows]
    clipped_end = np.minimum(end, ep_end[episode])
    seconds = np.clip(clipped_end - np.maximum(start, ep_start[episode]), 0.0, None)
    next_start = np.append(start[1:], np.inf)
    next_start = np.where(
        np.append(episode[1:] == episode[:-1], False), next_start, ep_end[episode]
    )
    gap = next_start - clipped_end
    gaps = np.where((gap >= 0) & (gap < SHORT_GAP_S), gap, 0.0)
    in_calls_s = np.bincount(episode, weights=seconds, minlength=len(episodes))
    between_calls_s = np.bincount(episode, weights=gaps, minlength=len(episodes))
    if not len(rows):
        return Attribution(empty, in_calls_s, between_calls_s, {})

    inside_calls = strace_slices.take(
        calls,
        ["syscall", "args", "fd", "target", "retval", "errno", "line_start", "line_end"],
        inside_rows,
    )
    names = pc.dictionary_encode(contiguous(inside_calls["syscall"]))
    syscall_names = names.dictionary.to_pylist()
    syscall_codes = np.asarray(names.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    encoded = encode_resources(_targets(inside_calls, set_targets_at(trace, inside_rows)))
    dns_resources = np.array(
        [
            bool(DNS_PORT.search(name)) if cls in ("tcp", "udp") else name in DNS_FILES
            for name, cls in zip(encoded.names, encoded.classes, strict=True)
        ]
        + [False],
        dtype=bool,
    )
    dns_args = filled_numpy(pc.match_substring_regex(inside_calls["args"], DNS_ARGS), False)
    dns = dns_args | dns_resources[encoded.codes]
    fds = numbers(inside_calls["fd"])
    standard = (fds >= 0) & (fds <= 2)
    marks = dns * DNS_MARK + standard * STDIO_MARK
    width = len(encoded.names) + 1
    kind_key = (syscall_codes * width + encoded.codes + 1) * 4 + marks
    kinds, kind_of_row = np.unique(kind_key, return_inverse=True)
    kind_syscalls = kinds // 4 // width
    kind_resources = kinds // 4 % width - 1
    resource_names = np.array([*encoded.names, None], dtype=object)
    resource_classes = np.array([*encoded.classes, None], dtype=object)
    cause = _causes_of_kinds(
        [syscall_names[code] for code in kind_syscalls],
        list(resource_names[kind_resources]),
        list(resource_classes[kind_resources]),
        kinds % 4,
    )[kind_of_row]
    # The resolver polls its socket between send and receive: inside an episode that talks
    # to port 53, a blocking poll/select is part of the lookup.
    dns_code, wait_code = CAUSE_NAMES.index("dns"), CAUSE_NAMES.index("blocking_wait")
    dns_episodes = np.unique(episode[cause == dns_code])
    cause = np.where((cause == wait_code) & np.isin(episode, dns_episodes), dns_code, cause)
    # An episode in which the loop started a child: its pipe reads, polls and waitpid are
    # the subprocess (subprocess.run does clone, then poll/read the pipes, then wait4).
    creators = is_in(inside_calls["syscall"], TASK_CREATORS)
    children = creators & (np.nan_to_num(numbers(inside_calls["retval"]), nan=-1) > 0)
    subprocess_episodes = np.unique(episode[children])
    subprocess_code = CAUSE_NAMES.index("subprocess")
    child_codes = np.array([CAUSE_NAMES.index(name) for name in SUBPROCESS_CAUSES])
    cause = np.where(
        np.isin(episode, subprocess_episodes) & np.isin(cause, child_codes),
        subprocess_code,
        cause,
    )
    cause, resource_codes = _lock_retries(inside_calls, episode, cause, encoded.codes)
    child_pids = numbers(inside_calls["retval"])
    started: dict[int, list[int]] = {}
    for where, pid in zip(episode[children].tolist(), child_pids[children].tolist(), strict=True):
        started.setdefault(int(where), []).append(int(pid))

    frame = pd.DataFrame(
        {
            "episode": episode,
            "syscall_code": syscall_codes,
            "resource_code": resource_codes,
            "cause_code": cause,
            "total_s": seconds,
            "gaps_s": gaps,
            "line": cited_lines(inside_calls),
        }
    )
    groups = (
        frame.groupby(["episode", "syscall_code", "resource_code", "cause_code"], sort=False)
        .agg(
            total_s=("total_s", "sum"),
            gaps_s=("gaps_s", "sum"),
            count=("total_s", "size"),
            line=("line", "min"),
        )
        .reset_index()
    )
    resource_code = groups["resource_code"].to_numpy()
    groups["syscall"] = np.array(syscall_names, dtype=object)[groups["syscall_code"].to_numpy()]
    groups["resource"] = resource_names[resource_code]
    groups["target_class"] = resource_classes[resource_code]
    groups["cause"] = np.array(CAUSE_NAMES, dtype=object)[groups["cause_code"].to_numpy()]
    return Attribution(groups[[*GROUP_COLUMNS]], in_calls_s, between_calls_s, started)


# ------------------------------------------------------------------------------ perf


@dataclass(frozen=True)
class LoopSamples:
    """On-CPU perf samples of the loop threads, with their times on the trace's clock."""

    tid: np.ndarray
    time_s: np.ndarray
    stack_id: np.ndarray
    stacks: pa.Table | None
    frames: pa.Table | None


def _tod_seconds(tod: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Seconds since the first sample day's midnight of ``-F +tod`` texts (NaN if absent)."""
    parts = pc.extract_regex(
        tod, r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$"
    )
    days = pc.cast(
        pc.strptime(
            pc.struct_field(parts, "date"), format="%Y-%m-%d", unit="s", error_is_null=True
        ),
        pa.int64(),
    )
    day = numbers(days) / 86_400.0
    clock = (
        numbers(pc.cast(pc.struct_field(parts, "h"), pa.float64())) * 3600.0
        + numbers(pc.cast(pc.struct_field(parts, "m"), pa.float64())) * 60.0
        + numbers(pc.cast(pc.struct_field(parts, "s"), pa.float64()))
    )
    if np.all(np.isnan(day)):
        return clock
    return clock + (day - np.nanmin(day)) * 86_400.0


def loop_samples(
    perf: Mapping[str, pa.Table], trace: StraceTables, loop_tids: np.ndarray
) -> LoopSamples | None:
    """The loop threads' on-CPU samples on the trace clock, or None when the profile's
    times cannot be put on it (see the module docstring)."""
    samples = perf.get("perf_samples")
    if samples is None or samples.num_rows == 0 or trace.first_s is None or trace.last_s is None:
        return None
    events = pc.unique(samples["event"]).drop_null().to_pylist()
    on_cpu = [name for name in events if ON_CPU_EVENT.match(name)]
    if not on_cpu:
        return None
    samples = samples.filter(
        pc.and_(
            pc.is_in(samples["event"], value_set=pa.array(on_cpu, pa.string())),
            pc.is_in(samples["tid"], value_set=pa.array(loop_tids.tolist(), pa.int64())),
        )
    )
    if samples.num_rows == 0:
        return None
    if trace.clock == "epoch":
        time_s = numbers(samples["time_ns"]) / 1e9
    elif trace.clock == "clock" and samples["tod"].null_count < samples.num_rows:
        time_s = _tod_seconds(samples["tod"])
    else:
        return None
    with np.errstate(invalid="ignore"):
        within = (time_s >= trace.first_s) & (time_s <= trace.last_s)
    if not within.any():
        return None
    return LoopSamples(
        tid=numbers(samples["tid"])[within].astype(np.int64),
        time_s=time_s[within],
        stack_id=numbers(samples["stack_id"])[within],
        stacks=perf.get("perf_stacks"),
        frames=perf.get("perf_frames"),
    )


def stack_texts(samples: LoopSamples, stack_ids: list[int]) -> dict[int, str]:
    """Folded text (root first, innermost `STACK_DEPTH` frames) of a few stack ids."""
    if samples.stacks is None or samples.frames is None or not stack_ids:
        return {}
    wanted = samples.stacks.filter(
        pc.is_in(samples.stacks["stack_id"], value_set=pa.array(stack_ids, pa.int64()))
    )
    frame_ids = wanted["frame_ids"].to_pylist()
    needed = sorted({frame for ids in frame_ids for frame in ids[:STACK_DEPTH]})
    frames = samples.frames.filter(
        pc.is_in(samples.frames["frame_id"], value_set=pa.array(needed, pa.int64()))
    )
    symbols = {
        frame: symbol or (f"0x{addr}" if addr else "[unknown]")
        for frame, symbol, addr in zip(
            frames["frame_id"].to_pylist(),
            frames["symbol"].to_pylist(),
            frames["addr"].to_pylist(),
            strict=True,
        )
    }
    texts = {}
    for stack_id, ids in zip(wanted["stack_id"].to_pylist(), frame_ids, strict=True):
        kept = [symbols.get(frame, "[unknown]") for frame in ids[:STACK_DEPTH]]
        prefix = "...;" if len(ids) > STACK_DEPTH else ""
        texts[stack_id] = prefix + ";".join(reversed(kept))
    return texts


def hot_stacks(samples: LoopSamples, tid: int, start: float, end: float) -> dict[str, Any]:
    """The loop thread's samples between `start` and `end`: how many, and the most sampled
    stacks (stack ids that read the same once folded are counted together)."""
    inside = (samples.tid == tid) & (samples.time_s >= start) & (samples.time_s < end)
    ids = samples.stack_id[inside]
    ids = ids[~np.isnan(ids)].astype(np.int64)
    values, counts = np.unique(ids, return_counts=True)
    texts = stack_texts(samples, values.tolist())
    by_text: dict[str, int] = {}
    for stack_id, count in zip(values.tolist(), counts.tolist(), strict=True):
        text = texts.get(stack_id, f"stack {stack_id}")
        by_text[text] = by_text.get(text, 0) + count
    ranked = sorted(by_text.items(), key=lambda item: (-item[1], item[0]))[:HOT_STACKS]
    return {
        "perf_samples": int(inside.sum()),
        "hot_stacks": [{"stack": text, "samples": count} for text, count in ranked],
    }


# -------------------------------------------------------------------------- findings


def _seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 0.1:
        return f"{value:.2f} s"
    return f"{value:.3f} s"


def _doing(syscall: str, where: str | None, cause: str) -> str:
    """What the loop was doing in a call, in plain words (``reading file /tmp/x``)."""
    if cause == "sleep":
        return f"sleeping in {syscall}"
    if cause == "lock":
        return "waiting in futex"
    if cause == "lock_retry":
        on = f" on {where}" if where else ""
        if syscall in LOCK_SYSCALLS:
            return f"trying a lock{on} (refused: another process holds it)"
        return f"sleeping in {syscall} between refused lock tries{on}"
    if cause == "dns":
        return f"resolving a host name ({syscall}{f' to {where}' if where else ''})"
    if where and syscall in _READS | {"recv", "recvfrom", "recvmsg", "recvmmsg"}:
        return f"reading {where}"
    if where and syscall in _WRITES | {"send", "sendto", "sendmsg", "sendmmsg"}:
        return f"writing {where}"
    if where and syscall == "connect":
        return f"connecting to {where}"
    return f"in {syscall} on {where}" if where else f"in {syscall}"


def _where(target_class: str | None, resource: str | None) -> str | None:
    return describe(target_class, resource) if resource is not None else None


def _item_phrase(item: Mapping[str, Any], runtime: str | None = None) -> str:
    """What dominated some episodes, in plain words with the time they took."""
    episodes = f" in {item['episodes']} episodes" if item["episodes"] > 1 else ""
    if item["cause"] == "cpu":
        return f"~{_seconds(item['duration_s'])} of CPU with no syscalls{episodes} (CPU-bound code)"
    where = _where(_text(item["target_class"]), _text(item["resource"]))
    label = CAUSES[item["cause"]].label_for(runtime)
    if item["count"] > 1:
        label += f"; {item['count']} {item['syscall']} calls took {_seconds(item['total_s'])} of it"
    return (
        f"{_seconds(item['duration_s'])} {_doing(item['syscall'], where, item['cause'])}"
        f"{episodes} ({label})"
    )


def _message_items(
    episodes: pd.DataFrame, blocked_s: float, runtime: str | None = None
) -> list[str]:
    """Episode time by what dominated each episode, largest first, as message phrases."""
    items = (
        episodes.groupby(["cause", "lead_syscall", "lead_resource"], sort=False, dropna=False)
        .agg(
            target_class=("lead_target_class", "first"),
            duration_s=("duration_s", "sum"),
            episodes=("duration_s", "size"),
            total_s=("lead_total_s", "sum"),
            count=("lead_count", "sum"),
        )
        .reset_index()
        .rename(columns={"lead_syscall": "syscall", "lead_resource": "resource"})
        .sort_values("duration_s", ascending=False, kind="stable")
    )
    shown = [
        item
        for item in items.head(MESSAGE_ITEMS).to_dict("records")
        if item["duration_s"] >= MESSAGE_MIN_SHARE * blocked_s
    ]
    phrases = [_item_phrase(item, runtime) for item in shown]
    rest = blocked_s - sum(item["duration_s"] for item in shown)
    if rest >= max(0.01, MESSAGE_MIN_SHARE * blocked_s):
        phrases.append(f"{_seconds(rest)} in other episodes")
    return phrases


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _fix(
    cause_totals: pd.Series,
    blocked_s: float,
    runtime: str | None = None,
    resource: Resource | None = None,
) -> str:
    """The dominant cause's fix, naming what the loop waited for, then those of the other
    big causes (`cause_totals` is sorted, largest first)."""
    chosen = [cause_totals.index[0]] + [
        cause
        for cause, seconds in cause_totals.iloc[1:].items()
        if seconds >= SECONDARY_FIX_SHARE * blocked_s
    ]
    fixes = " ".join(CAUSES[cause].fix_for(runtime) for cause in chosen[:3])
    if resource is None or resource.kind in ("cpu", "sleep", "lock", "other"):
        return fixes
    return f"The loop waited for {resource.text}. {fixes}"


def _episode_evidence(
    episode: Mapping[str, Any], calls: list[dict[str, Any]], samples: LoopSamples | None
) -> dict[str, Any]:
    """One episode's evidence; `calls` are its groups, largest `total_s` first."""
    top = calls[:TOP_CALLS]
    lines = [episode["prev_line"]] + [call["line"] for call in top]
    if not episode["ongoing"]:
        lines.append(episode["next_line"])
    evidence: dict[str, Any] = {
        "start": float(episode["start"]),
        "end": float(episode["end"]),
        "duration_s": float(episode["duration_s"]),
        "cpu_s": float(episode["cpu_s"]),
        "between_calls_s": float(episode["between_calls_s"]),
        "cause": episode["cause"],
        "ongoing": bool(episode["ongoing"]),
        "top_calls": [
            {
                "syscall": call["syscall"],
                "target": _text(call["resource"]),
                "target_kind": _text(call["target_class"]),
                "total_s": float(call["total_s"]),
                "with_gaps_s": float(call["total_s"] + call["gaps_s"]),
                "count": int(call["count"]),
                "cause": call["cause"],
                "line": int(call["line"]),
            }
            for call in top
        ],
        "lines": sorted({int(line) for line in lines if not np.isnan(line)}),
    }
    if samples is not None:
        evidence |= hot_stacks(
            samples, int(episode["tid"]), float(episode["start"]), float(episode["end"])
        )
    return evidence


def _listed_episodes(
    episodes: pd.DataFrame, groups: pd.DataFrame, samples: LoopSamples | None
) -> list[dict[str, Any]]:
    """Evidence of the `MAX_EPISODES` longest episodes, in time order."""
    listed = episodes.nlargest(MAX_EPISODES, "duration_s", keep="first").sort_values("start")
    listed_groups = groups[groups["episode"].isin(listed.index)].sort_values(
        "total_s", ascending=False, kind="stable"
    )
    by_episode: dict[int, list[dict[str, Any]]] = {}
    for call in listed_groups.to_dict("records"):
        by_episode.setdefault(int(call["episode"]), []).append(call)
    return [
        _episode_evidence(row, by_episode.get(int(index), []), samples)
        for index, row in zip(listed.index, listed.to_dict("records"), strict=True)
    ]


def _message(
    tid: int, loop: Mapping[str, Any], episodes: pd.DataFrame, items: list[str], span_s: float
) -> str:
    count = len(episodes)
    blocked_s = float(episodes["duration_s"].sum())
    if count == 1:
        summary = f"Event loop thread {tid} was blocked once for {_seconds(blocked_s)}"
    else:
        summary = (
            f"Event loop thread {tid} was blocked {count} times, {_seconds(blocked_s)} in "
            f"total (longest {_seconds(float(episodes['duration_s'].max()))})"
        )
    message = summary + (": " + ", ".join(items) if items else "") + "."
    ongoing = episodes[episodes["ongoing"]]
    if len(ongoing):
        message += (
            " It was still blocked when the trace ended "
            f"({_seconds(float(ongoing['duration_s'].iloc[0]))} since its last wait)."
        )
    if span_s > 0:
        message += (
            f" The loop waited {int(loop['waits'])} times and was blocked "
            f"{blocked_s / span_s:.0%} of its {_seconds(span_s)}."
        )
    return message


def loop_finding(
    trace: StraceTables,
    loop: Mapping[str, Any],
    episodes: pd.DataFrame,
    groups: pd.DataFrame,
    samples: LoopSamples | None,
    served: list[str],
    config: PassConfig,
    children: Mapping[int, list[int]] | None = None,
) -> Finding:
    """The finding of one loop thread from its episodes, their attributed calls, the
    listeners it serves and the child processes it started (episode -> pids)."""
    tid = int(loop["tid"])
    pid = None if np.isnan(loop["pid"]) else int(loop["pid"])
    runtime = process_runtime_of(trace, pid) if pid is not None else None
    count = len(episodes)
    blocked_s = float(episodes["duration_s"].sum())
    longest = float(episodes["duration_s"].max())
    cause_totals = (
        episodes.groupby("cause")["duration_s"].sum().sort_values(ascending=False, kind="stable")
    )
    cause_episodes = episodes["cause"].value_counts()
    dominant = str(cause_totals.index[0])
    episode_rows = _listed_episodes(episodes, groups, samples)
    span_s = float(max(loop["last_return_s"], episodes["end"].max()) - loop["first_wait_s"])
    wall_share = blocked_s / trace.wall_s if trace.wall_s else None
    severity: Severity = (
        "error"
        if longest >= LONG_EPISODE_S or (wall_share or 0.0) >= BLOCKED_WALL_SHARE
        else "warning"
    )
    lines: set[int] = set()
    for row in sorted(episode_rows, key=lambda row: -row["duration_s"])[: config.max_samples]:
        lines.update(row["lines"])
    evidence: dict[str, Any] = {
        "loop_tid": tid,
        "runtime": runtime,
        "loop_waits": int(loop["waits"]),
        "listening": served,
        "episode_count": count,
        "episodes_listed": len(episode_rows),
        "blocked_total_s": blocked_s,
        "longest_s": longest,
        "cpu_total_s": float(episodes["cpu_s"].sum()),
        "cpu_bound_s": float(episodes["cpu_bound_s"].sum()),
        "blocked_share": blocked_s / span_s if span_s > 0 else None,
        "share_of_wall": wall_share,
        "threshold_s": config.blocked_loop_s,
        "cause": dominant,
        "causes": [
            {
                "cause": cause,
                "label": CAUSES[cause].label_for(runtime),
                "total_s": float(seconds),
                "episodes": int(cause_episodes[cause]),
            }
            for cause, seconds in cause_totals.items()
        ],
        "ongoing": bool(episodes["ongoing"].any()),
        "perf_aligned": samples is not None,
        "episodes": episode_rows,
    }
    label = CAUSES[dominant].label_for(runtime)
    if count == 1:
        title = f"Event loop thread {tid} blocked {_seconds(longest)}, mostly {label}"
    else:
        title = (
            f"Event loop thread {tid} blocked {count} times ({_seconds(blocked_s)}), mostly {label}"
        )
    items = _message_items(episodes, blocked_s, runtime)
    resource = loop_resource(trace, dominant, episodes, groups, children or {})
    if resource.kind not in ("cpu", "sleep", "lock"):
        evidence["resource"] = resource.key
    targeted = groups.dropna(subset=["resource"])
    where = episodes.loc[targeted["episode"]]
    waited = (
        targeted.assign(start=where["start"].to_numpy(), end=where["end"].to_numpy())
        .groupby("resource", sort=True)
        .agg(start=("start", "min"), end=("end", "max"))
    )
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=_message(tid, loop, episodes, items, span_s),
        evidence=evidence,
        fix=_fix(cause_totals, blocked_s, runtime, resource),
        input=trace.input,
        pid=pid,
        tid=tid,
        start=float(episodes["start"].min()),
        duration_s=longest,
        cost_s=blocked_s,
        lines=tuple(sorted(lines)[:FINDING_LINES]),
        culprit=Culprit(pid=pid, tid=tid, role="event loop"),
        resource=resource,
        # The loop thread's own slow calls on what it waited for, inside its episodes, are
        # those episodes seen call by call: the same time.
        explains=(
            *(
                Explains(str(key), kind=kind, tid=tid, during=(row.start, row.end))
                for key, row in waited.iterrows()
                # its sleeps between refused lock tries, seen by IOD012, too
                for kind in ("slow_syscall", "sleep_retry")
            ),
            # perf's busy time on the loop thread is its CPU-bound episodes seen by samples.
            Explains("cpu", kind="cpu_hotspot", tid=tid, same_input=False),
        ),
    )


MAX_CHILDREN_NAMED = 5
"""Child pids a subprocess resource lists at most."""


def loop_resource(
    trace: StraceTables,
    cause: str,
    episodes: pd.DataFrame,
    groups: pd.DataFrame,
    children: Mapping[int, list[int]],
) -> Resource:
    """What the loop waited for in its dominant cause: the peer, file, pipe or child process
    it spent the most time on in those episodes (calls plus the short gaps after them)."""
    mine = episodes.index[episodes["cause"] == cause]
    if cause == "cpu":
        return Resource("cpu", "cpu", "CPU-bound code on the loop thread")
    if cause == "sleep":
        return Resource("sleep", "sleep", "a blocking sleep")
    if cause == "subprocess":
        pids = sorted({pid for episode in mine for pid in children.get(int(episode), [])})
        names = programs(trace, pids)
        named = sorted(set(names.values()))
        listed = ", ".join(str(pid) for pid in pids[:MAX_CHILDREN_NAMED])
        more = (
            f" and {len(pids) - MAX_CHILDREN_NAMED} more" if len(pids) > MAX_CHILDREN_NAMED else ""
        )
        program = f"{'/'.join(named)} " if named else ""
        plural = "es" if len(pids) != 1 else ""
        return Resource(
            "process",
            f"process {'/'.join(named) or (pids[0] if pids else '?')}",
            f"child process{plural} {program}(pid {listed}{more})",
        )
    waits = groups[groups["episode"].isin(mine) & (groups["cause"] == cause)]
    waits = waits.dropna(subset=["resource"])
    if waits.empty:
        return Resource(cause, cause, CAUSES[cause].label)
    weight = (waits["total_s"] + waits["gaps_s"]).groupby(waits["resource"], sort=False).sum()
    key = str(weight.idxmax())
    target_class = waits.loc[waits["resource"] == key, "target_class"].iloc[0]
    where = describe(_text(target_class), key)
    if cause == "stdio":
        where = f"its standard streams ({where})" if key not in STDIO else f"its {key}"
    if cause == "lock_retry":
        return Resource("file", key, f"a lock on {where} held by another process")
    if cause == "lock":
        pid, _, address = key.removeprefix("futex ").partition(":")
        return Resource("futex", key, f"futex {address} of process {pid} (a lock or the GIL)")
    return Resource(_text(target_class) or cause, key, where)


def _with_leads(episodes: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Each episode's lead: its (syscall, resource) group with the most time (calls plus
    the short gaps after them), and its cause: the lead's, or ``cpu`` when the long gaps
    with no syscall outweigh the lead."""
    weighted = groups.assign(weight=groups["total_s"] + groups["gaps_s"])
    leads = (
        weighted.sort_values("weight", ascending=False, kind="stable")
        .drop_duplicates("episode")
        .set_index("episode")
        .reindex(episodes.index)
    )
    cpu_leads = ~(leads["weight"].fillna(0.0).to_numpy() > episodes["cpu_bound_s"].to_numpy())
    lead = pd.DataFrame(
        {
            "cause": np.where(cpu_leads, "cpu", leads["cause"].to_numpy(dtype=object)),
            "lead_syscall": leads["syscall"].where(~cpu_leads),
            "lead_resource": leads["resource"].where(~cpu_leads),
            "lead_target_class": leads["target_class"].where(~cpu_leads),
            "lead_total_s": leads["total_s"].where(~cpu_leads, 0.0),
            "lead_count": leads["count"].where(~cpu_leads, 0).fillna(0).astype(np.int64),
        },
        index=episodes.index,
    )
    return episodes.join(lead)


def listening(trace: StraceTables, loop_tids: np.ndarray) -> dict[int, list[str]]:
    """The listeners each loop thread accepted connections on (``tcp 127.0.0.1:8080``): the
    sockets whose clients waited while the loop was blocked."""
    calls = trace.syscalls
    accepting = frozenset({"accept", "accept4"})

    def keep(part: pa.Table) -> np.ndarray:
        return (
            np.isin(numbers(part["tid"]), loop_tids)
            & is_in(part["syscall"], accepting)
            & np.asarray(part["target"].is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        )

    # a slice at a time, keeping each slice's distinct (thread, listener) pairs only: a
    # busy server accepts a connection every few calls
    found: dict[int, list[str]] = {}
    for _, part in strace_slices.slices(calls, ["tid", "syscall", "target"]):
        accepts = part.filter(pa.array(keep(part)))
        if accepts.num_rows == 0:
            continue
        pairs = dict.fromkeys(
            zip(
                accepts["tid"].to_pylist(),
                resources(accepts["target"]).to_pylist(),
                strict=True,
            )
        )
        for tid, resource in pairs:
            if resource not in found.setdefault(tid, []):
                found[tid].append(resource)
    return found


def trace_findings(
    trace: StraceTables, config: PassConfig, perf: Mapping[str, pa.Table] | None = None
) -> list[Finding]:
    """The blocked_loop findings of one trace, longest blocked loop first."""
    if trace.syscalls.num_rows == 0 or trace.first_s is None:
        return []
    found = loop_episodes(trace, config)
    episodes = found.episodes
    if episodes.empty:
        return []
    attribution = attribute(trace, found)
    cpu_s = np.clip(episodes["duration_s"].to_numpy() - attribution.in_calls_s, 0.0, None)
    episodes = episodes.assign(
        cpu_s=cpu_s,
        between_calls_s=attribution.between_calls_s,
        cpu_bound_s=np.clip(cpu_s - attribution.between_calls_s, 0.0, None),
    )
    groups = attribution.groups
    episodes = _with_leads(episodes, groups)
    loop_tids = np.unique(episodes["tid"].to_numpy())
    samples = loop_samples(perf, trace, loop_tids) if perf else None
    listeners = listening(trace, loop_tids)
    group_tids = episodes["tid"].to_numpy()[groups["episode"].to_numpy(dtype=np.int64)]
    findings = []
    for loop in found.loops.to_dict("records"):
        mine = episodes[episodes["tid"] == loop["tid"]]
        if not mine.empty:
            mine_groups = groups[group_tids == loop["tid"]]
            served = listeners.get(int(loop["tid"]), [])
            findings.append(
                loop_finding(
                    trace,
                    loop,
                    mine,
                    mine_groups,
                    samples,
                    served,
                    config,
                    attribution.children,
                )
            )
    return sorted(findings, key=lambda finding: -finding.cost_s)


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [
        finding for trace in inputs.traces for finding in trace_findings(trace, config, inputs.perf)
    ]


PASS = Pass(CODE, KIND, run, __doc__ or "")
