"""IOD010 asyncio_misuse: what asyncio said the code did wrong, grouped by kind and place.

From the `loop_events` rows of the misuse kinds (see analyzer/formats/asyncio_record.py):

``exception``               the loop's exception handler caught an exception a callback,
                            protocol or task raised (``Exception in callback ...``, ``Fatal
                            error on transport``, errors during ``asyncio.run()`` shutdown)
``never_retrieved``         a task or future failed and nothing ever looked at its exception
``task_destroyed_pending``  a task was garbage-collected (or the loop closed) while pending
``never_awaited``           a coroutine was created and never awaited
``resource_warning``        a transport, stream or loop was never closed

One finding per input, kind and place: the code location asyncio names (``file:line``),
else the callback, coroutine or first message line. Each has the count, first and last
time, the exception types, the last traceback frame (where it was raised), a sample record
(its first and last lines when long) and the fix for the kind.

Severity: ``error`` for ``exception`` and ``never_retrieved``: an exception escaped and
nothing handled it, so the work it belonged to was lost (a request dropped, a background
job silently dead). ``warning`` for the rest: bugs that lose work or leak resources only
sometimes. ``cost_s`` is 0: they cost correctness, not time, so the verdict ranks them
after every finding that cost time.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.derive.asyncio import MISUSE_KINDS, SAMPLE_CHARS, RowValues, first_codes, pair_codes
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs, Severity
from analyzer.passes.common import short_location, text_or_none

CODE = "IOD010"
KIND = "asyncio_misuse"
MAX_GROUPS = 20
"""Findings per log at most (errors first, then the most frequent)."""
SAMPLE_HEAD_SHARE = 0.4
"""A long sample keeps this share of `SAMPLE_CHARS` from its start, the rest from its end
(where the exception is)."""
MESSAGE_CHARS = 200
ERROR_KINDS = frozenset({"exception", "never_retrieved"})

_COLUMNS = [
    "input",
    "line_start",
    "kind",
    "time",
    "time_s",
    "pid",
    "message",
    "repr_class",
    "task_name",
    "coro",
    "callback",
    "location",
    "created_at",
    "exc_type",
    "exc_message",
    "text",
]
_FRAME_RE = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)')
_LIBRARY_RE = re.compile(r"/asyncio/|^uvloop/|/uvloop/|/concurrent/futures/")
TRACEBACK = "Traceback (most recent call last):"
_ALLOCATED_RE = re.compile(r'File "(?P<file>[^"]+)", lineno (?P<line>\d+)')
_INNER_REPR_RE = re.compile(r"<(?P<cls>[\w.]+)[^<>]*>")

TITLES = {
    "exception": "Unhandled exception in the event loop",
    "never_retrieved": "Exception never retrieved",
    "task_destroyed_pending": "Task destroyed while pending",
    "never_awaited": "Coroutine never awaited",
    "resource_warning": "Resource never closed",
}


def excerpt(text: str, limit: int = SAMPLE_CHARS) -> str:
    """The record's text, or its first and last lines when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    head_budget, tail_budget = int(limit * SAMPLE_HEAD_SHARE), int(limit * (1 - SAMPLE_HEAD_SHARE))
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > head_budget:
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > tail_budget:
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    if not head and not tail:
        return text[:head_budget] + " [...] " + text[-tail_budget:]
    skipped = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"[... {skipped} lines ...]", *tail])


def raised_at(text: str) -> str | None:
    """``file:line in function`` of the last frame of the record's traceback (where the
    exception was raised); None when the record has no ``Traceback`` (a future's exception
    set with set_exception)."""
    marker = text.rfind(TRACEBACK)
    return _last_frame(text[marker:]) if marker >= 0 else None


def created_in(text: str) -> str | None:
    """The application frame that created the task, future or handle: the last frame of the
    creation traceback (debug mode's ``source_traceback``) outside asyncio's own files."""
    marker = text.find(TRACEBACK)
    return _last_frame(text if marker < 0 else text[:marker], skip=_LIBRARY_RE)


def _last_frame(text: str, skip: re.Pattern[str] | None = None) -> str | None:
    frames = [
        frame
        for frame in _FRAME_RE.finditer(text)
        if skip is None or not skip.search(frame["file"])
    ]
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame['file']}:{frame['line']} in {frame['function']}"


def allocated_at(text: str) -> str | None:
    """Where tracemalloc says a leaked object was allocated (its last frame), if shown."""
    frames = list(_ALLOCATED_RE.finditer(text))
    return f"{frames[-1]['file']}:{frames[-1]['line']}" if frames else None


def plain_reprs(text: str) -> str:
    """``unclosed transport <_SelectorSocketTransport fd=8>`` -> ``unclosed transport
    _SelectorSocketTransport``: the class of each repr, without its changing details."""
    while True:
        plain = _INNER_REPR_RE.sub(lambda match: match["cls"], text)
        if plain == text:
            return plain
        text = plain


def _short_frame(frame: str) -> str:
    """``/srv/app.py:12 in parse`` -> ``parse (app.py:12)``."""
    place, _, function = frame.partition(" in ")
    return f"{function} ({short_location(place)})" if function else str(short_location(place))


def _clip(text: str | None, limit: int = MESSAGE_CHARS) -> str:
    text = (text or "").split("\n", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resource_fix(what: str) -> str:
    """How to close what a ResourceWarning says was left open."""
    lowered = what.lower()
    if "event loop" in lowered:
        return (
            "Close the event loop: run the program with asyncio.run(...), or call "
            "loop.close() in a finally block after run_until_complete."
        )
    if "loop is closed" in lowered:
        return (
            "A stream was garbage-collected after its loop closed: close writers "
            "(writer.close(); await writer.wait_closed()) before the loop ends."
        )
    if "subprocess" in lowered:
        return "Wait for subprocesses to finish (await proc.wait()) before the loop closes."
    return (
        "Close transports and streams on every path: writer.close(); await "
        "writer.wait_closed() in a finally block (or an async with); run with "
        "-X tracemalloc=10 to see where each leaked object was allocated."
    )


def fix_for(
    kind: str,
    who: str | None,
    where: str | None,
    what: str,
    raised: str | None = None,
    created: str | None = None,
) -> str:
    """The fix for one kind of misuse (``raised``/``created``: frames, when no name or place)."""
    at = f" at {where}" if where else ""
    if kind == "exception":
        target = f"{who}{at}" if who else (where or raised or "the callback the sample shows")
        return (
            f"Catch and handle the exception in {target} (try/except around its work): the "
            "loop's handler only logs it and the callback's work is lost. Install "
            "loop.set_exception_handler(...) to send such errors to your error tracker."
        )
    if kind == "never_retrieved":
        target = f" running {who}{at}" if who else ""
        if not who and created:
            target = f" or future created in {created}"
        return (
            f"Await the task{target} (or asyncio.gather it), or add a done callback that "
            "calls task.exception() and logs or handles it; keep a reference to every task "
            "you create."
        )
    if kind == "task_destroyed_pending":
        target = f" running {who}{at}" if who else ""
        return (
            f"Keep a strong reference to the task{target} until it finishes (a set plus "
            "task.add_done_callback(tasks.discard), or asyncio.TaskGroup), and cancel and "
            "await pending tasks before the loop closes."
        )
    if kind == "never_awaited":
        target = f" of {who}" if who else ""
        return (
            f"Await the call{target}{at} (or schedule it with asyncio.create_task and keep the "
            "task): calling an async function without await runs nothing."
        )
    return resource_fix(what)


def _message(kind: str, count: int, details: dict[str, Any]) -> str:
    times = "" if count == 1 else f" {count} times"
    exception = details["exception"]
    raised = f", raised at {details['raised_at']}" if details["raised_at"] else ""
    if not raised and details["created_in"] and not details["where"]:
        raised = f", for a {details['repr_class'] or 'future'} created in {details['created_in']}"
    who, where = details["who"], details["where"]
    at = f" at {where}" if where else ""
    if kind == "exception":
        source = f" from {who}{at}" if who else at
        return (
            f"The event loop's exception handler caught {exception or 'an exception'}"
            f"{source}{times}{raised} ({_clip(details['first_message'])}). Nothing in the "
            "code handled it, so the work of that callback or connection was abandoned."
        )
    if kind == "never_retrieved":
        subject = details["repr_class"] or "Task"
        source = f" in {who}{at}" if who else at
        return (
            f"{subject} exception was never retrieved{times}: {exception or 'an exception'}"
            f"{source}{raised}. The {subject.lower()} failed and no code awaited it or asked "
            "for its result, so the failure went unnoticed."
        )
    if kind == "task_destroyed_pending":
        names = details["task_names"]
        named = f" ({', '.join(names[:3])})" if names else ""
        return (
            f"A task running {who or 'a coroutine'}{at}{named} was destroyed while still "
            f"pending{times}: it was garbage-collected (nothing referenced it) or the loop "
            "closed first, so its work never finished."
        )
    if kind == "never_awaited":
        return (
            f"Coroutine {who or ''}{at} was never awaited{times}: the call created a "
            "coroutine object and dropped it, so its code never ran."
        )
    allocated = f" (allocated at {details['allocated_at']})" if details["allocated_at"] else ""
    return (
        f"ResourceWarning{times}: {_clip(details['what'])}{allocated}, reported at "
        f"{where or 'an unknown place'}. It was garbage-collected without being closed."
    )


def _group_finding(
    kind: str, name: str, columns: RowValues, members: np.ndarray, config: PassConfig
) -> Finding:
    """The finding of one (kind, place) group of log `name`; `members` are its rows."""
    members = members[np.argsort(columns.values("line_start", members), kind="stable")]
    first = columns.row(int(members[0]), _COLUMNS)
    count = len(members)
    times = columns.values("time_s", members).astype(np.float64)
    timed = times[np.isfinite(times)]
    where = text_or_none(first["location"])
    coro = text_or_none(first["coro"])
    who = f"{coro}()" if coro else text_or_none(first["callback"])
    text = text_or_none(first["text"]) or ""
    exc_type, exc_message = text_or_none(first["exc_type"]), text_or_none(first["exc_message"])
    exception = f"{exc_type}: {_clip(exc_message)}" if exc_type and exc_message else exc_type
    what = exc_message or text_or_none(first["message"]) or ""
    if kind == "resource_warning":
        what = plain_reprs(what)
    types, type_counts = np.unique(
        [t for t in columns.values("exc_type", members) if text_or_none(t)], return_counts=True
    )
    details: dict[str, Any] = {
        "who": who,
        "where": where,
        "exception": exception,
        "raised_at": raised_at(text) if kind in ERROR_KINDS else None,
        "created_in": created_in(text),
        "allocated_at": allocated_at(text) if kind == "resource_warning" else None,
        "first_message": text_or_none(first["message"]),
        "repr_class": text_or_none(first["repr_class"]),
        "task_names": sorted({t for t in columns.values("task_name", members) if text_or_none(t)}),
        "what": what,
    }
    lines = columns.values("line_start", members[: config.max_samples]).astype(int).tolist()
    evidence: dict[str, Any] = {
        "misuse": kind,
        "location": where,
        "coro": text_or_none(first["coro"]),
        "callback": text_or_none(first["callback"]),
        "count": count,
        "first_time_s": float(timed.min()) if len(timed) else None,
        "last_time_s": float(timed.max()) if len(timed) else None,
        "first_time_text": text_or_none(first["time"]),
        "exc_type": exc_type,
        "exc_message": exc_message,
        "exception_types": {
            str(t): int(n)
            for t, n in sorted(zip(types, type_counts, strict=True), key=lambda x: -x[1])
        },
        "raised_at": details["raised_at"],
        "created_in": details["created_in"],
        "allocated_at": details["allocated_at"],
        "what": what or None,
        "task_names": details["task_names"][: config.max_samples],
        "created_at": sorted({c for c in columns.values("created_at", members) if text_or_none(c)})[
            : config.max_samples
        ],
        "lines": lines,
        "sample": {
            "input": name,
            "line": int(first["line_start"]),
            "text": excerpt(text),
        },
    }
    title = TITLES[kind]
    if kind == "resource_warning":
        title += f": {_clip(what, 80)}"
    elif kind in ERROR_KINDS:
        frame = details["raised_at"] or details["created_in"]
        label = who or short_location(where) or (frame and _short_frame(frame))
        title += f": {exc_type or 'exception'}" + (f" in {label}" if label else "")
    elif who or where:
        title += f": {who or short_location(where)}"
    severity: Severity = "error" if kind in ERROR_KINDS else "warning"
    pids = np.unique(columns.values("pid", members).astype(np.float64))
    pids = pids[np.isfinite(pids)]
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=title,
        message=_message(kind, count, details),
        evidence=evidence,
        fix=fix_for(kind, who, where, what, details["raised_at"], details["created_in"]),
        input=name,
        pid=int(pids[0]) if len(pids) == 1 else None,
        start=float(timed.min()) if len(timed) else None,
        duration_s=None,
        cost_s=0.0,
        lines=tuple(lines),
    )


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    events = inputs.loop_events
    if events is None or events.num_rows == 0:
        return []
    wanted = filled_numpy(pc.is_in(events["kind"], value_set=pa.array(MISUSE_KINDS)), False)
    rows = np.flatnonzero(wanted)
    if not len(rows):
        return []
    inputs_of, names = first_codes(events["input"].chunks)
    kind_codes, _ = first_codes(events["kind"].chunks)
    place_codes, _ = first_codes(
        pc.fill_null(
            pc.coalesce(batch["location"], batch["coro"], batch["callback"], batch["message"]), ""
        )
        for batch in events.select(["location", "coro", "callback", "message"]).to_batches()
    )
    line_start = np.asarray(events["line_start"].to_numpy(zero_copy_only=False), dtype=np.int64)
    findings: list[Finding] = []
    present, first_seen = np.unique(inputs_of[rows], return_index=True)
    for code in present[np.argsort(first_seen, kind="stable")].tolist():
        mine = rows[inputs_of[rows] == code]
        columns = RowValues(events, mine)
        codes = pair_codes(kind_codes[mine], place_codes[mine])
        sizes = np.bincount(codes)
        first_line = np.full(len(sizes), np.iinfo(np.int64).max)
        np.minimum.at(first_line, codes, line_start[mine])
        first_row = np.full(len(sizes), len(codes))
        np.minimum.at(first_row, codes, np.arange(len(codes)))
        kinds = columns.values("kind", first_row)
        is_error = np.isin(kinds, list(ERROR_KINDS))
        # errors first, then the most frequent, then the earliest
        order = np.lexsort((first_line, -sizes, ~is_error))[:MAX_GROUPS]
        findings.extend(
            _group_finding(str(kinds[g]), names[code], columns, np.flatnonzero(codes == g), config)
            for g in order
        )
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "")
