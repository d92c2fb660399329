"""The run's timeline: the times of thread snapshots, py-spy dumps and metrics put on the clock
of the strace trace (or of the run's other evidence), with the offset and how it was found.

Each input keeps its own clock, and they read differently:

- ``epoch``: exact Unix time. `date +%s` stamps before ``ps``, a ``date`` line with its zone
  before a py-spy dump (``Sat Dec  5 08:15:56 UTC 2026``, ``date -Ins``), iostat ``-t``
  stamps with ``S_TIME_FORMAT=ISO``, CloudWatch timestamps, strace ``-ttt``, perf with
  ``-k CLOCK_REALTIME``.
- ``local``: the machine's local wall clock with its date, held as if it were UTC (the
  parsers read a stamp without a zone that way): pidstat's times with its banner date,
  iostat's locale ``-t`` stamps, asyncio log times without a zone.
- ``time_of_day``: local seconds since a local midnight, no date: ``top``'s ``top -`` line,
  ``ps`` loops stamped with a plain ``date +%T``, strace ``-t``/``-tt`` (since the first
  day's midnight).

Putting one on another: ``reference_time = input_time + offset_s``.

- epoch on epoch, local on local: the offset is 0;
- a local clock on a local clock (``local`` or ``time_of_day`` on ``time_of_day`` or
  ``local``): the same machine's clock is assumed, so the offset is whole days, the ones
  that put the input's middle nearest the reference's (top has no date: the date is the
  reference's);
- epoch on a local clock, or the other way: the offset also holds the machine's UTC offset.
  It is read from an input that printed both a wall-clock time and its zone (a ``date``
  line with its zone before a py-spy dump or a ps snapshot, an ISO iostat stamp: the
  `zone hints <zone_hints>`), else inferred: every quarter-hour offset from -14 h to +14 h
  is tried, and the one that makes the input's span overlap the reference's most is kept
  (ties: the smallest offset, and the alignment is flagged ``ambiguous``).

The reference is the first strace trace with wall-clock times (``-tt`` or ``-ttt``); without
one, the asyncio log, a perf profile with CLOCK_REALTIME times, or the first input of the run
with epoch times. An input whose span, so placed, does not come near the reference's is
reported as not aligned (``aligned`` false, with the reason): it may be from another run.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, numbers
from analyzer.derive.clock_alignment import DAY_S, zone_offsets

__all__ = [
    "CLOCK_KINDS",
    "EVIDENCE_TABLES",
    "Alignment",
    "InputClock",
    "Reference",
    "align",
    "align_all",
    "input_clocks",
    "moments",
    "reference_of",
    "zone_hints",
]

CLOCK_KINDS = ("epoch", "local", "time_of_day")
EPOCH_MIN_S = 1e9
"""Times above this (2001-09-09) are Unix times; perf's default clock counts from boot."""
NEAR_S = 300.0
"""An input whose span comes within this of the reference's is aligned (snapshots taken
just before or after a short trace are of the same run)."""

EVIDENCE_TABLES: dict[str, tuple[str, ...]] = {
    "top": ("top_samples",),
    "ps_threads": ("ps_snapshots",),
    "pidstat": ("pidstat_intervals",),
    "pyspy": ("pyspy_dumps",),
    "iostat": ("iostat_cpu", "iostat_devices"),
    "cloudwatch": ("cloud_metrics",),
}
"""Source -> the tables whose rows are the input's moments (one per snapshot, report or
value)."""
_IOSTAT_TIME = ("input", "line_no", "ts", "utc_offset_known", "time_text")


def moments(source: str, tables: Mapping[str, pa.Table]) -> pa.Table | None:
    """The moments table of `source` in the run's tables (None when it has none)."""
    names = [name for name in EVIDENCE_TABLES[source] if name in tables]
    if not names:
        return None
    if source == "iostat":
        return pa.concat_tables([tables[name].select(list(_IOSTAT_TIME)) for name in names])
    return tables[names[0]]


@dataclass(frozen=True)
class InputClock:
    """The moments of one input of a snapshot or metrics source, on its own clock."""

    input: str
    source: str
    kind: str | None
    """``epoch``, ``local`` or ``time_of_day`` (module docstring); None without times."""
    times: np.ndarray
    lines: np.ndarray
    zone_s: float | None = None
    """The machine's UTC offset when the input printed it (a hint for the others)."""
    zone_line: int | None = None
    note: str = ""

    @property
    def first(self) -> float | None:
        return float(np.nanmin(self.times)) if len(self.times) else None

    @property
    def last(self) -> float | None:
        return float(np.nanmax(self.times)) if len(self.times) else None


@dataclass(frozen=True)
class Reference:
    """The clock the others are put on."""

    input: str
    source: str
    kind: str
    first: float
    last: float
    clock: str
    """How `analyzer.render.formatting.timestamp` shows its times: ``clock`` or ``epoch``."""


@dataclass(frozen=True)
class Alignment:
    """One input put on the reference clock: ``reference_time = time + offset_s``."""

    input: str
    source: str
    kind: str | None
    reference: Reference | None
    aligned: bool
    offset_s: float | None
    method: str
    """``same clock``, ``same local clock``, ``zone from INPUT``, ``zone inferred``,
    ``zone assumed`` or ``none``."""
    zone_offset_s: float | None
    ambiguous: bool
    first: float | None
    """The input's first moment on the reference clock."""
    last: float | None
    overlap_s: float | None
    reason: str | None = None
    """Why it is not aligned, or what was assumed."""

    def on_reference(self, times: np.ndarray) -> np.ndarray:
        """`times` (on the input's clock) on the reference clock (NaN when not aligned)."""
        if not self.aligned or self.offset_s is None:
            return np.full(len(times), np.nan)
        return np.asarray(times, dtype=np.float64) + self.offset_s

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "source": self.source,
            "clock": self.kind,
            "reference_input": self.reference.input if self.reference else None,
            "reference_clock": self.reference.kind if self.reference else None,
            "aligned": self.aligned,
            "method": self.method,
            "offset_s": self.offset_s,
            "zone_offset_s": self.zone_offset_s,
            "ambiguous": self.ambiguous,
            "first": self.first,
            "last": self.last,
            "overlap_s": self.overlap_s,
            "reason": self.reason,
        }


def _empty(input_name: str, source: str, note: str) -> InputClock:
    return InputClock(input_name, source, None, np.empty(0), np.empty(0), note=note)


def _wrap_zone(seconds: float) -> float:
    """A local-minus-UTC difference of times of day as a zone offset in [-12 h, +14 h],
    rounded to the quarter hour."""
    zone = round(seconds / 900.0) * 900.0
    zone = (zone + 12 * 3600) % DAY_S - 12 * 3600
    return zone if zone >= -12 * 3600 else zone + DAY_S


_CLOCK_TEXT = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2}):(\d{2})(?![\d:])")


def _text_time_of_day(text: str | None) -> float | None:
    """The ``HH:MM:SS`` in a printed stamp as seconds since midnight."""
    match = _CLOCK_TEXT.search(text or "")
    if not match:
        return None
    hours, minutes, seconds = (int(part) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def _per_input(table: pa.Table) -> list[tuple[str, pa.Table]]:
    names = pc.unique(table["input"]).to_pylist() if table.num_rows else []
    return [(name, table.filter(pc.equal(table["input"], name))) for name in names]


def _zone_from_texts(
    texts: list[str | None], epochs: np.ndarray, lines: np.ndarray
) -> tuple[float | None, int | None]:
    for text, epoch, line in zip(texts, epochs, lines, strict=True):
        local = _text_time_of_day(text)
        if local is not None and np.isfinite(epoch):
            return _wrap_zone(local - float(epoch) % DAY_S), int(line)
    return None, None


def _kept_texts(texts: list[str | None], keep: np.ndarray) -> list[str | None]:
    return [text for text, kept in zip(texts, keep.tolist(), strict=True) if kept]


def input_clocks(source: str, table: pa.Table) -> list[InputClock]:
    """The clock of each input in the moments table of `source` (`EVIDENCE_TABLES`)."""
    found: list[InputClock] = []
    for name, rows in _per_input(table):
        lines = numbers(rows["line_no"]) if "line_no" in rows.column_names else np.empty(0)
        if source == "top":
            clock = numbers(rows["clock_s"])
            keep = np.isfinite(clock)
            if not keep.any():
                found.append(_empty(name, source, "top printed no `top -` summary line"))
                continue
            found.append(
                InputClock(
                    name,
                    source,
                    "time_of_day",
                    clock[keep],
                    lines[keep],
                    note="top prints the local time of day without a date",
                )
            )
        elif source == "ps_threads":
            ts, clock = numbers(rows["ts"]), numbers(rows["clock_s"])
            if np.isfinite(ts).any():
                both = np.isfinite(ts) & np.isfinite(clock)
                zone = line = None
                if both.any():
                    index = int(np.flatnonzero(both)[0])
                    zone = _wrap_zone(clock[index] - ts[index] % DAY_S)
                    line = int(lines[index])
                keep = np.isfinite(ts)
                found.append(InputClock(name, source, "epoch", ts[keep], lines[keep], zone, line))
            elif np.isfinite(clock).any():
                keep = np.isfinite(clock)
                found.append(
                    InputClock(
                        name,
                        source,
                        "time_of_day",
                        clock[keep],
                        lines[keep],
                        note="the date stamps give a local time without a zone",
                    )
                )
            else:
                found.append(_empty(name, source, "the snapshots have no `date` stamps"))
        elif source == "pidstat":
            ts, clock = numbers(rows["ts"]), numbers(rows["clock_s"])
            if np.isfinite(clock).any() and np.isfinite(ts).any():
                keep = np.isfinite(ts)
                found.append(
                    InputClock(
                        name,
                        source,
                        "local",
                        ts[keep],
                        lines[keep],
                        note="pidstat prints local times and the date once, without a zone",
                    )
                )
            elif np.isfinite(clock).any():
                keep = np.isfinite(clock)
                found.append(InputClock(name, source, "time_of_day", clock[keep], lines[keep]))
            elif np.isfinite(ts).any():
                keep = np.isfinite(ts)
                found.append(InputClock(name, source, "epoch", ts[keep], lines[keep]))
            else:
                found.append(_empty(name, source, "no report time was read"))
        elif source == "pyspy":
            ts = numbers(rows["ts"])
            keep = np.isfinite(ts)
            if not keep.any():
                found.append(
                    _empty(
                        name,
                        source,
                        "no dump has a `date` line with a zone before it "
                        "(for i in ...; do date; py-spy dump --pid PID; done)",
                    )
                )
                continue
            texts = [
                text
                for text, kept in zip(rows["time_text"].to_pylist(), keep, strict=False)
                if kept
            ]
            zone, line = _zone_from_texts(texts, ts[keep], lines[keep])
            found.append(InputClock(name, source, "epoch", ts[keep], lines[keep], zone, line))
        elif source == "iostat":
            ts = numbers(rows["ts"])
            keep = np.isfinite(ts)
            if not keep.any():
                found.append(_empty(name, source, "iostat ran without -t: reports have no time"))
                continue
            known = np.asarray(
                filled_numpy(rows["utc_offset_known"], False),
                dtype=bool,
            )
            if known[keep].all():
                texts = [
                    t for t, kept in zip(rows["time_text"].to_pylist(), keep, strict=False) if kept
                ]
                zone, line = _zone_from_texts(texts, ts[keep], lines[keep])
                found.append(InputClock(name, source, "epoch", ts[keep], lines[keep], zone, line))
            else:
                found.append(
                    InputClock(
                        name,
                        source,
                        "local",
                        ts[keep],
                        lines[keep],
                        note="iostat's locale stamps carry no zone (S_TIME_FORMAT=ISO adds it)",
                    )
                )
        elif source == "cloudwatch":
            ts = numbers(rows["ts"])
            keep = np.isfinite(ts)
            found.append(InputClock(name, source, "epoch", ts[keep], lines[keep]))
    return found


def zone_hints(clocks: Sequence[InputClock]) -> tuple[float | None, str | None, int | None]:
    """(the machine's UTC offset, the input and line that printed it) from the inputs that
    printed a wall-clock time with its zone; None when none did."""
    for clock in clocks:
        if clock.zone_s is not None:
            return clock.zone_s, clock.input, clock.zone_line
    return None, None, None


def reference_of(
    traces: Sequence[Any], tables: Mapping[str, pa.Table], clocks: Sequence[InputClock]
) -> Reference | None:
    """The clock the run's evidence is put on (module docstring): the first strace trace
    with wall-clock times, else the asyncio log, a CLOCK_REALTIME perf profile, or the
    first epoch input."""
    for trace in traces:
        if trace.clock in ("clock", "epoch") and trace.first_s is not None:
            kind = "time_of_day" if trace.clock == "clock" else "epoch"
            last = trace.last_s if trace.last_s is not None else trace.first_s
            return Reference(trace.input, "strace", kind, trace.first_s, last, trace.clock)
    events = tables.get("loop_events")
    if events is not None and events.num_rows:
        times = numbers(events["time_s"])
        times = times[np.isfinite(times)]
        if len(times):
            name = str(events["input"][0].as_py())
            return Reference(
                name, "asyncio", "local", float(times.min()), float(times.max()), "epoch"
            )
    samples = tables.get("perf_samples")
    if samples is not None and samples.num_rows:
        times = numbers(samples["time_ns"]) / 1e9
        times = times[np.isfinite(times)]
        if len(times) and times.min() > EPOCH_MIN_S:
            name = str(samples["input"][0].as_py())
            return Reference(name, "perf", "epoch", float(times.min()), float(times.max()), "epoch")
    for clock in clocks:
        if clock.kind == "epoch" and len(clock.times):
            return Reference(
                clock.input, clock.source, "epoch", clock.first or 0.0, clock.last or 0.0, "epoch"
            )
    for clock in clocks:
        if clock.kind is not None and len(clock.times):
            shown = "clock" if clock.kind == "time_of_day" else "epoch"
            return Reference(
                clock.input, clock.source, clock.kind, clock.first or 0.0, clock.last or 0.0, shown
            )
    return None


def _score(first: float, last: float, reference: Reference) -> float:
    """Seconds of overlap of [first, last] with the reference span, or minus the gap."""
    overlap = min(last, reference.last) - max(first, reference.first)
    return overlap


def align(
    clock: InputClock,
    reference: Reference | None,
    zone: tuple[float | None, str | None, int | None] = (None, None, None),
) -> Alignment:
    """`clock` on the `reference` clock (module docstring); `zone` is `zone_hints`' result."""

    def result(
        aligned: bool,
        offset: float | None,
        method: str,
        zone_offset: float | None = None,
        ambiguous: bool = False,
        reason: str | None = None,
    ) -> Alignment:
        first = clock.first + offset if offset is not None and clock.first is not None else None
        last = clock.last + offset if offset is not None and clock.last is not None else None
        overlap = None
        if reference is not None and first is not None and last is not None:
            overlap = max(0.0, min(last, reference.last) - max(first, reference.first))
        return Alignment(
            clock.input,
            clock.source,
            clock.kind,
            reference,
            aligned,
            offset,
            method,
            zone_offset,
            ambiguous,
            first,
            last,
            overlap,
            reason,
        )

    if clock.kind is None or clock.first is None or clock.last is None:
        return result(False, None, "none", reason=clock.note or "the input has no times")
    if reference is None:
        return result(False, None, "none", reason="no other input of the run has times")
    if reference.input == clock.input:
        return result(True, 0.0, "same clock (the reference)")
    middle = (clock.first + clock.last) / 2
    reference_middle = (reference.first + reference.last) / 2
    days_matter = "time_of_day" in (clock.kind, reference.kind)
    needs_zone = (clock.kind == "epoch") != (reference.kind == "epoch")
    zone_s, zone_input, zone_line = zone
    if needs_zone and zone_s is not None:
        zones = np.array([zone_s])
        method = f"zone from {zone_input}" + (f":{zone_line}" if zone_line else "")
    elif needs_zone:
        zones = zone_offsets()
        method = "zone inferred"
    else:
        zones = np.array([0.0])
        method = "same clock" if clock.kind == reference.kind and not days_matter else ""
        method = method or "same local clock"
    # epoch -> local: + zone; local -> epoch: - zone
    sign = 1.0 if clock.kind == "epoch" else -1.0
    offsets = sign * zones if needs_zone else np.zeros(1)
    if days_matter:
        days = np.round((reference_middle - (middle + offsets)) / DAY_S) * DAY_S
        offsets = offsets + days
    scores = np.array([_score(clock.first + o, clock.last + o, reference) for o in offsets])
    best = int(np.argmax(scores))  # zones are ordered smallest first: ties keep the smallest
    offset = float(offsets[best])
    zone_offset = float(zones[best]) if needs_zone else None
    tolerance = 1.0
    ambiguous = bool(
        needs_zone and zone_s is None and (scores >= scores[best] - tolerance).sum() > 1
    )
    reason = None
    if scores[best] < -NEAR_S:
        gap = -float(scores[best])
        return result(
            False,
            offset,
            method,
            zone_offset,
            ambiguous,
            reason=(
                f"its times stay {gap:.0f} s away from {reference.input} at any offset tried "
                "(is it from another run?)"
            ),
        )
    if ambiguous:
        method = "zone assumed"
        reason = (
            f"several UTC offsets put it over {reference.input}; the smallest "
            f"({_zone_text(zone_offset)}) was assumed: print the zone with the times "
            "(date with %z, S_TIME_FORMAT=ISO) to make it exact"
        )
    elif needs_zone and zone_s is None:
        reason = (
            f"the machine's UTC offset was inferred as {_zone_text(zone_offset)}: the only "
            f"quarter-hour offset that puts it over {reference.input}"
        )
    elif days_matter and clock.kind == "time_of_day":
        reason = f"{clock.source} prints no date: the date is {reference.input}'s"
    return result(True, offset, method, zone_offset, ambiguous, reason)


def _zone_text(zone: float | None) -> str:
    if zone is None:
        return "?"
    sign = "+" if zone >= 0 else "-"
    minutes = int(abs(zone)) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def align_all(traces: Sequence[Any], tables: Mapping[str, pa.Table]) -> list[Alignment]:
    """Every input of the snapshot and metrics sources in the run, put on the run's
    reference clock (`reference_of`)."""
    clocks = [
        clock
        for source in EVIDENCE_TABLES
        if (table := moments(source, tables)) is not None
        for clock in input_clocks(source, table)
    ]
    if not clocks:
        return []
    reference = reference_of(traces, tables, clocks)
    zone = zone_hints(clocks)
    return [align(clock, reference, zone) for clock in clocks]


def by_input(alignments: Sequence[Alignment]) -> dict[str, Alignment]:
    return {alignment.input: alignment for alignment in alignments}


def utc_text(value: float | None) -> str:
    """Unix seconds as ``2026-12-05 08:15:56 UTC``."""
    if value is None or not np.isfinite(value):
        return "?"
    moment = dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
