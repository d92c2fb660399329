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

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import examples

from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_lark, asyncio_record, asyncio_scan
from analyzer.inputs import iter_line_chunks, open_input

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ROOT / "fixtures" / "asyncio" / "research"
FIXTURES = [*sorted((RESEARCH / "out").glob("*.txt")), RESEARCH / "py314" / "probe314_output.txt"]


def _parse_path(path: Path, engine: str, chunk_bytes: int) -> asyncio_format.ParsedLog:
    source = open_input(path)
    try:
        chunks = iter_line_chunks(source.stream, chunk_bytes=chunk_bytes)
        return asyncio_format.parse(chunks, path.name, engine=engine)
    finally:
        source.close()


def _parse_text(text: str, engine: str, chunk_bytes: int = 1 << 20) -> asyncio_format.ParsedLog:
    chunks = iter_line_chunks(io.BytesIO(text.encode()), chunk_bytes=chunk_bytes)
    return asyncio_format.parse(chunks, "-", engine=engine)


def _same(fast: asyncio_format.ParsedLog, lark: asyncio_format.ParsedLog) -> None:
    assert asyncio_format.table_to_records(fast.loop_events) == asyncio_format.table_to_records(
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


@settings(max_examples=examples(150), deadline=None)
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


# -- the fast line parser, line by line -------------------------------------------------------


def _fixture_lines() -> list[str]:
    lines: list[str] = []
    for path in FIXTURES:
        text = path.read_text(encoding="utf-8")
        lines += [line.rstrip("\r") for line in text.split("\n")]
        for line in text.split("\n"):  # the message lines inside JSON records
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                for key in ("message", "exc_info", "MESSAGE"):
                    if isinstance(obj.get(key), str):
                        lines += obj[key].split("\n")
    return list(dict.fromkeys(lines))


FIXTURE_LINES = _fixture_lines()


def test_fast_line_parser_equals_grammar_on_every_fixture_line() -> None:
    for line in FIXTURE_LINES:
        assert asyncio_scan.parse_line_fast(line) == asyncio_lark.parse_line(line), line


def test_fast_line_parser_reads_the_common_lines_itself() -> None:
    """The fast path must not quietly hand everything to the grammar: every `Executing`
    line without a journald prefix, every traceback frame and every enveloped application
    line of the fixtures is read without it."""
    fast = asyncio_scan.fast_parser()
    missed = []
    for line in FIXTURE_LINES:
        parsed = asyncio_lark.parse_line(line)
        if not isinstance(parsed, asyncio_record.Line) or parsed.journal is not None:
            continue
        common = (
            parsed.data.get("kind") == "slow_callback"
            or parsed.data.get("type") in ("frame", "indented", "exc", "traceback", "key")
            or parsed.role in ("other", "monitor")
        )
        if common and fast.line(line) is None:
            missed.append(line)
    assert not missed, missed[:5]


def test_fast_line_parser_equals_grammar_at_line_edges() -> None:
    """Every fixture line with a blank or a tab added at either end, or its last character
    dropped (where hand-written tokenising most often differs from a lexer)."""
    for line in FIXTURE_LINES:
        for variant in (line + " ", " " + line, line + "\t", line[:-1]):
            fast, grammar = (
                asyncio_scan.parse_line_fast(variant),
                asyncio_lark.parse_line(variant),
            )
            assert fast == grammar, variant


FRAGMENTS = [
    " ", ">", "<", "'", '"', ":", "()", "(", ")", "[", "]", ", ", " at ", "=", ".", "0",
    " cancelled", " created at x.py:1", " when=1.5", " running", " - ", "  ", "\t",
    "Warning: ", "x.py:3: RuntimeWarning: ", "Handle", "Task", " took 1.000 seconds",
]  # fmt: skip


@settings(max_examples=examples(400), deadline=None)
@given(
    st.sampled_from(FIXTURE_LINES),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.sampled_from(["delete", "insert", "truncate", "double"]),
    st.sampled_from(FRAGMENTS),
)
def test_fast_line_parser_equals_grammar_on_mutated_lines(
    line: str, at: int, length: int, how: str, fragment: str
) -> None:
    """Fixture lines with a character deleted or doubled, a fragment inserted, or cut:
    wherever the fast parser accepts a line, it reads it as the grammar does."""
    at %= len(line) + 1
    if how == "delete":
        line = line[:at] + line[at + 1 + length % 3 :]
    elif how == "insert":
        line = line[:at] + fragment + line[at:]
    elif how == "truncate":
        line = line[:at]
    else:
        line = line[:at] + line[at : at + 1] * 2 + line[at + 1 :]
    assert asyncio_scan.parse_line_fast(line) == asyncio_lark.parse_line(line)


# -- the byte pre-filter ----------------------------------------------------------------------


def _mask_lines(block: bytes) -> list[int]:
    """The candidate line indexes the old way: split into lines, RE2 on each line."""
    lines = [line.decode("utf-8", "backslashreplace") for line in block.split(b"\n")]
    mask = asyncio_scan.candidate_mask(pa.array(lines, pa.string()))
    return [index for index, hit in enumerate(mask) if hit]


@pytest.mark.parametrize("piece", [64, 4096, 256 << 10])
@pytest.mark.parametrize("rounds", [1, 8])
def test_candidate_lines_are_the_lines_with_a_marker(
    piece: int, rounds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every fixture, with pieces and rounds so small that most blocks need many rounds
    or go to the dense fallback: the same lines as matching each line on its own, and the
    offsets are where those lines start."""
    monkeypatch.setattr(asyncio_scan, "PIECE_BYTES", piece)
    monkeypatch.setattr(asyncio_scan, "MAX_ROUNDS", rounds)
    for path in FIXTURES:
        block = path.read_bytes().rstrip(b"\n")
        offsets, indexes = asyncio_scan.candidate_lines(block)
        assert indexes == _mask_lines(block), path.name
        starts = [0] + [i + 1 for i, byte in enumerate(block) if byte == 10]
        assert offsets == [starts[i] for i in indexes], path.name


def test_crlf_and_bad_bytes_read_alike_by_both_engines() -> None:
    """Hand-made: a real log with CRLF line ends and bytes that are not UTF-8 inside and
    outside asyncio records; both engines give the same records, lines and counts."""
    lines = (RESEARCH / "out" / "long_ts.txt").read_bytes().split(b"\n")
    mixed = []
    for number, line in enumerate(lines):
        if number % 5 == 1:
            line += b" \xff\xfe"
        mixed.append(line + (b"\r" if number % 2 else b""))
    data = b"\n".join(mixed)
    results = {}
    for engine in ("fast", "lark"):
        for chunk_bytes in (300, 1 << 20):
            chunks = iter_line_chunks(io.BytesIO(data), chunk_bytes=chunk_bytes)
            results[engine, chunk_bytes] = asyncio_format.parse(chunks, "-", engine=engine)
    for parsed in results.values():
        _same(parsed, results["lark", 1 << 20])
        assert parsed.non_utf8_lines == sum(1 for n in range(len(lines)) if n % 5 == 1)
    assert results["fast", 300].record_count > 0
