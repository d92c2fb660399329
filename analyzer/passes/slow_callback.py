"""IOD003 slow_callback: the asyncio steps that held the event loop, by code location.

From the ``slow_callback`` rows of `loop_events` (asyncio debug mode's ``Executing <...>
took X seconds``): one finding per input and code location (the callback's ``file:line``,
or for a task step the line where the coroutine stopped at its next ``await``; ``done,
defined at`` when the step ran to its end) and coroutine or callback, with count, total,
max, p95, first and last time, the task names and the log lines. The costliest
`MAX_GROUPS` groups per input become findings; ``cost_s`` is the group's total. Severity:
error when one step held the loop `ERROR_MAX_S` or all of them `ERROR_TOTAL_S`, else warning.

The log only has steps of at least ``loop.slow_callback_duration`` (0.1 s unless the
application changed it; the evidence gives the smallest logged step) and uvloop does not
time protocol callbacks; the evidence says both.

Correlation: when strace traces of the same run are given, the earlier ``blocked_loop``
findings hold the episodes in which the loop thread stayed away from its wait. Each timed
slow step is matched to the episode that contains it (`clock_alignment` puts the log on
the trace's clock) and the finding gains what strace saw in it: the blocking calls, the
CPU time with no syscall, and (when blocked_loop carries them) the hot perf stacks. Steps
that match nothing are listed as unmatched with the reason. A log without timestamps
cannot be matched; the evidence then only lists the strace episodes of the same length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.derive.asyncio import DEFAULT_SLOW_CALLBACK_S, RowValues, first_codes, pair_codes
from analyzer.derive.clock_alignment import Alignment, align, assign, clock_text
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs
from analyzer.passes.causes import CAUSES
from analyzer.passes.common import numbers, short_location, text_or_none

CODE = "IOD003"
KIND = "slow_callback"
BLOCKED_LOOP = "blocked_loop"
MAX_GROUPS = 20
"""Findings per log at most (largest total first); the asyncio report section has all."""
ERROR_MAX_S = 1.0
ERROR_TOTAL_S = 10.0
"""A group is an error when one step held the loop this long, or all of them together did."""
MIN_PART_S = 0.005
MIN_PART_SHARE = 0.05
"""What strace saw in an episode is named only if it took this long and this share of it."""
FIX_SHARE = 0.2
"""A cause gets its fix when it holds this share of the matched blocked time."""
MAX_EPISODES_IN_MESSAGE = 3
SAME_LENGTH_S = 0.005
"""A strace episode this close in length to an untimed step is listed as 'same length'."""

_COLUMNS = [
    "input",
    "line_start",
    "time",
    "time_s",
    "logger",
    "pid",
    "duration_s",
    "repr_class",
    "task_name",
    "coro",
    "callback",
    "location",
    "created_at",
    "uvloop",
]
_STEP_RE = r"coro=<.*? (?P<state>running|defined) at "
_TRANSPORT_READS = ("_read_ready", "_read_ready__data_received", "_read_ready__get_buffer")

# Unmatched reasons, most informative first: a row keeps the first that applies to it.
NO_EPISODE = "no strace episode at this time"
NOT_LISTED = "no listed strace episode at this time (blocked_loop lists only the longest episodes)"
OUTSIDE_TRACE = "outside the time the trace covers"
NOT_ALIGNED = "the log and trace clocks could not be aligned"
NO_TIMESTAMP = "the log line has no timestamp"
NO_STRACE_LOOP = "strace saw no blocked event loop"
_REASON_ORDER = (
    NO_EPISODE,
    NOT_LISTED,
    OUTSIDE_TRACE,
    NOT_ALIGNED,
    NO_STRACE_LOOP,
    NO_TIMESTAMP,
)


@dataclass(frozen=True)
class TraceEpisodes:
    """The blocked-loop episodes earlier findings report for one trace, on its clock."""

    input: str
    clock: str | None
    first_s: float | None
    last_s: float | None
    start: np.ndarray
    end: np.ndarray
    records: list[dict[str, Any]]
    """Each episode's blocked_loop evidence plus ``loop_tid`` and ``pid``."""
    unlisted: int = 0
    """Episodes blocked_loop counted but did not list (it lists the longest)."""


@dataclass(frozen=True)
class Matches:
    """Which episode holds each slow row of one log (-1: none) and why not."""

    trace: np.ndarray
    episode: np.ndarray
    reason: np.ndarray
    """Index into `_REASON_ORDER` of why a row matched nothing (-1 when it matched)."""
    alignments: list[Alignment]

    def why(self, row: int) -> str | None:
        return _REASON_ORDER[self.reason[row]] if self.reason[row] >= 0 else None


@dataclass(frozen=True)
class Steps:
    """The slow_callback rows of one log: their numbers as numpy columns, with their group
    codes, and their other values read only for the rows a finding shows (`values`)."""

    input: str
    rows: RowValues
    duration: np.ndarray
    time_s: np.ndarray
    group: np.ndarray
    """Group code per row: one per (location, coroutine or callback)."""
    uvloop: bool
    loggers: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.duration)

    def values(self, name: str, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        return self.rows.values(name, positions)

    def row(self, index: int) -> dict[str, Any]:
        row = self.rows.row(index, [*_COLUMNS, "text"])
        text = row.pop("text")
        row["state"] = step_states(pa.chunked_array([pa.array([text], pa.string())]))[0]
        return row

    @classmethod
    def of(
        cls,
        events: pa.Table,
        rows: np.ndarray,
        name: str,
        location: np.ndarray,
        subject: np.ndarray,
    ) -> Steps:
        """The rows `rows` of `events` (ascending); `location` and `subject`: the codes of
        every event's location and coroutine-or-callback (`first_codes`)."""
        duration = numbers(events["duration_s"])[rows]
        mask = np.zeros(events.num_rows, dtype=bool)
        mask[rows] = True
        chosen = pa.array(mask)
        return cls(
            input=name,
            rows=RowValues(events, rows),
            duration=duration,
            time_s=numbers(events["time_s"])[rows],
            group=pair_codes(location[rows], subject[rows]),
            uvloop=bool(pc.any(pc.fill_null(events["uvloop"].filter(chosen), False)).as_py()),
            loggers=tuple(pc.unique(events["logger"].filter(chosen)).drop_null().to_pylist()),
        )


def trace_episodes(inputs: PassInputs) -> list[TraceEpisodes]:
    """Episodes of the earlier blocked_loop findings, per trace, sorted by start."""
    traces = {trace.input: trace for trace in inputs.traces}
    per_input: dict[str, list[dict[str, Any]]] = {name: [] for name in traces}
    unlisted: dict[str, int] = {}
    for finding in inputs.earlier:
        if finding.kind != BLOCKED_LOOP or finding.input is None:
            continue
        loop_tid = finding.evidence.get("loop_tid", finding.tid)
        listed = finding.evidence.get("episodes") or ()
        total = finding.evidence.get("episode_count", len(listed))
        unlisted[finding.input] = unlisted.get(finding.input, 0) + int(total) - len(listed)
        for episode in listed:
            if episode.get("start") is None or episode.get("duration_s") is None:
                continue
            record = {**episode, "loop_tid": loop_tid, "pid": finding.pid}
            per_input.setdefault(finding.input, []).append(record)
    result = []
    for name, records in per_input.items():
        records.sort(key=lambda episode: float(episode["start"]))
        start = np.array([float(e["start"]) for e in records], dtype=np.float64)
        duration = np.array([float(e["duration_s"]) for e in records], dtype=np.float64)
        trace = traces.get(name)
        result.append(
            TraceEpisodes(
                input=name,
                clock=trace.clock if trace else None,
                first_s=trace.first_s if trace else None,
                last_s=trace.last_s if trace else None,
                start=start,
                end=start + duration,
                records=records,
                unlisted=unlisted.get(name, 0),
            )
        )
    return result


def match_steps(
    log_end: np.ndarray,
    log_duration: np.ndarray,
    all_times: np.ndarray,
    traces: Sequence[TraceEpisodes],
    config: PassConfig,
) -> Matches:
    """Match each slow step of one log (its end time and length) to the strace episode that
    holds it; `all_times` are the times of all the log's records (for its resolution)."""
    count = len(log_end)
    trace_of = np.full(count, -1, dtype=np.int64)
    episode_of = np.full(count, -1, dtype=np.int64)
    rank: np.ndarray = np.full(count, _REASON_ORDER.index(NO_STRACE_LOOP), dtype=np.int64)
    alignments = []
    for index, trace in enumerate(traces):
        alignment = align(
            trace.input,
            trace.clock,
            trace.first_s,
            trace.last_s,
            log_end,
            log_duration,
            all_times,
            trace.start,
            trace.end,
            config.clock_offset_s,
        )
        alignments.append(alignment)
        chosen = assign(log_end, log_duration, trace.start, trace.end, alignment)
        new = (chosen >= 0) & (trace_of < 0)
        trace_of[new], episode_of[new] = index, chosen[new]
        if alignment.offset_s is None:
            here = _REASON_ORDER.index(NOT_ALIGNED if len(trace.start) else NO_STRACE_LOOP)
            rank = np.minimum(rank, here)
            continue
        shifted = log_end + alignment.offset_s
        inside = (shifted >= (trace.first_s or -np.inf)) & (shifted <= (trace.last_s or np.inf))
        no_episode = _REASON_ORDER.index(NOT_LISTED if trace.unlisted else NO_EPISODE)
        reasons = np.where(inside, no_episode, _REASON_ORDER.index(OUTSIDE_TRACE))
        rank = np.minimum(rank, reasons)
    rank = np.where(np.isnan(log_end), _REASON_ORDER.index(NO_TIMESTAMP), rank)
    return Matches(trace_of, episode_of, np.where(trace_of >= 0, -1, rank), alignments)


def step_states(text: pa.ChunkedArray) -> np.ndarray:
    """``running`` (the task stopped at an await), ``defined`` (it finished) or None."""
    state = pc.struct_field(pc.extract_regex(text, _STEP_RE), "state")
    state = pc.if_else(pc.equal(state, ""), pa.scalar(None, pa.string()), state)
    return np.asarray(state.to_numpy(zero_copy_only=False), dtype=object)


def _subject(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """(who, where, note) of a slow step: ``handle()``, how to find its code, a hint."""
    location, created = text_or_none(row["location"]), text_or_none(row["created_at"])
    coro = text_or_none(row["coro"])
    if coro:
        who = f"{coro}()"
        if row["state"] == "running" and location:
            return (
                who,
                f"a step of coroutine {who} that stopped at the await at {location}",
                "The blocking code runs between the previous await and that line.",
            )
        if row["state"] == "defined" and location:
            return (
                who,
                f"the last step of coroutine {who} (defined at {location})",
                "The blocking code runs after its last await.",
            )
        return who, f"a step of coroutine {who}" + (f" at {location}" if location else ""), ""
    who = text_or_none(row["callback"]) or "an unnamed callback"
    where = f"callback {who}"
    if location:
        where += f" at {location}"
    elif created:
        where += f" (scheduled at {created})"
    note = ""
    if who.endswith(_TRANSPORT_READS):
        note = (
            "It is a transport delivering received data: the time is spent in the "
            "protocol's data_received or buffer_updated."
        )
    return who, where, note


def _code_of(who: str) -> str:
    """The code to fix for a step: a transport's read callback runs the protocol's."""
    if who.endswith(_TRANSPORT_READS):
        return f"the protocol's data_received/buffer_updated (called by {who})"
    return who


def _matched_episode(row: Mapping[str, Any], trace: TraceEpisodes, index: int) -> dict[str, Any]:
    """A matched step: its log line and time, and everything blocked_loop said about the
    episode (calls, CPU time, lines, hot perf stacks ...), carried as is."""
    episode = trace.records[index]
    carried = {key: value for key, value in episode.items() if key not in ("start", "pid")}
    return {
        "log_line": int(row["line_start"]),
        "log_time": row["time_s"],
        "log_time_text": text_or_none(row["time"]),
        "log_duration_s": row["duration_s"],
        "strace_input": trace.input,
        "strace_start": float(episode["start"]),
        "strace_time_text": clock_text(float(episode["start"]), trace.clock),
        **carried,
        "top_calls": list(episode.get("top_calls") or []),
        "cause": episode.get("cause"),
    }


def _strace_summary(matched: Sequence[tuple[TraceEpisodes, dict[str, Any]]]) -> dict[str, Any]:
    """What strace saw over the distinct episodes matched to one group (in time order).

    ``causes`` are the causes that held at least `FIX_SHARE` of some episode, with their
    total over all of them, largest first: they pick the fixes.
    """
    episodes = [episode for _, episode in matched]
    calls: dict[tuple[str, str | None], dict[str, Any]] = {}
    causes: dict[str, float] = {}
    significant: set[str] = set()
    for episode in episodes:
        for call in episode.get("top_calls") or ():
            key = (call.get("syscall"), call.get("target"))
            merged = calls.setdefault(
                key, {**{k: v for k, v in call.items() if k != "line"}, "total_s": 0.0, "count": 0}
            )
            merged["total_s"] += float(call.get("total_s") or 0.0)
            merged["count"] += int(call.get("count") or 1)
        duration = float(episode["duration_s"])
        parts = _blocking_parts(episode.get("top_calls") or (), _cpu(episode), duration)
        for seconds, cause, _ in parts:
            causes[cause] = causes.get(cause, 0.0) + seconds
            if seconds >= FIX_SHARE * duration and cause in CAUSES and cause != "other":
                significant.add(cause)
    ranked = sorted(significant, key=lambda cause: -causes[cause])
    return {
        "episodes": len(episodes),
        "blocked_s": sum(float(e["duration_s"]) for e in episodes),
        "cpu_s": sum(_cpu(e) for e in episodes),
        "top_calls": sorted(calls.values(), key=lambda call: -call["total_s"]),
        "causes": [
            {"cause": cause, "label": CAUSES[cause].label, "total_s": causes[cause]}
            for cause in ranked
        ],
        "loop_tids": sorted({e["loop_tid"] for e in episodes if e.get("loop_tid") is not None}),
    }


def _cpu(episode: dict[str, Any]) -> float:
    return float(episode.get("cpu_s") or 0.0)


def _blocking_parts(
    top_calls: Sequence[dict[str, Any]], cpu_s: float, blocked_s: float
) -> list[tuple[float, str, str]]:
    """(seconds, cause, words) of what held a loop thread, largest first.

    ``cause`` is a key of blocked_loop's `CAUSES`. Calls shorter than `MIN_PART_S` or
    `MIN_PART_SHARE` of the blocked time are noise (the loop's own epoll_ctl, a log write).
    """
    floor = max(MIN_PART_S, MIN_PART_SHARE * blocked_s)
    parts = []
    for call in top_calls:
        seconds = float(call.get("total_s") or 0.0)
        if seconds < floor:
            continue
        cause, target = str(call.get("cause") or "other"), call.get("target")
        words = f"in {call.get('syscall')}" + (f" on {target}" if target else "")
        words += f" for {seconds:.3f} s"
        if cause in CAUSES and cause != "other":
            words += f" ({CAUSES[cause].label})"
        parts.append((seconds, cause, words))
    if cpu_s >= floor:
        words = f"on CPU for ~{cpu_s:.3f} s with no syscall ({CAUSES['cpu'].label})"
        parts.append((cpu_s, "cpu", words))
    return sorted(parts, key=lambda part: -part[0])


def strace_sentence(
    summary: dict[str, Any], matched: Sequence[tuple[TraceEpisodes, dict[str, Any]]]
) -> str:
    """What strace saw while the group's steps ran, per episode when there are few."""
    tids = summary["loop_tids"]
    thread = f"loop thread {tids[0]}" if len(tids) == 1 else "the loop threads"
    if summary["episodes"] <= MAX_EPISODES_IN_MESSAGE:
        sentences = []
        for trace, episode in matched:
            duration = float(episode["duration_s"])
            parts = _blocking_parts(episode.get("top_calls") or (), _cpu(episode), duration)
            words = " and ".join(part[2] for part in parts[:2]) or "with no call to blame"
            when = clock_text(float(episode["start"]), trace.clock)
            sentences.append(f"{words} in the {duration:.3f} s episode at {when}")
        return f"strace shows {thread} " + "; ".join(sentences) + "."
    parts = _blocking_parts(summary["top_calls"], summary["cpu_s"], summary["blocked_s"])
    words = "; ".join(part[2] for part in parts[:3]) or "with no call to blame"
    return (
        f"Over the {summary['episodes']} matching episodes ({summary['blocked_s']:.3f} s), "
        f"strace shows {thread} {words}."
    )


def fix_for(who: str, where: str | None, summary: dict[str, Any] | None) -> str:
    """The mitigation for a slow step: blocked_loop's fix for each cause that held a
    matched episode (the summary's ``causes``), else the general advice."""
    place = f"{who} ({where})" if where else who
    if summary is not None and summary["causes"]:
        fixes = " ".join(CAUSES[item["cause"]].fix for item in summary["causes"])
        return f"In {place}: {fixes}"
    return (
        f"Find what blocks in {place}: replace time.sleep with await asyncio.sleep; move "
        "blocking I/O (files, requests, database drivers, DNS) to await asyncio.to_thread(...) "
        "or loop.run_in_executor; offload CPU-heavy work to a ProcessPoolExecutor or split "
        "it. strace -f -tt -T of the process alongside this log shows which call blocks."
    )


def _same_length(duration: float, traces: Sequence[TraceEpisodes]) -> list[dict[str, Any]]:
    """Strace episodes as long as an untimed step (a hint, not a match)."""
    found = []
    for trace in traces:
        close = np.flatnonzero(np.abs((trace.end - trace.start) - duration) <= SAME_LENGTH_S)
        for index in close:
            episode = trace.records[index]
            found.append(
                {
                    "strace_input": trace.input,
                    "strace_start": float(episode["start"]),
                    "strace_time_text": clock_text(float(episode["start"]), trace.clock),
                    "loop_tid": episode.get("loop_tid"),
                    "duration_s": float(episode["duration_s"]),
                    "cpu_s": episode.get("cpu_s"),
                    "top_calls": list(episode.get("top_calls") or [])[:3],
                }
            )
    return found


def _paired_lengths(durations: np.ndarray, traces: Sequence[TraceEpisodes]) -> int:
    """How many of these untimed steps each have an episode of the same length (within
    `SAME_LENGTH_S`) on one loop thread, no episode counted twice (longest steps first)."""
    best = 0
    for trace in traces:
        lengths = trace.end - trace.start
        tids = np.array([episode.get("loop_tid") for episode in trace.records], dtype=object)
        for tid in dict.fromkeys(tids.tolist()):
            pool = sorted(lengths[tids == tid].tolist())
            paired = 0
            for duration in sorted(durations.tolist(), reverse=True):
                close = [
                    i for i, length in enumerate(pool) if abs(length - duration) <= SAME_LENGTH_S
                ]
                if close:
                    pool.pop(min(close, key=lambda i: abs(pool[i] - duration)))
                    paired += 1
            best = max(best, paired)
    return best


def _correlation(
    steps: Steps,
    members: np.ndarray,
    matches: Matches,
    traces: Sequence[TraceEpisodes],
    config: PassConfig,
) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """What strace adds to one group (`members`, slowest first): the evidence keys, the
    sentences for the message and the summary of the matched episodes (None if none)."""
    is_matched = matches.trace[members] >= 0
    matched_positions, unmatched_positions = members[is_matched], members[~is_matched]
    matched = [
        _matched_episode(steps.row(p), traces[matches.trace[p]], matches.episode[p])
        for p in matched_positions[: config.max_samples].tolist()
    ]
    shown = unmatched_positions[: config.max_samples]
    unmatched = [
        {
            "log_line": int(line),
            "log_time": steps.time_s[p],
            "log_time_text": text_or_none(time),
            "duration_s": float(steps.duration[p]),
            "reason": matches.why(p),
        }
        for p, line, time in zip(
            shown.tolist(),
            steps.values("line_start", shown),
            steps.values("time", shown),
            strict=True,
        )
    ]
    keys = set(
        zip(
            matches.trace[matched_positions].tolist(),
            matches.episode[matched_positions].tolist(),
            strict=True,
        )
    )
    episodes = sorted(
        ((traces[t], traces[t].records[e]) for t, e in keys),
        key=lambda pair: (pair[0].input, float(pair[1]["start"])),
    )
    summary = _strace_summary(episodes) if episodes else None
    evidence: dict[str, Any] = {
        "matched_count": len(matched_positions),
        "episodes": matched,
        "unmatched_count": len(unmatched_positions),
        "unmatched": unmatched,
        "clock_alignment": [a.to_evidence() for a in matches.alignments],
    }
    said = ""
    if summary is not None:
        evidence["strace"] = summary
        said += " " + strace_sentence(summary, episodes)
    count = len(members)
    if np.isnan(steps.time_s[members]).all():
        said += (
            " The log has no timestamps, so its steps cannot be matched to strace's "
            "blocked-loop episodes by time."
        )
        hints = _same_length(float(steps.duration[members[0]]), traces)
        evidence["same_length_episodes"] = hints[: config.max_samples]
        # Each step of the group paired with its own episode of the same length (each
        # episode used once): when every step finds one, the steps are those episodes.
        evidence["steps_with_same_length_episode"] = _paired_lengths(
            steps.duration[members], traces
        )
        if len(hints) == 1:
            hint = hints[0]
            parts = _blocking_parts(hint["top_calls"], _cpu(hint), hint["duration_s"])
            seen = f", {parts[0][2]}" if parts else ""
            said += (
                f" strace saw one episode of the same length ({hint['duration_s']:.3f} s "
                f"at {hint['strace_time_text']} on loop thread {hint['loop_tid']}{seen}); "
                "it is likely this step, but that cannot be confirmed."
            )
        elif hints:
            said += f" strace saw {len(hints)} episodes of the same length."
    elif len(unmatched_positions):
        reasons = [_REASON_ORDER[r] for r in np.unique(matches.reason[unmatched_positions])]
        said += (
            f" {len(unmatched_positions)} of the {count} logged "
            f"step{'s' if count != 1 else ''} matched no strace episode ({'; '.join(reasons)})."
        )
    return evidence, said, summary


def _group_finding(
    steps: Steps,
    members: np.ndarray,
    matches: Matches,
    traces: Sequence[TraceEpisodes],
    log_notes: dict[str, Any],
    config: PassConfig,
) -> Finding:
    """The finding of one (location, coroutine or callback) group: `members` are its rows."""
    members = members[np.argsort(-steps.duration[members], kind="stable")]
    durations, times = steps.duration[members], steps.time_s[members]
    first = steps.row(int(members[0]))
    who, where_sentence, note = _subject(first)
    location = text_or_none(first["location"])
    count, total_s, max_s = len(members), float(durations.sum()), float(durations[0])
    p95 = float(np.percentile(durations, 95))
    timed = np.isfinite(times)
    first_s = float(times[timed].min()) if timed.any() else None
    last_s = float(times[timed].max()) if timed.any() else None
    earliest = int(members[np.nanargmin(times)]) if timed.any() else None
    first_text = text_or_none(steps.values("time", [earliest])[0]) if earliest is not None else None
    task_names = sorted({n for n in steps.values("task_name", members) if text_or_none(n)})
    created = sorted({c for c in steps.values("created_at", members) if text_or_none(c)})
    plural = "s" if count != 1 else ""
    message = (
        f"{where_sentence[0].upper()}{where_sentence[1:]} held the event loop {count} "
        f"time{plural} for {total_s:.3f} s in total (longest {max_s:.3f} s"
        + (f", p95 {p95:.3f} s" if count > 1 else "")
        + ")"
        + (f", first logged at {first_text}" if first_text else "")
        + "."
        + (f" {note}" if note else "")
    )
    evidence: dict[str, Any] = {
        "location": location,
        "callback": text_or_none(first["callback"]),
        "coro": text_or_none(first["coro"]),
        "step": {"running": "stopped_at_await", "defined": "finished"}.get(first["state"]),
        "count": count,
        "total_s": total_s,
        "max_s": max_s,
        "p95_s": p95,
        "first_time_s": first_s,
        "last_time_s": last_s,
        "first_time_text": first_text,
        "task_names": task_names[: config.max_samples],
        "created_at": created[: config.max_samples],
        "lines": steps.values("line_start", members[: config.max_samples]).astype(int).tolist(),
        **log_notes,
    }
    summary = None
    if traces:
        correlation, said, summary = _correlation(steps, members, matches, traces, config)
        evidence.update(correlation)
        message += said
    if log_notes.get("uvloop"):
        message += " uvloop does not time protocol callbacks, so slower ones may be missing."
    pids = np.unique(steps.values("pid", members).astype(np.float64))
    pids = pids[np.isfinite(pids)]
    title = f"Event loop blocked by {who}"
    if location:
        title += f" at {short_location(location)}"
    return Finding(
        code=CODE,
        kind=KIND,
        severity="error" if max_s >= ERROR_MAX_S or total_s >= ERROR_TOTAL_S else "warning",
        title=f"Event loop blocked by {who}"
        + (f" at {short_location(location)}" if location else ""),
        message=message,
        evidence=evidence,
        fix=fix_for(_code_of(who), location, summary),
        input=steps.input,
        pid=int(pids[0]) if len(pids) == 1 else None,
        tid=summary["loop_tids"][0] if summary and len(summary["loop_tids"]) == 1 else None,
        start=first_s,
        duration_s=max_s,
        cost_s=total_s,
        lines=tuple(evidence["lines"]),
    )


def log_notes(steps: Steps, config: PassConfig) -> dict[str, Any]:
    """What one log cannot show: its threshold and uvloop's blind spot."""
    smallest = float(steps.duration.min())
    uvloop = steps.uvloop
    loggers = steps.loggers
    threshold: dict[str, Any] = {
        "slow_callback_duration_s": DEFAULT_SLOW_CALLBACK_S,
        "assumed_default": True,
        "smallest_logged_s": smallest,
        "blocked_loop_s": config.blocked_loop_s,
        "note": (
            "asyncio logs only steps of at least loop.slow_callback_duration "
            f"({DEFAULT_SLOW_CALLBACK_S:g} s unless the application changed it)"
        ),
    }
    if smallest < DEFAULT_SLOW_CALLBACK_S:
        threshold["note"] += (
            f"; this log has a {smallest:.3f} s step, so it was lowered to at most that"
        )
    if any(str(name).startswith("aiodebug") for name in loggers):
        threshold["note"] += "; aiodebug's own threshold applies to its lines"
    notes: dict[str, Any] = {"thresholds": threshold, "uvloop": uvloop}
    if uvloop:
        notes["uvloop_note"] = (
            "uvloop does not time protocol callbacks (data_received ...): slow ones are not "
            "in this log; strace episodes with no logged step may be them"
        )
    return notes


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    events = inputs.loop_events
    if events is None or events.num_rows == 0:
        return []
    is_slow = filled_numpy(pc.equal(events["kind"], "slow_callback"), False)
    if not is_slow.any():
        return []
    traces = trace_episodes(inputs)
    findings: list[Finding] = []
    inputs_of, names = first_codes(events["input"].chunks)
    location, _ = first_codes(pc.fill_null(c, "") for c in events["location"].chunks)
    subject, _ = first_codes(
        pc.coalesce(batch["coro"], batch["callback"], pa.scalar(""))
        for batch in events.select(["coro", "callback"]).to_batches()
    )
    times = numbers(events["time_s"])
    for code, name in enumerate(names):
        mine = inputs_of == code
        rows = np.flatnonzero(mine & is_slow)
        if not len(rows):
            continue
        steps = Steps.of(events, rows, name, location, subject)
        all_times = times[mine]
        matches = match_steps(steps.time_s, steps.duration, all_times, traces, config)
        notes = log_notes(steps, config)
        totals = np.bincount(steps.group, weights=steps.duration)
        for group in np.argsort(-totals, kind="stable")[:MAX_GROUPS]:
            members = np.flatnonzero(steps.group == group)
            findings.append(_group_finding(steps, members, matches, traces, notes, config))
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("blocked_loop",))
