"""The fast engine (vectorised pre-filter + grammar) agrees with the grammar on every line.

On every research fixture, every incident application log and every public excerpt (tests
named ``public``), and on generated logs: reprs in each Python version's shape (3.7 without
names, 3.8-3.9 wake-up wrappers, 3.10+ ``Task.task_wakeup()``, 3.13 hidden arguments, 3.14
``_ThreadSafeHandle``, uvloop's bare qualnames, aiodebug without ``created at``), wrapped in
each known envelope and in generated generic envelopes (time, level, logger, pid, thread and
other fields in random order with random separators), between application lines.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Token
from support import examples

from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_lark, asyncio_record, asyncio_scan
from analyzer.inputs import iter_line_chunks, open_input

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ROOT / "fixtures" / "asyncio" / "research"
FIXTURES = [*sorted((RESEARCH / "out").glob("*.txt")), RESEARCH / "py314" / "probe314_output.txt"]
INCIDENT_LOGS = sorted((ROOT / "fixtures" / "incidents").glob("*/app.*"))
PUBLIC = sorted((ROOT / "fixtures" / "public" / "asyncio").glob("*.txt"))


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


@pytest.mark.parametrize("path", INCIDENT_LOGS, ids=lambda path: f"{path.parent.name}/{path.name}")
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 512])
def test_fast_equals_grammar_on_incident_logs(path: Path, chunk_bytes: int) -> None:
    _same(_parse_path(path, "fast", chunk_bytes), _parse_path(path, "lark", chunk_bytes))


@pytest.mark.parametrize("path", PUBLIC, ids=lambda path: path.name)
def test_fast_equals_grammar_on_public_excerpts(path: Path) -> None:
    _same(_parse_path(path, "fast", 512), _parse_path(path, "lark", 512))


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


# -- generated generic envelopes -------------------------------------------------------------


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()  # type: ignore[misc]


# (as printed, time text, time_s); the time_s computed here with datetime, not by iodiag
TIME_FIELDS = [
    ("2026-12-05 08:13:03,082", "2026-12-05 08:13:03,082", _utc(2026, 12, 5, 8, 13, 3, 82000)),
    ("2026-12-05 08:13:03.082", "2026-12-05 08:13:03.082", _utc(2026, 12, 5, 8, 13, 3, 82000)),
    ("2026-12-05T08:20:47.971Z", "2026-12-05T08:20:47.971Z", _utc(2026, 12, 5, 8, 20, 47, 971000)),
    ("2026-12-05T09:20:47+01:00", "2026-12-05T09:20:47+01:00", _utc(2026, 12, 5, 8, 20, 47)),
    ("2026/12/05 08:13:03", "2026/12/05 08:13:03", _utc(2026, 12, 5, 8, 13, 3)),
    ("[2026-11-26 15:08:59 +0000]", "2026-11-26 15:08:59 +0000", _utc(2026, 11, 26, 15, 8, 59)),
    ("1796458383.475241", "1796458383.475241", 1796458383.475241),
    ("22:02:09.188", "22:02:09.188", None),
    ("Nov 26 15:09:18", "Nov 26 15:09:18", None),
    ("time=2026-12-05T08:20:47Z", "2026-12-05T08:20:47Z", _utc(2026, 12, 5, 8, 20, 47)),
]
# (as printed, level)
LEVEL_FIELDS = [
    ("WARNING", "WARNING"), ("warning", "WARNING"), ("Error", "ERROR"), ("[ERROR]", "ERROR"),
    ("(INFO)", "INFO"), ("level=debug", "DEBUG"), ("CRITICAL", "CRITICAL"), ("WARN", "WARN"),
]  # fmt: skip
# (as printed, logger, a logger token a bare number right after is the line number of)
ASYNCIO_LOGGERS = [
    ("asyncio", "asyncio", True), ("[asyncio]", "asyncio", True),
    ("asyncio:base_events.py:1981", "asyncio", True), ("logger=asyncio", "asyncio", True),
    ("asyncio.events", "asyncio.events", True), ("name=aiodebug", "aiodebug", True),
    ("aiodebug.log_slow_callbacks:<lambda>(21)", "aiodebug.log_slow_callbacks", True),
]  # fmt: skip
OTHER_LOGGERS = [
    ("svc.api", "svc.api", True),
    ("[homeassistant.core]", "homeassistant.core", False),
]
# (as printed, pid, bare)
PID_FIELDS = [("18917", 18917, True), ("[18917]", 18917, False), ("pid=4242", 4242, False),
              ("(4242)", 4242, False), ("process=77", 77, False)]  # fmt: skip
_BARE_PID = {printed: bare for printed, _, bare in PID_FIELDS}
# (as printed, thread)
THREAD_FIELDS = [
    ("MainThread", "MainThread"), ("[MainThread]", "MainThread"), ("(MainThread)", "MainThread"),
    ("Thread-3 (worker)", "Thread-3 (worker)"), ("asyncio_0", "asyncio_0"),
    ("[asyncio_2]", "asyncio_2"), ("(SyncWorker_9)", "SyncWorker_9"),
    ("thread=loop-1", "loop-1"), ("threadName=Dummy-1", "Dummy-1"),
]  # fmt: skip
STRICT_OTHERS = ["req=7f3a", "[req-42]", "user=alice"]
FREE_WORDS = ["web-1", "checkout", "#", "D"]
SEPARATORS = [" ", "  ", " - ", "\t", " \x1b[31m", " | "]
OTHER_TEXTS = [
    "Using selector: EpollSelector",
    "<_SelectorSocketTransport fd=7 read=idle write=<idle, bufsize=0>> pauses reading",
    "<Server sockets=(<asyncio.TransportSocket fd=6, family=2, type=1, proto=6>,)> is serving",
    "Close <_UnixSelectorEventLoop running=False closed=False debug=True>",
]


@st.composite
def generic_envelopes(draw: st.DrawFn, strict: bool) -> tuple[str, dict[str, Any]]:
    """An envelope of fields in random order with random separators, and the values it
    holds. ``strict``: no free words and an asyncio logger (what an `other` record needs)."""
    fields: list[tuple[str, str, Any]] = []  # (kind, as printed, value)
    has_time, has_level = draw(st.booleans()), draw(st.booleans())
    if not has_time and not has_level:
        has_level = True
    if has_time:
        printed, text, seconds = draw(st.sampled_from(TIME_FIELDS))
        fields.append(("time", printed, (text, seconds)))
    if has_level:
        fields.append(("level", *draw(st.sampled_from(LEVEL_FIELDS))))
    loggers = ASYNCIO_LOGGERS if strict else ASYNCIO_LOGGERS + OTHER_LOGGERS
    if strict or draw(st.booleans()):
        printed, name, lineno_before = draw(st.sampled_from(loggers))
        fields.append(("logger", printed, (name, lineno_before)))
    if draw(st.booleans()):
        printed, pid, _bare = draw(st.sampled_from(PID_FIELDS))
        fields.append(("pid", printed, pid))
    if draw(st.booleans()):
        fields.append(("thread", *draw(st.sampled_from(THREAD_FIELDS))))
    for other in draw(st.lists(st.sampled_from(STRICT_OTHERS), max_size=2)):
        fields.append(("other", other, None))
    if not strict:
        for word in draw(st.lists(st.sampled_from(FREE_WORDS), max_size=2)):
            fields.append(("word", word, None))
    order = draw(st.permutations(fields))
    parts: list[str] = []
    expected: dict[str, Any] = {
        "_strict": [  # is each field, in order, a strict one (grammar section 1b)?
            kind != "word" and (kind != "logger" or printed != "svc.api")
            for kind, printed, _ in order
        ],
        "_kinds": [kind for kind, _, _ in order],
        "_asyncio_at": next(  # where the asyncio logger field is, if any
            (i for i, (kind, _, value) in enumerate(order) if kind == "logger" and
             asyncio_lark.is_asyncio_logger(value[0])), None),
    }  # fmt: skip
    for index, (kind, printed, value) in enumerate(order):
        if index:  # (a free word then " | " at the start is a docker compose prefix)
            after_word = order[index - 1][0] == "word"
            parts.append(draw(st.sampled_from(SEPARATORS[:-1] if after_word else SEPARATORS)))
        parts.append(printed)
        if kind == "time":
            expected["time"], expected["time_s"] = value
        elif kind == "logger":
            expected["logger"] = value[0]
        elif kind == "pid":
            # a bare number right after a logger name is its line number (F_PID)
            before = order[index - 1] if index else None
            after_logger = before is not None and before[0] == "logger" and before[2][1]
            expected["pid"] = None if _BARE_PID[printed] and after_logger else value
        elif kind in ("level", "thread"):
            expected[kind] = value
    last = order[-1][0]
    ends = [" ", " - ", " | "] if last == "word" else [" ", ": ", " - ", " | "]
    return "".join(parts) + draw(st.sampled_from(ends)), expected


def _check_envelope(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("time", "level", "logger", "pid", "thread"):
        assert row[key] == expected.get(key), (key, row["text"])
    if expected.get("time_s") is None:
        assert row["time_s"] is None
    else:
        assert row["time_s"] == pytest.approx(expected["time_s"], abs=1e-6)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(APP_LINES, max_size=2),
            st.one_of(
                st.tuples(st.just("message"), generic_envelopes(strict=False), messages()),
                st.tuples(
                    st.just("other"),
                    generic_envelopes(strict=True),
                    st.sampled_from(OTHER_TEXTS).map(lambda text: [text]),
                ),
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([1 << 20, 300]),
    st.sampled_from(["", "web_1  | ", "\x1b[36mapi-1  | \x1b[0m"]),
    st.sampled_from(["", "\x1b[0m"]),
)
def test_fast_equals_grammar_on_generated_envelopes(
    blocks: list[tuple[list[str], tuple[str, tuple[str, dict[str, Any]], list[str]]]],
    chunk_bytes: int,
    compose: str,
    reset: str,
) -> None:
    """asyncio records in generated generic envelopes between application lines (all of a
    record's lines after a docker compose prefix, in colour or not; a colour reset after
    its first line): both engines read the same, every record is found, with the envelope's
    values and the lines of the record."""
    lines: list[str] = []
    for app, (_shape, (envelope, _expected), record) in blocks:
        lines += app
        lines += [compose + envelope + record[0] + reset, *(compose + line for line in record[1:])]
    lines.append("job 4 done")
    text = "\n".join(lines) + "\n"
    fast = _parse_text(text, "fast", chunk_bytes)
    _same(fast, _parse_text(text, "lark", chunk_bytes))
    assert fast.unparsed.num_rows == 0
    rows = fast.loop_events.to_pylist()
    assert len(rows) == len(blocks)
    for (_app, (shape, (_envelope, expected), record)), row in zip(blocks, rows, strict=True):
        _check_envelope(row, expected)
        assert row["message"] == record[0]
        assert row["line_end"] - row["line_start"] >= len(record) - 1  # (+ app tracebacks)
        if shape == "other":
            assert row["kind"] == "other"
        elif record[0].startswith("Executing "):
            assert row["kind"] == "slow_callback"
            assert row["duration_s"] == pytest.approx(float(record[0].rsplit(" ", 2)[1]))
    for line in lines:
        _agree(line)


@settings(max_examples=examples(300), deadline=None)
@given(generic_envelopes(strict=False), st.sampled_from(OTHER_TEXTS))
def test_other_text_is_asyncio_s_only_after_strict_fields_and_its_logger(
    generated: tuple[str, dict[str, Any]], text: str
) -> None:
    """Other text after a generic envelope is an asyncio `other` record exactly when the
    fields up to the first free one (a free word, another logger's name) name an asyncio
    logger and hold a time or a level; else it is an application line. (A free word after
    the logger starts the message.)"""
    envelope, expected = generated
    line = envelope + text
    _agree(line)
    read = asyncio_lark.parse_line(line)
    record = (
        isinstance(read, asyncio_record.Line)
        and read.role == "other"
        and asyncio_lark.is_asyncio_logger((read.envelope or {}).get("logger"))
    )
    run = []  # the fields up to the first free one
    for kind, strict in zip(expected["_kinds"], expected["_strict"], strict=True):
        if not strict:
            break
        run.append(kind)
    at = expected["_asyncio_at"]
    assert record == (at is not None and at < len(run) and ("time" in run or "level" in run))
    if record and all(expected["_strict"]):
        assert isinstance(read, asyncio_record.Line) and read.data["message"] == text


def _accepted(start: str, tokens: list[tuple[str, str]]) -> set[str]:
    """The terminals Lark's contextual lexer tries after `tokens` (start symbol `start`)."""
    parser = asyncio_lark.cached_parser()
    interactive = parser.parse_interactive("", start=start)
    for kind, text in tokens:
        interactive.feed_token(Token(kind, text))
    lexers = parser.parser.lexer.lexers  # type: ignore[attr-defined]
    return {term.name for term in lexers[interactive.parser_state.position].terminals}


def _names(scanner: Any) -> set[str]:
    return set(scanner.full.groupindex)


@settings(max_examples=examples(200), deadline=None)
@given(generic_envelopes(strict=False))
def test_field_lexers_try_what_every_parser_state_of_the_rules_accepts(
    generated: tuple[str, dict[str, Any]],
) -> None:
    """The fast field lexers use one terminal set for the first token, one after it and (for
    `envelope_other`) one after the asyncio logger: after every token of generated
    envelopes, Lark's parser state accepts exactly that set."""
    fast = asyncio_scan.fast_parser()
    tokens = fast.fields(generated[0])
    assert tokens is not None
    strict, seen_logger = True, False
    for index in range(len(tokens) + 1):
        fields = fast.fields_first if index == 0 else fast.fields_rest
        assert _accepted("fields", tokens[:index]) == _names(fields)
        if strict:
            other = fast.other_first if index == 0 else fast.other_before
            other = fast.other_after if seen_logger else other
            assert _accepted("envelope_other", tokens[:index]) == _names(other)
        if index < len(tokens):
            kind = tokens[index][0]
            strict = strict and kind not in ("F_WORD", "F_JUNK", "F_LOGGER")
            seen_logger = seen_logger or kind.startswith("F_ALOGGER")


# -- the fast line parser, line by line -------------------------------------------------------


def _read_text(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="backslashreplace")


def _fixture_lines(paths: list[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        text = _read_text(path)
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


FIXTURE_LINES = _fixture_lines([*FIXTURES, *INCIDENT_LOGS])
PUBLIC_LINES = _fixture_lines(PUBLIC)


def _agree(line: str) -> None:
    """Both parsers, the lazy reason included; and where the fast reader of `line` says the
    grammar rejects the line, it does."""
    grammar = asyncio_lark.parse_line(line)
    assert asyncio_scan.parse_line_fast(line) == grammar, line
    lazy = asyncio_scan.parse_line_lazy(line)
    assert (lazy if isinstance(lazy, asyncio_record.Line) else str(lazy)) == grammar, line
    if asyncio_scan.fast_parser().line(line) is asyncio_scan.REJECT:
        assert isinstance(asyncio_lark.GRAMMAR_READERS.line(line), asyncio_lark.Rejected), line


def test_fast_line_parser_equals_grammar_on_every_fixture_line() -> None:
    """Research fixtures and incident application logs (about 3,000 distinct lines)."""
    assert len(FIXTURE_LINES) > 2000
    for line in FIXTURE_LINES:
        _agree(line)


def test_fast_line_parser_equals_grammar_on_every_public_line() -> None:
    assert len(PUBLIC_LINES) > 200
    for line in PUBLIC_LINES:
        _agree(line)


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


@pytest.mark.slow
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
    "asyncio", " asyncio ", "[asyncio]", " INFO ", "ERROR:", " 1234 ", "...", "pid=7",
    "Executing <", "Task was destroyed but it is pending!", "\x1b[31m", " | ", ",",
]  # fmt: skip


def mutated(line: str, at: int, length: int, how: str, fragment: str) -> str:
    """`line` with a character deleted (and up to two more) or doubled, `fragment` inserted,
    or cut, at `at` (modulo its length + 1)."""
    at %= len(line) + 1
    if how == "delete":
        return line[:at] + line[at + 1 + length % 3 :]
    if how == "insert":
        return line[:at] + fragment + line[at:]
    if how == "truncate":
        return line[:at]
    return line[:at] + line[at : at + 1] * 2 + line[at + 1 :]


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
    _agree(mutated(line, at, length, how, fragment))


# -- the byte pre-filter ----------------------------------------------------------------------


def _mask_lines(block: bytes) -> list[int]:
    """The candidate line indexes the old way: split into lines, RE2 on each line."""
    lines = [line.decode("utf-8", "backslashreplace") for line in block.split(b"\n")]
    mask = asyncio_scan.candidate_mask(pa.array(lines, pa.string()))
    return [index for index, hit in enumerate(mask) if hit]


def test_candidate_lines_are_the_lines_with_a_marker() -> None:
    """On every fixture: the same lines as matching each decoded line on its own, and the
    offsets are where those lines start."""
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
