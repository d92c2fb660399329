"""IOD012 sleep_retry: threads that wait for a resource by sleeping and trying again.

A retry loop (SQLite's busy handler, a lock-file poll, a "try, sleep 10 ms, try again" queue
consumer) does not block in the kernel on the thing it waits for: it makes an attempt, which
fails or finds nothing, and sleeps. strace shows short ``nanosleep``/``clock_nanosleep`` calls
right after calls on one resource, and neither `slow_syscall` (sleeps are waits by design) nor
`thread_pileup` (the sleeps are on no resource) reports them. Each retry adds up to its
sleep to the caller's latency, and the sleeping threads hold whatever they hold meanwhile.

Each sleep shorter than `MAX_SLEEP_S` is attributed to the resource of the thread's last call
with a target (a file, socket or pipe, or the path a path call names) when the sleep began at
most `RECENT_S` after the thread's previous call of interest ended: that attempt, or an
earlier sleep of the same loop (SQLite's busy handler may sleep several times between
attempts, checking its in-process lock without a syscall). A sleep *escalates* when it is
longer than the same thread's previous sleep on the same resource by `ESCALATION` or more
and began within `RETRY_GAP_S` of it (SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20,
25, 25, 25, 50, 50, 100 ms), and counts only within a run of `ESCALATION_RUN` escalations
in a row: a backoff escalates step after step, while sleeps of random length (a stalled
consumer's think time) escalate now and then. A (process, resource) is reported when its
sleeps add up to `PassConfig.sleep_retry_min_s` and either several threads sleep on it or
the sleeps escalate (`MIN_ESCALATIONS`): one thread with a steady period is a poll loop or a
heartbeat, not contention. ``cost_s`` is the total sleep.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer.arrays import is_in
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_calls import call_durations
from analyzer.derive.strace_families import SLEEPS
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs, Resource, Severity
from analyzer.passes.call_names import calls_named
from analyzer.passes.call_slices import slices, taken
from analyzer.passes.common import cited_lines, numbers, plural, stable_order
from analyzer.passes.targets import (
    coded_slice_paths,
    describe,
    resources,
    slice_paths,
    target_classes,
    trace_resources,
)

CODE = "IOD012"
KIND = "sleep_retry"
MAX_FINDINGS = 10
MAX_SLEEP_S = 1.0
"""Longer sleeps are pacing (a scheduler, a heartbeat), not a retry."""
RECENT_S = 0.02
"""A sleep belongs to the resource of a call that ended at most this long before it (the
thread may wait for the GIL in between)."""
RETRY_GAP_S = 0.05
"""Two sleeps of one thread this close together are one retry loop."""
ESCALATION = 1.3
ESCALATION_RUN = 3
"""Escalations count only in runs of this many in a row (a backoff, not jitter)."""
MIN_ESCALATIONS = 3
MIN_SLEEPS = 5
SEVERE_SHARE = 0.5
"""Sleepers that spent this share of their time asleep on the resource make an error."""

SQLITE_FILE = re.compile(r"\.(?:sqlite3?|db3?)(?:-journal|-wal|-shm)?$|-journal$")
SQLITE_SIDE_FILE = re.compile(r"-(?:journal|wal|shm)$")
"""A SQLite database's journal, WAL and shared-memory files are the same database."""


def _database_codes(codes: np.ndarray, names: list[str]) -> np.ndarray:
    """`codes` (into `names`) with each SQLite side file replaced by its database's code
    when the database itself is among `names`."""
    unique = np.unique(codes)
    merged = unique.copy()
    side_files = [
        i for i, code in enumerate(unique.tolist()) if SQLITE_SIDE_FILE.search(names[code])
    ]
    if side_files:
        position = {name: code for code, name in enumerate(names)}
        for index in side_files:
            name = names[int(unique[index])]
            merged[index] = position.get(SQLITE_SIDE_FILE.sub("", name), int(unique[index]))
    return merged[np.searchsorted(unique, codes)]


def _escalations(
    sleeps: pd.DataFrame, names: list[str], classes: list[str | None]
) -> tuple[pd.DataFrame, list[str], list[str | None]]:
    """`sleeps` (by thread, then time) with `escalates` per sleep."""
    previous = sleeps.groupby(["tid", "resource"], sort=False)
    prior_duration = previous["duration"].shift()
    prior_end = previous["start"].shift() + prior_duration
    escalates = (sleeps["duration"] >= ESCALATION * prior_duration) & (
        sleeps["start"] - prior_end <= RETRY_GAP_S
    )
    # A backoff escalates step after step (SQLite: 1, 2, 5, 10, 15, 20 ms ...); sleeps of
    # random length (a stalled reader's think time) escalate now and then, one step at a
    # time. Only escalations in a run of `ESCALATION_RUN` in a row count.
    run_id = (~escalates).groupby([sleeps["tid"], sleeps["resource"]], sort=False).cumsum()
    run_length = escalates.groupby(
        [sleeps["tid"], sleeps["resource"], run_id], sort=False
    ).transform("sum")
    sleeps["escalates"] = escalates & (run_length >= ESCALATION_RUN)
    return sleeps, names, classes


def _short_sleeps(trace: StraceTables) -> np.ndarray:
    """The durations of the short sleeps, in row order (a slice at a time)."""
    parts = [np.zeros(0)]
    for offset, part in slices(trace.syscalls, ["syscall", "duration_s", "start_s", "end_s"]):
        sleeps = np.flatnonzero(calls_named(trace, offset, part, SLEEPS))
        # (row by row: the sleeps' figures alone, a call in a hundred)
        durations = call_durations(part.select(["duration_s", "start_s", "end_s"]).take(sleeps))
        parts.append(durations[durations < MAX_SLEEP_S])
    return np.concatenate(parts)


class _NotInOrder(Exception):
    """A thread's calls are not in time order in the table: the slice-wise walk does not
    apply."""


def _attributed_sleeps(
    trace: StraceTables, config: PassConfig
) -> tuple[pd.DataFrame, list[str], list[str | None]] | None:
    """The short sleeps that follow a call on a resource (its code in `resource`, SQLite
    side files merged into their database) with `escalates` per sleep, and the resources'
    names and classes; None when the trace has too few short sleeps to matter.

    Only sleeps and calls with a resource matter, walked per thread in time order: the call
    before a sleep is the previous such call of the thread, the attempt it retries the
    thread's last call with a resource. A slice at a time, carrying each thread's last call
    across slices, when each thread's calls are in time order in the table (strace writes
    them so); the whole-trace sort otherwise."""
    short = _short_sleeps(trace)
    if len(short) < MIN_SLEEPS or short.sum() < config.sleep_retry_min_s:
        return None
    try:
        return _attributed_by_slices(trace)
    except _NotInOrder:
        return _attributed_whole(trace, config)


class _Names:
    """Resource codes given as resources are needed (those of attributed sleeps), not to
    every resource of the trace (a long trace has one per connection)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.classes: list[str | None] = []
        self._codes: dict[str, int] = {}

    def code(self, name: str, target_class: str | None) -> int:
        if name not in self._codes:
            self._codes[name] = len(self.names)
            self.names.append(name)
            self.classes.append(target_class)
        return self._codes[name]

    def entries(self, targets: pa.Array, entries: np.ndarray) -> np.ndarray:
        """The codes of the resources of these entries of a slice's distinct targets (a
        resource's class is that of any of its targets)."""
        unique, inverse = np.unique(entries, return_inverse=True)
        picked = targets.take(pa.array(unique, pa.int64()))
        codes = [
            self.code(name, cls)
            for name, cls in zip(
                resources(picked).to_pylist(), target_classes(picked).to_pylist(), strict=True
            )
        ]
        return np.array(codes, dtype=np.int64)[inverse]


def _databases_present(trace: StraceTables, wanted: set[str]) -> dict[str, str | None]:
    """Which of the resource names `wanted` some call of the trace is on, with the class of
    its first target (a second scan, only when a SQLite side file was slept on)."""
    found: dict[str, str | None] = {}
    for offset, part in slices(trace.syscalls, ["target", "fd", "args"]):
        targets = slice_paths(trace, offset, part).dictionary
        if len(targets) == 0:
            continue
        names = resources(targets).to_pylist()
        hits = [i for i, name in enumerate(names) if name in wanted and name not in found]
        if hits:
            classes = target_classes(targets.take(pa.array(hits, pa.int64()))).to_pylist()
            for index, cls in zip(hits, classes, strict=True):
                found.setdefault(names[index], cls)
    return found


def _attributed_by_slices(
    trace: StraceTables,
) -> tuple[pd.DataFrame, list[str], list[str | None]] | None:
    calls = trace.syscalls
    named = _Names()
    last_start: dict[int, float] = {}
    last_end: dict[int, float] = {}
    last_code: dict[int, int] = {}
    found: list[tuple[np.ndarray, ...]] = []
    columns = ["syscall", "tid", "start_s", "duration_s", "end_s", "target", "fd", "args"]
    for offset, part in slices(calls, columns):
        durations = call_durations(part)
        sleeping = calls_named(trace, offset, part, SLEEPS) & (durations < MAX_SLEEP_S)
        paths = coded_slice_paths(trace, offset, part)
        encoded = paths.encoded
        entry = paths.codes.astype(np.int64)
        targeted = ~sleeping & (entry >= 0)
        tids, starts = numbers(part["tid"]), numbers(part["start_s"])
        kept = np.flatnonzero((targeted | sleeping) & ~np.isnan(tids) & ~np.isnan(starts))
        if len(kept) == 0:
            continue
        order = kept[stable_order(tids[kept])]
        tid, start = tids[order], starts[order]
        end = start + np.nan_to_num(durations[order])
        positions = np.arange(len(order))
        continues = np.r_[False, tid[1:] == tid[:-1]]
        if np.any(continues[1:] & (start[1:] < start[:-1])):
            raise _NotInOrder
        firsts = np.flatnonzero(~continues)
        lasts = np.r_[firsts[1:] - 1, len(order) - 1]
        first_tids = tid[firsts].tolist()
        carried_start = np.array([last_start.get(int(t), -np.inf) for t in first_tids])
        if np.any(start[firsts] < carried_start):
            raise _NotInOrder
        thread_first = np.maximum.accumulate(np.where(continues, 0, positions))
        previous_end = np.where(continues, np.r_[np.nan, end[:-1]], np.nan)
        previous_end[firsts] = [last_end.get(int(t), np.nan) for t in first_tids]
        last_attempt = np.maximum.accumulate(np.where(targeted[order], positions, -1))
        here = last_attempt >= thread_first
        carried = np.array([last_code.get(int(t), -1) for t in first_tids], np.int64)
        attempt_codes = np.where(here, -1, carried[np.cumsum(~continues) - 1])
        chosen = (
            sleeping[order] & (here | (attempt_codes >= 0)) & (start - previous_end <= RECENT_S)
        )
        # the codes of the attempts a chosen sleep or the next slice needs
        needed = np.zeros(len(order), dtype=bool)
        needed[lasts] = True
        needed = np.flatnonzero(here & (needed | chosen))
        if len(needed):
            entries = entry[order[last_attempt[needed]]]
            attempt_codes[needed] = named.entries(encoded.dictionary, entries)
        if chosen.any():
            rows = order[chosen]
            found.append(
                (offset + rows, tid[chosen], start[chosen], durations[rows], attempt_codes[chosen])
            )
        for index, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            thread = int(tid[index])
            last_start[thread] = float(start[last])
            last_end[thread] = float(end[last])
            if attempt_codes[last] >= 0:
                last_code[thread] = int(attempt_codes[last])
    if not found:
        return None
    rows, tid, start, duration, codes = (np.concatenate(c) for c in zip(*found, strict=True))
    by_thread = np.lexsort((rows, tid))
    rows, tid, start, duration, codes = (
        rows[by_thread],
        tid[by_thread],
        start[by_thread],
        duration[by_thread],
        codes[by_thread],
    )
    # A side file counts as its database when the database is among the trace's resources.
    bases = {
        SQLITE_SIDE_FILE.sub("", named.names[code])
        for code in np.unique(codes).tolist()
        if SQLITE_SIDE_FILE.search(named.names[code])
    }
    if bases:
        for name, cls in _databases_present(trace, bases).items():
            named.code(name, cls)
    sleeps = pd.DataFrame(
        {
            "row": rows,
            "tid": tid,
            "pid": numbers(taken(calls, ["pid"], rows)["pid"]),
            "start": start,
            "duration": duration,
            "resource": _database_codes(codes, named.names),
        }
    )
    return _escalations(sleeps, named.names, named.classes)


def _attributed_whole(
    trace: StraceTables, config: PassConfig
) -> tuple[pd.DataFrame, list[str], list[str | None]] | None:
    """The short sleeps that follow a call on a resource (its code in `resource`, SQLite
    side files merged into their database) with `escalates` per sleep, and the resources'
    names and classes; None when the trace has too few short sleeps to matter.

    Only sleeps and calls with a resource matter, so only they are sorted (by thread and
    time): the call before a sleep is then the previous kept row of the same thread, and
    the attempt it retries the last kept row with a resource.

    The whole-trace way, for traces whose calls are not in time order within a thread."""
    calls = trace.syscalls
    durations = call_durations(calls)
    sleeping = is_in(calls["syscall"], SLEEPS) & (durations < MAX_SLEEP_S)
    if sleeping.sum() < MIN_SLEEPS or durations[sleeping].sum() < config.sleep_retry_min_s:
        return None
    encoded = trace_resources(trace)
    tids, starts = numbers(calls["tid"]), numbers(calls["start_s"])
    targeted = ~sleeping & (encoded.codes >= 0)
    kept = np.flatnonzero((targeted | sleeping) & ~np.isnan(tids) & ~np.isnan(starts))
    order = kept[np.lexsort((kept, starts[kept], tids[kept]))]
    tid, start = tids[order], starts[order]
    end = start + np.nan_to_num(durations[order])
    positions = np.arange(len(order))
    continues = np.r_[False, tid[1:] == tid[:-1]]
    thread_first = np.maximum.accumulate(np.where(continues, 0, positions))
    # When the call before a sleep ended: an attempt on a resource or an earlier sleep (a
    # retry loop may sleep several times between attempts: SQLite's busy handler checks
    # its in-process lock without a syscall).
    previous_end = np.where(continues, np.r_[np.nan, end[:-1]], np.nan)
    last_attempt = np.maximum.accumulate(np.where(targeted[order], positions, -1))
    chosen = sleeping[order] & (last_attempt >= thread_first) & (start - previous_end <= RECENT_S)
    rows = order[chosen]
    if len(rows) == 0:
        return None
    resources = encoded.codes[order[last_attempt[chosen]]]
    return _escalations(
        pd.DataFrame(
            {
                "row": rows,
                "tid": tid[chosen],
                "pid": numbers(calls["pid"])[rows],
                "start": start[chosen],
                "duration": durations[rows],
                "resource": _database_codes(resources, encoded.names),
            }
        ),
        encoded.names,
        encoded.classes,
    )


def _peak_sleepers(starts: np.ndarray, ends: np.ndarray) -> tuple[int, float]:
    """Most sleeps in progress at once and when (ends before starts at equal times)."""
    times = np.concatenate([ends, starts])
    steps = np.concatenate([-np.ones(len(ends)), np.ones(len(starts))])
    order = np.lexsort((steps, times))
    running = np.cumsum(steps[order])
    at = int(np.argmax(running))
    return int(running[at]), float(times[order][at])


def _story(resource: str | None) -> tuple[str, str]:
    """What the retry loop probably is, and its fix."""
    if resource and SQLITE_FILE.search(resource):
        return (
            " It looks like SQLite's busy handler: a connection found the database locked "
            "by another writer and sleeps before trying again (busy_timeout turns the wait "
            "for the lock into these sleeps).",
            "Writers are serialised on the database lock: use WAL mode (`PRAGMA "
            "journal_mode=WAL`) so readers and the writer do not block each other, keep "
            "write transactions short, and send writes through one connection or a queue "
            "instead of many threads retrying.",
        )
    return (
        "",
        "Replace sleep-and-retry with a blocking wait on the thing itself (a lock, a "
        "condition variable or queue, inotify for a file, a socket readiness wait), or "
        "shorten what holds the resource: each retry adds up to its sleep to the latency.",
    )


def _severity(total_s: float, share: float | None) -> Severity:
    return "error" if share is not None and share >= SEVERE_SHARE and total_s >= 1.0 else "warning"


def trace_findings(trace: StraceTables, config: PassConfig) -> list[Finding]:
    """The sleep_retry findings of one trace."""
    if trace.syscalls.num_rows == 0:
        return []
    found = _attributed_sleeps(trace, config)
    if found is None:
        return []
    sleeps, names, classes = found
    sleeps["pid_key"] = sleeps["pid"].fillna(-1).astype(np.int64)
    groups = (
        sleeps.groupby(["pid_key", "resource"], sort=False)
        .agg(
            count=("duration", "size"),
            total_s=("duration", "sum"),
            max_s=("duration", "max"),
            threads=("tid", "nunique"),
            escalations=("escalates", "sum"),
        )
        .reset_index()
    )
    keep = (
        (groups["total_s"] >= config.sleep_retry_min_s)
        & (groups["count"] >= MIN_SLEEPS)
        & ((groups["threads"] >= 2) | (groups["escalations"] >= MIN_ESCALATIONS))
    )
    groups = groups[keep].sort_values("total_s", ascending=False).head(MAX_FINDINGS)
    findings = []
    for group in groups.itertuples(index=False):
        members = sleeps[
            (sleeps["pid_key"] == group.pid_key) & (sleeps["resource"] == group.resource)
        ]
        findings.append(_finding(trace, members, group, names, classes, config))
    return findings


def _finding(
    trace: StraceTables,
    members: pd.DataFrame,
    group: Any,
    names: list[str],
    classes: list[str | None],
    config: PassConfig,
) -> Finding:
    resource = names[int(group.resource)]
    where = describe(classes[int(group.resource)], resource)
    starts = members["start"].to_numpy()
    ends = starts + members["duration"].to_numpy()
    peak, peak_at = _peak_sleepers(starts, ends)
    tids = sorted(int(tid) for tid in members["tid"].unique())
    total_s = float(group.total_s)
    share = total_s / (len(tids) * trace.wall_s) if trace.wall_s else None
    durations_ms = sorted({round(value * 1e3) for value in members["duration"]})
    escalating = int(group.escalations) >= MIN_ESCALATIONS
    story, fix = _story(resource)
    spent = f"; {share:.0%} of their time" if share is not None else ""
    pattern = (
        f", with escalating sleeps ({durations_ms[0]} ms up to {durations_ms[-1]} ms)"
        if escalating
        else f" ({durations_ms[0]}–{durations_ms[-1]} ms each)"
    )
    message = (
        f"{plural(len(tids), 'thread')} slept {plural(int(group.count), 'time')}, "
        f"{total_s:.3f} s in total (up to {peak} at once{spent}), each right after a call "
        f"on {where} or another such sleep{pattern}: a sleep-and-retry loop waiting for the "
        f"resource, not a wait the kernel can end as soon as the resource is free.{story}"
    )
    longest = members.sort_values("duration", ascending=False).head(config.max_samples)
    pid = int(group.pid_key)
    evidence: dict[str, Any] = {
        "resource": resource,
        "target_kind": classes[int(group.resource)],
        "sleeps": int(group.count),
        "sleep_total_s": total_s,
        "max_sleep_s": float(group.max_s),
        "threads": tids[: config.max_samples * 4],
        "thread_count": len(tids),
        "peak_sleepers": peak,
        "peak_at": peak_at,
        "escalations": int(group.escalations),
        "escalating": escalating,
        "share_of_time_sleeping": share,
        "sqlite": bool(SQLITE_FILE.search(resource)),
        "threshold_s": config.sleep_retry_min_s,
    }
    title = f"{plural(len(tids), 'thread')} sleep-retrying on {where}"
    return Finding(
        code=CODE,
        kind=KIND,
        severity=_severity(total_s, share),
        title=title,
        message=message,
        evidence=evidence,
        fix=fix,
        input=trace.input,
        pid=pid if pid >= 0 else None,
        tid=tids[0] if len(tids) == 1 else None,
        start=float(starts.min()),
        duration_s=float(ends.max() - starts.min()),
        cost_s=total_s,
        lines=tuple(
            int(line) for line in _lines(trace, longest["row"].to_numpy()) if not np.isnan(line)
        ),
        resource=Resource(classes[int(group.resource)] or "other", resource, where),
    )


def _lines(trace: StraceTables, rows: np.ndarray) -> np.ndarray:
    """`cited_lines` of the calls at `rows` (read at those rows only)."""
    return cited_lines(taken(trace.syscalls, ["line_start", "line_end"], rows))


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [finding for trace in inputs.traces for finding in trace_findings(trace, config)]


PASS = Pass(CODE, KIND, run, __doc__ or "")
