"""The perf part of a report laid out for display (``view.sections["perf"]``).

`perf_section` takes the raw (already display-safe) ``perf`` dict of the report and returns
the events and the top folded stacks (each with its short form, see `short_stack`), plus
`perf_details`: the parts the templates and `analyzer.render.perf_text` show beyond the
folded stacks: per event, the heaviest symbols, DSOs and threads; block I/O per device (BCC
biolatency's histogram lines, percentiles, the read/write/flush split, queue depth); off-CPU
time by state and thread; syscall latency per thread with the ``perf trace -s`` lines. Every
list holds dicts with all their keys (absent ones None), ranked here, so templates stay free
of logic. See docs/report-json.md for the keys of the JSON this reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from analyzer.render import formatting
from analyzer.render.view import keyed_rows, number
from analyzer.sections.perf_histograms import log2_histogram_lines, perf_trace_summary_lines, stars

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = [
    "STACK_FRAME_CHARS",
    "STACK_HEAD",
    "STACK_TAIL",
    "STATE_NAMES",
    "bytes_text",
    "dso_name",
    "folded_weight",
    "perf_details",
    "perf_section",
    "section_view",
    "short_stack",
    "weight_text",
]

_LATENCY = ("count", "total_s", "p50_s", "p95_s", "p99_s", "max_s")
_SHARES = ("self_samples", "self_share", "total_samples", "total_share")
STATE_NAMES: dict[str, str] = {
    "S": "sleeping",
    "D": "uninterruptible (usually I/O)",
    "R": "preempted, runnable",
    "R+": "preempted, runnable",
    "I": "idle kernel thread",
    "T": "stopped",
    "t": "traced",
    "X": "exiting",
    "Z": "zombie",
    "P": "parked",
}
"""What a ``prev_state`` of ``sched:sched_switch`` means."""
STACK_HEAD = 2
"""Frames kept at the root end of a shortened stack."""
STACK_TAIL = 5
"""Frames kept at the leaf end of a shortened stack."""
STACK_FRAME_CHARS = 60
"""A frame longer than this is cut (with ``…``) in the short form of a stack."""


def _dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def short_stack(
    frames: list[str],
    head: int = STACK_HEAD,
    tail: int = STACK_TAIL,
    frame_chars: int = STACK_FRAME_CHARS,
) -> str:
    """A folded stack (frames root first) for a table cell: ``;``-joined, leaf last.

    A stack deeper than ``head + tail + 1`` frames keeps its `head` root frames and its `tail`
    leaf frames around ``…N…`` (N frames left out); each frame is cut to `frame_chars`.
    """
    if len(frames) > head + tail + 1:
        hidden = len(frames) - head - tail
        frames = [*frames[:head], f"…{hidden}…", *frames[len(frames) - tail :]]
    return ";".join(formatting.short(frame, frame_chars) for frame in frames)


def dso_name(dso: object) -> str:
    """A DSO as ``perf report`` shows it: the file name of a path (``libc.so.6``), anything
    else (``[kernel.kallsyms]``, ``[vdso]``) as it is; empty when unknown."""
    if dso is None:
        return ""
    text = str(dso)
    if text.startswith("/") and not text.endswith("/"):
        return PurePosixPath(text.split(" (deleted)")[0]).name + (
            " (deleted)" if text.endswith(" (deleted)") else ""
        )
    return text


def bytes_text(value: object) -> str:
    """A byte count in binary units: ``512 B``, ``7.6 MiB``; ``—`` when missing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return formatting.MISSING
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 9.95 else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _thread_label(row: Mapping[str, Any]) -> str:
    """``python3.12 (tid 8962)``, ``python3.12 (tid 8962, pid 8960)``."""
    ids = f"tid {row.get('tid')}" if row.get("tid") is not None else "tid ?"
    if row.get("pid") is not None and row.get("pid") != row.get("tid"):
        ids += f", pid {row.get('pid')}"
    comm = row.get("comm")
    return f"{comm} ({ids})" if comm else ids


def _events(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    by_event = _dict(raw.get("by_event"))
    events = []
    for name, value in by_event.items():
        section = _dict(value)
        row: dict[str, Any] = dict.fromkeys(
            (
                "samples",
                "with_stack",
                "tracepoint",
                "period",
                "cpu_s",
                "first_s",
                "last_s",
                "span_s",
                "threads",
            )
        )
        row.update({key: section.get(key) for key in row if key in section})
        row["event"] = str(name)
        row["tracepoint"] = bool(row["tracepoint"])
        symbols = keyed_rows(section.get("symbols"), ("symbol", "dso", "inlined", *_SHARES))
        for symbol in symbols:
            symbol["dso_name"] = dso_name(symbol["dso"])
            symbol["name"] = str(symbol["symbol"] or "[unknown]")
            if symbol["inlined"]:
                symbol["name"] += " (inlined)"
        dsos = keyed_rows(section.get("dsos"), ("dso", *_SHARES))
        for dso in dsos:
            dso["dso_name"] = dso_name(dso["dso"]) or "[unknown]"
        threads = keyed_rows(
            section.get("by_thread"),
            ("pid", "tid", "comm", "samples", "share", "first_s", "last_s", "cpu_s"),
        )
        for thread in threads:
            thread["label"] = _thread_label(thread)
        row["symbols"] = symbols
        row["dsos"] = dsos
        row["by_thread"] = threads
        row["more_threads"] = max(int(number(row["threads"])) - len(threads), 0)
        row["has_cpu"] = row["cpu_s"] is not None
        events.append(row)
    events.sort(key=lambda row: (-number(row["samples"]), row["event"]))
    return events


def _plural(count: int, word: str) -> str:
    return f"{formatting.count(count)} {word}{'' if count == 1 else 's'}"


def _block_notes(counts: Mapping[str, Any]) -> list[str]:
    notes = []
    unmatched = int(number(counts.get("unmatched_completions")))
    if unmatched:
        flushes = int(number(counts.get("unmatched_flush_completions")))
        note = f"{_plural(unmatched, 'completion')} had no issue in the trace"
        if flushes:
            note += (
                f" ({formatting.count(flushes)} of them flushes, which complete at sector "
                "2^64-1 and cannot be paired)"
            )
        notes.append(note + ".")
    pending = int(number(counts.get("unmatched_issues")))
    if pending:
        notes.append(f"{_plural(pending, 'issue')} had not completed when the trace ended.")
    reissues = int(number(counts.get("reissues")))
    if reissues:
        notes.append(
            f"{_plural(reissues, 'request')} were issued again before completing "
            "(the later issue is timed)."
        )
    if int(number(counts.get("unparsed_payloads"))):
        notes.append(
            f"{_plural(int(number(counts.get('unparsed_payloads'))), 'block record')} "
            "could not be read."
        )
    return notes


def _block_io(raw: object) -> dict[str, Any] | None:
    section = _dict(raw)
    if not section:
        return None
    counts = _dict(section.get("counts"))
    devices = keyed_rows(
        section.get("devices"),
        ("dev", *_LATENCY, "bytes", "histogram", "by_op", "queue_depth"),
    )
    for device in devices:
        histogram = _dict(device["histogram"])
        buckets = keyed_rows(histogram.get("buckets"), ("lo", "hi", "count"))
        largest = max((number(bucket["count"]) for bucket in buckets), default=0.0)
        for bucket in buckets:
            bucket["bar"] = stars(number(bucket["count"]), largest)
        device["unit"] = str(histogram.get("unit") or "usecs")
        device["buckets"] = buckets
        device["histogram_lines"] = log2_histogram_lines(buckets, device["unit"])
        device["bytes_text"] = bytes_text(device["bytes"])
        by_op = []
        for op, stats in sorted(_dict(device["by_op"]).items()):
            row: dict[str, Any] = dict.fromkeys((*_LATENCY, "bytes"))
            row.update(_dict(stats))
            row["op"] = str(op)
            row["bytes_text"] = bytes_text(row["bytes"])
            by_op.append(row)
        by_op.sort(key=lambda row: (-number(row["count"]), row["op"]))
        device["by_op"] = by_op
        depth = _dict(device["queue_depth"])
        if depth:
            merged: dict[str, Any] = dict.fromkeys(
                ("peak", "peak_at", "mean", "busy_share", "first_s", "last_s", "downsampled")
            )
            merged.update(depth)
            series = depth.get("series")
            merged["series"] = [
                [point[0], point[1]]
                for point in (series if isinstance(series, list) else [])
                if isinstance(point, list) and len(point) == 2
            ]
            device["queue_depth"] = merged
        else:
            device["queue_depth"] = None
    return {"counts": counts, "devices": devices, "notes": _block_notes(counts)}


def _off_cpu_notes(counts: Mapping[str, Any]) -> list[str]:
    notes = []
    outs = int(number(counts.get("unmatched_switch_outs")))
    if outs:
        notes.append(
            f"{_plural(outs, 'switch-out')} had no switch-in before the trace ended "
            "(exited threads, or a per-task recording: record with -a to see switch-ins)."
        )
    ins = int(number(counts.get("unmatched_switch_ins")))
    if ins:
        notes.append(f"{_plural(ins, 'switch-in')} had no recorded switch-out.")
    return notes


def _off_cpu(raw: object) -> dict[str, Any] | None:
    section = _dict(raw)
    if not section:
        return None
    counts = _dict(section.get("counts"))
    by_state = []
    for state, stats in _dict(section.get("by_state")).items():
        row: dict[str, Any] = dict.fromkeys(_LATENCY)
        row.update(_dict(stats))
        row["state"] = str(state)
        row["meaning"] = STATE_NAMES.get(str(state), "")
        by_state.append(row)
    by_state.sort(key=lambda row: (-number(row["total_s"]), row["state"]))
    threads = keyed_rows(
        section.get("by_thread"),
        ("tid", "pid", "comm", "state", "count", "total_s", "avg_s", "max_s", "share"),
    )
    for thread in threads:
        thread["label"] = _thread_label(thread)
        thread["meaning"] = STATE_NAMES.get(str(thread["state"]), "")
    return {
        "counts": counts,
        "total_s": section.get("total_s"),
        "threads": section.get("threads"),
        "by_state": by_state,
        "by_thread": threads,
        "notes": _off_cpu_notes(counts),
    }


def _syscall_notes(counts: Mapping[str, Any]) -> list[str]:
    notes = []
    exits = int(number(counts.get("unmatched_exits")))
    if exits:
        notes.append(
            f"{_plural(exits, 'exit')} had no enter (a call already running when the trace "
            "started, such as the execve of a per-task recording)."
        )
    enters = int(number(counts.get("unmatched_enters")))
    if enters:
        notes.append(
            f"{_plural(enters, 'call')} had not returned when the trace ended "
            "(exit_group, or a call still blocked)."
        )
    for key, text in (
        ("replaced_enters", "enter was followed by another enter on its thread (exit lost)"),
        ("mismatched", "exit did not match the pending enter"),
    ):
        value = int(number(counts.get(key)))
        if value:
            notes.append(f"{formatting.count(value)} time(s) an {text}.")
    return notes


def _syscall_latency(raw: object) -> dict[str, Any] | None:
    section = _dict(raw)
    if not section:
        return None
    counts = _dict(section.get("counts"))
    by_syscall = []
    for name, stats in _dict(section.get("by_syscall")).items():
        row: dict[str, Any] = dict.fromkeys(_LATENCY)
        row.update(_dict(stats))
        row["syscall"] = str(name)
        by_syscall.append(row)
    by_syscall.sort(key=lambda row: (-number(row["total_s"]), row["syscall"]))
    threads = keyed_rows(
        section.get("by_thread"),
        ("tid", "pid", "comm", "events", "share", "calls", "errors", "total_s", "syscalls"),
    )
    for thread in threads:
        thread["label"] = _thread_label(thread)
        thread["syscalls"] = keyed_rows(
            thread["syscalls"],
            (
                "syscall",
                "calls",
                "errors",
                "total_s",
                "min_s",
                "avg_s",
                "max_s",
                "stddev_pct",
            ),
        )
    lines = perf_trace_summary_lines(threads) if threads else []
    return {
        "counts": counts,
        "pairs": counts.get("pairs"),
        "threads": section.get("threads"),
        "by_syscall": by_syscall,
        "by_thread": threads,
        "more_threads": max(int(number(section.get("threads"))) - len(threads), 0),
        "summary_lines": lines,
        "summary_text": "\n".join(lines).strip("\n"),
        "notes": _syscall_notes(counts),
    }


def perf_details(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The display parts of a raw ``perf`` section beyond events and folded stacks:

    - ``span``: ``{first_s, last_s, span_s}`` of all samples (values None when unknown);
    - ``by_event``: one dict per event, most samples first, with ``symbols`` (each with
      ``name``, ``dso_name``), ``dsos``, ``by_thread`` (each with ``label``), ``more_threads``
      and ``has_cpu`` (the event is a clock, so ``cpu_s`` is known);
    - ``block_io``, ``off_cpu``, ``syscall_latency``: None when absent, else the section with
      its lists ranked, ``notes`` on what could not be paired, and for block I/O per device
      the ``histogram_lines`` (biolatency's layout) and ``buckets`` with their star ``bar``;
      for syscalls the ``summary_lines`` in ``perf trace -s``'s layout (and ``summary_text``:
      the same without the blank lines around it).
    """
    span: dict[str, Any] = {"first_s": None, "last_s": None, "span_s": None}
    span.update(_dict(raw.get("span")))
    return {
        "span": span,
        "by_event": _events(raw),
        "block_io": _block_io(raw.get("block_io")),
        "off_cpu": _off_cpu(raw.get("off_cpu")),
        "syscall_latency": _syscall_latency(raw.get("syscall_latency")),
    }


_CLOCK_EVENTS = frozenset({"cpu-clock", "task-clock"})


def folded_weight(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the folded counts are: ``samples`` (one per sample), or the folded event's summed
    sample periods, which are not a count: nanoseconds of CPU time for ``cpu-clock`` and
    ``task-clock``, else that event's own unit (cycles, instructions ...). The event is the
    one whose summed ``period`` equals ``folded_total``. Keys: ``unit`` (``samples``, ``ns``
    or the event), ``periods`` (bool), ``noun`` (the column header) and ``total_text``."""
    total = raw.get("folded_total")
    by_event = _dict(raw.get("by_event"))
    for name, value in by_event.items():
        event = _dict(value)
        if event.get("tracepoint") or event.get("period") is None or event["period"] != total:
            continue
        base = str(name).split("/", 1)[0].split(":", 1)[0]
        if base in _CLOCK_EVENTS:
            return {
                "unit": "ns",
                "periods": True,
                "noun": "CPU time",
                "total_text": f"{formatting.duration(number(total) / 1e9)} of CPU time, "
                f"the summed {name} sample periods",
            }
        return {
            "unit": str(name),
            "periods": True,
            "noun": f"{name}",
            "total_text": f"{formatting.count(total)} {name}, the summed sample periods",
        }
    return {
        "unit": "samples",
        "periods": False,
        "noun": "samples",
        "total_text": f"{formatting.count(total)} samples",
    }


def weight_text(value: object, weight: Mapping[str, Any]) -> str:
    """One folded stack's weight as its unit says: ``1.2 s`` of CPU, or a count."""
    if weight["unit"] == "ns":
        return formatting.duration(number(value) / 1e9)
    return formatting.count(value)


def perf_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``perf`` section normalised.

    ``events`` is a list of (event, samples) pairs, largest first. Each top stack has
    ``frames`` (root first), ``depth``, ``leaf``, ``short`` (see `short_stack`) and
    ``shortened`` (whether ``short`` differs from the full ``stack``), ``folded`` (the
    ``stack count`` line of ``--format folded``) and ``weight`` (its count in its unit,
    `folded_weight`, which is ``folded_weight``). ``span``, ``by_event``, ``block_io``,
    ``off_cpu`` and ``syscall_latency`` are laid out by `perf_details`.
    """
    events = raw.get("events")
    pairs = sorted(
        (events if isinstance(events, dict) else {}).items(),
        key=lambda pair: (-number(pair[1]), str(pair[0])),
    )
    stacks = keyed_rows(raw.get("top_stacks"), ("stack", "count", "share"))
    weight = folded_weight(raw)
    for row in stacks:
        row["weight"] = weight_text(row["count"], weight)
        full = "" if row["stack"] is None else str(row["stack"])
        row["stack"] = full
        frames = full.split(";") if full else []
        row["frames"] = frames
        row["depth"] = len(frames)
        row["leaf"] = frames[-1] if frames else ""
        row["short"] = short_stack(frames)
        row["shortened"] = row["short"] != full
        row["folded"] = f"{full} {row['count']}"
    return {
        "samples": raw.get("samples") or 0,
        "events": pairs,
        "folded_total": raw.get("folded_total"),
        "folded_weight": weight,
        "top_stacks": stacks,
        "any_shortened": any(row["shortened"] for row in stacks),
        **perf_details(raw),
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    """The perf part of `view`, or None when the report has no ``perf`` section."""
    raw = view.report.get("perf")
    return perf_section(raw) if isinstance(raw, dict) else None
