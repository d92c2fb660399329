"""Put the times of an asyncio debug log on the clock of a strace trace of the same run.

The two clocks read differently:

- ``loop_events.time_s`` is Unix time, but a timestamp printed without a zone is *read* as
  UTC, so a log written in local time (logging's default ``asctime``) is off by the zone's
  UTC offset.
- A strace ``-t``/``-tt`` trace (``clock``) counts seconds since its first day's *local*
  midnight; ``-ttt`` (``epoch``) is Unix time; ``-r`` and untimed traces cannot be aligned.

asyncio logs ``Executing ... took X seconds`` when a step has *ended*, from the loop
thread, before the loop returns to its epoll/poll wait. So for the strace episode (the
loop away from its wait, ``start`` to ``end``) that holds the step, the log time T lies in
``[start + X - tolerance, end + tolerance]``: the record is made after the step ended
(``T >= step start + X >= start + X``) and before the loop waits again (``T <= end``).
The tolerance covers the log's resolution (printed times are usually truncated to the
millisecond), the 3-decimal rounding of X and the gap between strace's timestamps and the
process's own clock.

The offset from log time to strace time is inferred by trying every zone offset in quarter
hours from -14 h to +14 h (for a ``clock`` trace, plus the whole days that bring the log onto
the trace's first day) and keeping the one that puts the most logged steps inside an
episode; ties go to the smallest zone offset. `PassConfig.clock_offset_s` overrides it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

DAY_S = 86_400.0
QUARTER_HOUR_S = 900.0
MAX_ZONE_S = 14 * 3600.0
SLACK_S = 0.003
"""Added to the log's resolution: 'took %.3f' rounding plus strace's timestamp lag."""
MAX_INFERENCE_STEPS = 500
"""The longest logged steps used to infer the offset (the offset is one number)."""
ALIGNABLE_CLOCKS = ("clock", "epoch")
END_WEIGHT = 0.1
"""How much the end-time gap counts against the length gap when several episodes fit."""

Method = str
"""``configured`` (PassConfig.clock_offset_s), ``inferred`` or ``none``."""


@dataclass(frozen=True)
class Alignment:
    """How log times map onto one trace's clock: ``strace_time = log_time + offset_s``."""

    strace_input: str
    strace_clock: str | None
    method: Method
    offset_s: float | None
    zone_offset_s: float | None
    """The quarter-hour part of the offset: the log's clock minus strace's zone, in seconds
    (None when configured or not aligned)."""
    timed_steps: int
    """Logged steps with a timestamp (the ones that can be matched)."""
    matched_steps: int
    tolerance_s: float
    resolution_s: float | None
    ambiguous: bool
    """More than one zone offset matched as many steps (the smallest one was kept)."""
    reason: str | None = None
    """Why nothing could be aligned, in words."""

    def to_evidence(self) -> dict[str, Any]:
        return {
            "strace_input": self.strace_input,
            "strace_clock": self.strace_clock,
            "method": self.method,
            "log_to_strace_s": self.offset_s,
            "zone_offset_s": self.zone_offset_s,
            "timed_steps": self.timed_steps,
            "matched_steps": self.matched_steps,
            "tolerance_s": self.tolerance_s,
            "log_resolution_s": self.resolution_s,
            "ambiguous": self.ambiguous,
            "reason": self.reason,
        }


def log_resolution(times: np.ndarray) -> float | None:
    """The resolution the log printed its times with: 1 s, 1 ms or finer (1 µs); None
    without times.

    Unix times near 1.8e9 carry about 0.2 µs of float64 precision, so anything finer than a
    millisecond is treated as exact to the microsecond.
    """
    times = times[np.isfinite(times)]
    if len(times) == 0:
        return None
    for resolution in (1.0, 0.001):
        scaled = times / resolution
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-3):
            return resolution
    return 1e-6


def tolerance_for(resolution_s: float | None) -> float:
    return (resolution_s or 0.0) + SLACK_S


def window_hits(
    log_end: np.ndarray,
    log_duration: np.ndarray,
    episode_start: np.ndarray,
    episode_end: np.ndarray,
    tolerance_s: float,
) -> np.ndarray:
    """(steps x episodes) booleans: the logged step fits inside the episode (module docstring)."""
    end = log_end[:, None]
    return (end >= episode_start[None, :] + log_duration[:, None] - tolerance_s) & (
        end <= episode_end[None, :] + tolerance_s
    )


def zone_offsets() -> np.ndarray:
    """Quarter-hour zone offsets from -14 h to +14 h, smallest magnitude first (0, -900, 900...)."""
    offsets = np.arange(-MAX_ZONE_S, MAX_ZONE_S + 1, QUARTER_HOUR_S)
    return offsets[np.argsort(np.abs(offsets) + (offsets > 0) * 0.5, kind="stable")]


def full_offsets(
    zones: np.ndarray, log_times: np.ndarray, clock: str, first_s: float, last_s: float
) -> np.ndarray:
    """Each zone offset as a whole log->strace offset: a ``clock`` trace also drops the days
    up to its first day's midnight (chosen so the middle of the log lands on the trace)."""
    if clock == "epoch":
        return zones.astype(np.float64)
    middle_of_log = float(np.median(log_times))
    middle_of_trace = (first_s + last_s) / 2
    days = np.round((middle_of_log + zones - middle_of_trace) / DAY_S) * DAY_S
    return zones - days


def align(
    strace_input: str,
    clock: str | None,
    first_s: float | None,
    last_s: float | None,
    log_end: np.ndarray,
    log_duration: np.ndarray,
    all_log_times: np.ndarray,
    episode_start: np.ndarray,
    episode_end: np.ndarray,
    configured_offset_s: float | None = None,
) -> Alignment:
    """The offset that puts the logged steps (end time, duration) inside strace's episodes."""
    resolution = log_resolution(all_log_times)
    tolerance = tolerance_for(resolution)
    timed = np.isfinite(log_end) & np.isfinite(log_duration)
    log_end, log_duration = log_end[timed], log_duration[timed]
    made = partial(
        Alignment,
        strace_input=strace_input,
        strace_clock=clock,
        timed_steps=len(log_end),
        tolerance_s=tolerance,
        resolution_s=resolution,
    )
    if len(log_end) == 0:
        return made(
            method="none",
            offset_s=None,
            zone_offset_s=None,
            matched_steps=0,
            ambiguous=False,
            reason="the log's slow-callback lines have no timestamps",
        )
    if configured_offset_s is not None:
        hits = window_hits(
            log_end + configured_offset_s, log_duration, episode_start, episode_end, tolerance
        )
        return made(
            method="configured",
            offset_s=configured_offset_s,
            zone_offset_s=None,
            matched_steps=int(hits.any(axis=1).sum()),
            ambiguous=False,
        )
    if clock not in ALIGNABLE_CLOCKS or first_s is None or last_s is None:
        return made(
            method="none",
            offset_s=None,
            zone_offset_s=None,
            matched_steps=0,
            ambiguous=False,
            reason=(
                f"the trace's clock ({clock or 'no timestamps'}) is not wall-clock time; "
                "capture with -tt or -ttt, or set the clock offset"
            ),
        )
    if len(episode_start) == 0:
        return made(
            method="none",
            offset_s=None,
            zone_offset_s=None,
            matched_steps=0,
            ambiguous=False,
            reason="strace saw no blocked-loop episode to align with",
        )
    longest = np.argsort(-log_duration, kind="stable")[:MAX_INFERENCE_STEPS]
    sample_end, sample_duration = log_end[longest], log_duration[longest]
    zones = zone_offsets()
    offsets = full_offsets(zones, log_end, clock, first_s, last_s)
    lowest, highest = float(episode_start.min()), float(episode_end.max())
    counts = np.zeros(len(offsets), dtype=np.int64)
    for index, offset in enumerate(offsets):
        shifted = sample_end + offset
        if shifted.max() < lowest - tolerance or shifted.min() > highest + tolerance:
            continue
        hits = window_hits(shifted, sample_duration, episode_start, episode_end, tolerance)
        counts[index] = hits.any(axis=1).sum()
    best = int(np.argmax(counts))  # zones are ordered smallest first, so ties keep the smallest
    if counts[best] == 0:
        return made(
            method="none",
            offset_s=None,
            zone_offset_s=None,
            matched_steps=0,
            ambiguous=False,
            reason=(
                "no logged slow callback falls inside a strace episode at any quarter-hour "
                "zone offset (are the log and the trace from the same run?)"
            ),
        )
    offset = float(offsets[best])
    all_hits = window_hits(log_end + offset, log_duration, episode_start, episode_end, tolerance)
    return made(
        method="inferred",
        offset_s=offset,
        zone_offset_s=float(zones[best]),
        matched_steps=int(all_hits.any(axis=1).sum()),
        ambiguous=bool((counts == counts[best]).sum() > 1),
    )


def assign(
    log_end: np.ndarray,
    log_duration: np.ndarray,
    episode_start: np.ndarray,
    episode_end: np.ndarray,
    alignment: Alignment,
) -> np.ndarray:
    """For each logged step, the index of the episode that holds it, or -1.

    Where several episodes fit (coarse timestamps), the one whose length is closest to the
    step's wins, then the one whose end is nearest the log time (the middle of the interval
    the printed time stands for): asyncio logs right after the step, before the loop waits.
    """
    result = np.full(len(log_end), -1, dtype=np.int64)
    if alignment.offset_s is None or len(episode_start) == 0 or len(log_end) == 0:
        return result
    shifted = log_end + alignment.offset_s
    hits = (
        window_hits(shifted, log_duration, episode_start, episode_end, alignment.tolerance_s)
        & np.isfinite(shifted)[:, None]
    )
    middle = shifted + (alignment.resolution_s or 0.0) / 2
    length_gap = np.abs((episode_end - episode_start)[None, :] - log_duration[:, None])
    end_gap = np.abs(episode_end[None, :] - middle[:, None])
    score = np.where(hits, length_gap + END_WEIGHT * end_gap, np.inf)
    best = np.argmin(score, axis=1)
    found = hits.any(axis=1)
    result[found] = best[found]
    return result


def clock_text(value: float | None, clock: str | None) -> str:
    """A strace-clock time as people read it: ``15:41:34.558`` (-tt) or UTC date and time."""
    if value is None or not np.isfinite(value):
        return "?"
    if clock == "clock":
        seconds = value % DAY_S
        whole = int(seconds)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{seconds % 60:06.3f}"
    if clock == "epoch":
        moment = dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    return f"{value:.3f} s"
