"""The fast engine (vectorised pre-filter + grammar) agrees with the grammar on every line.

On every research fixture, and on generated logs: reprs in each Python version's shape
(3.7 without names, 3.8-3.9 wake-up wrappers, 3.10+ ``Task.task_wakeup()``, 3.13 hidden
arguments, 3.14 ``_ThreadSafeHandle``, uvloop's bare qualnames, aiodebug without
``created at``), wrapped in each envelope, between application lines.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.formats import asyncio_log
from analyzer.inputs import iter_line_chunks, open_source

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ROOT / "fixtures" / "asyncio" / "research"
FIXTURES = [*sorted((RESEARCH / "out").glob("*.txt")), RESEARCH / "py314" / "probe314_output.txt"]


def _parse_path(path: Path, engine: str, chunk_bytes: int) -> asyncio_log.ParsedLog:
    source = open_source(path)
    try:
        chunks = iter_line_chunks(source.stream, chunk_bytes=chunk_bytes)
        return asyncio_log.parse(chunks, path.name, engine=engine)
    finally:
        source.close()


def _parse_text(text: str, engine: str, chunk_bytes: int = 1 << 20) -> asyncio_log.ParsedLog:
    chunks = iter_line_chunks(io.BytesIO(text.encode()), chunk_bytes=chunk_bytes)
    return asyncio_log.parse(chunks, "-", engine=engine)


def _same(fast: asyncio_log.ParsedLog, lark: asyncio_log.ParsedLog) -> None:
    assert asyncio_log.table_to_records(fast.loop_events) == asyncio_log.table_to_records(
        lark.loop_events
    )
    assert fast.unparsed.to_pylist() == lark.unparsed.to_pylist()
    assert (fast.line_count, fast.record_lines, fast.application_lines) == (
        lark.line_count,
        lark.record_lines,
        lark.application_lines,
    )


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 512])
def test_fast_equals_grammar_on_fixtures(path: Path, chunk_bytes: int) -> None:
    """Small chunks put record boundaries across chunk boundaries."""
    _same(_parse_path(path, "fast", chunk_bytes), _parse_path(path, "lark", chunk_bytes))


# -- generated records -------------------------------------------------------------------------

QUALNAMES = st.sampled_from(
    ["main", "handler", "svc.<locals>.poll_db", "Worker.run", "<lambda>", "f.<locals>.<genexpr>"]
)
PATHS = st.sampled_from(
    ["/srv/app/svc.py", "scenarios.py", "/opt/py/lib/python3.11/asyncio/tasks.py", r"C:\a\b.py"]
)
LINE_NOS = st.integers(1, 9999)
LOCATIONS = st.builds(lambda path, line: f"{path}:{line}", PATHS, LINE_NOS)
VERSIONS = st.sampled_from(["3.7", "3.8", "3.9", "3.10", "3.12", "3.13", "3.14", "uvloop"])
VALUES = st.sampled_from(
    ["None", "1", "'ok'", "[1, 2, 3]", "{'k': 'v v'}", "b'\\x00'", "'abcdefghijklm...nopqrstuvwx'"]
)
EXCEPTIONS = st.sampled_from(
    ["ValueError('bad')", "ConnectionResetError(104, 'Connection reset by peer')", "KeyError(1)"]
)


@st.composite
def future_reprs(draw: st.DrawFn, version: str, depth: int = 0) -> str:
    debug = draw(st.booleans())
    state = draw(st.sampled_from(["pending", "finished", "cancelled", "cancelling"]))
    is_task = depth == 0 or draw(st.booleans())
    parts = [f"<{'Task' if is_task else 'Future'} {state}"]
    if is_task:
        if version != "3.7":
            parts.append(f"name='Task-{draw(st.integers(1, 500))}'")
        qualname = draw(QUALNAMES)
        where = draw(st.sampled_from(["running at", "done, defined at"]))
        parts.append(f"coro=<{qualname}() {where} {draw(LOCATIONS)}>")
        if state == "pending" and depth < 1 and draw(st.booleans()):
            parts.append(f"wait_for={draw(future_reprs(version, depth + 1))}")
    if state == "finished":
        if draw(st.booleans()):
            parts.append(f"result={draw(VALUES)}")
        else:
            parts.append(f"exception={draw(EXCEPTIONS)}")
    if draw(st.booleans()):
        wakeup = (
            "<TaskWakeupMethWrapper object at 0x7f422de6e9a0>()"
            if version in ("3.7", "3.8", "3.9")
            else "Task.task_wakeup()"
        )
        more = draw(
            st.sampled_from(["", f", gather.<locals>._done_callback() at {draw(LOCATIONS)}"])
        )
        parts.append(f"cb=[{wakeup}{more}]")
    if debug:
        parts.append(f"created at {draw(LOCATIONS)}")
    return " ".join(parts) + ">"


@st.composite
def handle_reprs(draw: st.DrawFn, version: str) -> str:
    cls = draw(
        st.sampled_from(
            ["Handle", "TimerHandle", "_ThreadSafeHandle"]
            if version == "3.14"
            else ["Handle", "TimerHandle"]
        )
    )
    parts = [f"<{cls}"]
    if draw(st.booleans()):
        parts.append("cancelled")
    if cls == "TimerHandle" and version != "uvloop":
        parts.append(f"when={draw(st.floats(0, 1e6, allow_nan=False)):.9f}")
    qualname = draw(QUALNAMES)
    if version == "uvloop":
        parts.append(qualname)
    else:
        args = "()" if version in ("3.13", "3.14") and draw(st.booleans()) else "('a b', 1)"
        at = f" at {draw(LOCATIONS)}" if draw(st.booleans()) else ""
        parts.append(f"{qualname}{args}{at}")
    if draw(st.booleans()):
        parts.append(f"created at {draw(LOCATIONS)}")
    return " ".join(parts) + ">"


@st.composite
def messages(draw: st.DrawFn) -> list[str]:
    """The lines of one asyncio record (without envelope)."""
    version = draw(VERSIONS)
    kind = draw(st.sampled_from(["slow", "destroyed", "retrieved", "callback", "awaited", "other"]))
    if kind == "slow":
        subject = draw(st.one_of(future_reprs(version), handle_reprs(version)))
        seconds = draw(st.floats(0.1, 99, allow_nan=False))
        return [f"Executing {subject} took {seconds:.3f} seconds"]
    frames = [
        "source_traceback: Object created at (most recent call last):",
        f'  File "{draw(PATHS)}", line {draw(LINE_NOS)}, in <module>',
        "    main()",
    ]
    if kind == "destroyed":
        return [
            "Task was destroyed but it is pending!",
            *frames,
            f"task: {draw(future_reprs(version))}",
        ]
    tb = [
        "Traceback (most recent call last):",
        f'  File "{draw(PATHS)}", line {draw(LINE_NOS)}, in handler',
        "    raise ValueError('bad')",
        "ValueError: bad",
    ]
    if kind == "retrieved":
        return ["Task exception was never retrieved", f"future: {draw(future_reprs(version))}", *tb]
    if kind == "callback":
        handle = draw(handle_reprs(version))
        return [f"Exception in callback {draw(QUALNAMES)}('x')", f"handle: {handle}", *frames, *tb]
    if kind == "awaited":
        return [
            f"{draw(PATHS)}:{draw(LINE_NOS)}: RuntimeWarning: coroutine "
            f"'{draw(QUALNAMES)}' was never awaited",
            "Coroutine created at (most recent call last)",
            f'  File "{draw(PATHS)}", line 3, in main',
            "    send()",
            "  send()",
            "RuntimeWarning: Enable tracemalloc to get the object allocation traceback",
        ]
    return ["socket.send() raised exception."]


ENVELOPES = st.sampled_from(
    [
        "",
        "WARNING:asyncio:",
        "2026-11-26 15:08:39,013 WARNING asyncio: ",
        "2026-11-26 15:08:49,526 WARNING  [asyncio] ",
        "2023-04-18 18:33:23.474 WARNING (MainThread) [asyncio] ",
        "2023-01-02 01:31:13,669 - WARNING  - asyncio: ",
        "2023-10-25 17:32:45,185 - asyncio - ERROR - ",
        "[2026-11-26 15:08:59 +0000] [18006] [ERROR] ",
        "journald",
        "json",
    ]
)
APP_LINES = st.sampled_from(
    [
        '2026-11-26 15:08:49,529 INFO     [svc.api] req=0 "GET /health" 200 2.4ms',
        'INFO:     127.0.0.1:57256 - "GET /ok HTTP/1.1" 200 OK',
        "job 3 failed",
        "Traceback (most recent call last):",
        '  File "/srv/x.py", line 1, in f',
        "KeyError: 'x'",
        "",
        '{"levelname": "INFO", "name": "svc", "message": "hello"}',
        "poll the queue",
    ]
)


def _wrap(envelope: str, lines: list[str]) -> list[str]:
    if envelope == "journald":
        return [f"Nov 26 15:09:26 vm demo[42]: {line}" for line in lines]
    if envelope == "json":
        obj = {"asctime": "2026-11-26 15:04:28,251", "levelname": "WARNING", "name": "asyncio"}
        return [json.dumps({**obj, "message": "\n".join(lines)})]
    return [envelope + lines[0], *lines[1:]]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(APP_LINES, max_size=3), ENVELOPES, messages()), min_size=1, max_size=5
    ),
    st.sampled_from([1 << 20, 300]),
)
def test_fast_equals_grammar_on_generated_logs(
    blocks: list[tuple[list[str], str, list[str]]], chunk_bytes: int
) -> None:
    lines: list[str] = []
    for app, envelope, record in blocks:
        lines += app
        lines += _wrap(envelope, record)
    lines.append("job 4 done")
    text = "\n".join(lines) + "\n"
    fast = _parse_text(text, "fast", chunk_bytes)
    lark = _parse_text(text, "lark", chunk_bytes)
    _same(fast, lark)
    assert fast.unparsed.num_rows == 0
    assert fast.record_count == len(blocks)
    for (_app, _envelope, record), row in zip(blocks, fast.loop_events.to_pylist(), strict=True):
        if record[0].startswith("Executing "):
            assert row["kind"] == "slow_callback"
            assert row["duration_s"] == pytest.approx(float(record[0].rsplit(" ", 2)[1]))
