"""The asyncio log grammar and record assembly, checked against the real research logs.

Expectations are derived from the log text with simple regular expressions written here,
independently of the parser, or written out by hand from the catalogue.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_assemble, asyncio_lark
from analyzer.formats.asyncio_record import AsyncioRecord
from analyzer.inputs import iter_line_chunks, open_input

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ROOT / "fixtures" / "asyncio" / "research"
FIXTURES = [*sorted((RESEARCH / "out").glob("*.txt")), RESEARCH / "py314" / "probe314_output.txt"]


def _parse_file(path: Path, engine: str = "lark") -> asyncio_format.ParsedLog:
    source = open_input(path)
    try:
        return asyncio_format.parse(iter_line_chunks(source.stream), str(path), engine=engine)
    finally:
        source.close()


def _parse_text(text: str, engine: str = "lark") -> list[AsyncioRecord]:
    assembler = asyncio_assemble.Assembler()
    for number, line in enumerate(text.split("\n"), 1):
        assembler.feed(number, line)
    assembler.finish()
    return assembler.records


@pytest.mark.slow
def test_grammar_compiles_strictly() -> None:
    asyncio_lark.build_parser(strict=True)


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (outside brackets, classes and escapes)."""
    parts, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    return [*parts, pattern[start:]]


@pytest.mark.slow
def test_every_message_start_holds_a_hint() -> None:
    """`message_starts` skips lines without any `MESSAGE_HINTS` phrase: proved here for every
    regex `message_start` is made of (the narrowed warning head checked through the grammar's
    wider WARNING_HEAD), as regular languages: none matches a text without a hint."""
    interegular = pytest.importorskip("interegular")
    hints = "|".join(re.escape(hint) for hint in asyncio_lark.MESSAGE_HINTS)
    any_hint = f"(?:.|\\n)*(?:{hints})(?:.|\\n)*"
    parser = asyncio_lark.cached_parser()
    regexes = {}
    for name, part in asyncio_lark.message_start_parts():
        if name == "WARNING_HEAD":
            part = parser.get_terminal(name).pattern.to_regexp()
        for index, alternative in enumerate(_alternatives(part)):
            regexes[name, index] = alternative
    # and one that must fail: a phrase no hint is part of
    regexes["control", 0] = "Accept succeeded on a socket"
    comparator = interegular.Comparator.from_regexes({**regexes, "hints": any_hint})
    hinted = comparator.get_fsm("hints")
    without = {key for key in regexes if not comparator.get_fsm(key).difference(hinted).empty()}
    assert without == {("control", 0)}
    assert len(regexes) > 40


@pytest.mark.parametrize("engine", ["lark", "fast"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_every_line_is_a_record_line_or_an_application_line(path: Path, engine: str) -> None:
    parsed = _parse_file(path, engine)
    assert parsed.unparsed.num_rows == 0
    assert (
        parsed.record_lines + parsed.snapshot_lines + parsed.application_lines == parsed.line_count
    )
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    assert parsed.line_count == len(lines)
    starts = set(parsed.loop_events["line_start"].to_pylist())
    covered: set[int] = set()
    for start, end in zip(
        parsed.loop_events["line_start"].to_pylist(),
        parsed.loop_events["line_end"].to_pylist(),
        strict=True,
    ):
        assert not covered & set(range(start, end + 1)), "records overlap"
        covered |= set(range(start, end + 1))
    anchors = re.compile(
        r"Executing <.*> took \d|Task was destroyed but it is pending!"
        r"|\w exception was never retrieved|Exception in callback |' was never awaited"
        r"|ResourceWarning: unclosed |socket\.send\(\) raised"
    )
    for number, line in enumerate(lines, 1):
        if anchors.search(line) and not line.startswith('{"_'):
            assert number in starts, f"line {number} should start a record: {line[:80]}"


_EXECUTING = re.compile(r"Executing (?P<repr><.*>) took (?P<seconds>\d+\.\d+) seconds")


def _expected_slow(line: str) -> tuple[float, str | None, str | None]:
    """(duration, task name, location) read from an `Executing` line with plain regexes."""
    match = _EXECUTING.search(line.replace('\\"', '"'))
    assert match
    text = match["repr"]
    name = re.match(r"<Task \w+ name='([^']*)'", text)
    if text.startswith("<Task "):
        where = re.search(r"coro=<[^ ]+\(\) (?:running at|done, defined at) (\S+?:\d+)>", text)
    else:
        where = re.match(r"<\w+(?: cancelled)?(?: when=[\d.]+)? [^ ]+?\(.*?\) at (\S+?:\d+)", text)
    return (
        float(match["seconds"]),
        name.group(1) if name else None,
        where.group(1) if where else None,
    )


@pytest.mark.parametrize("engine", ["lark", "fast"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_every_executing_line_is_a_slow_callback_row(path: Path, engine: str) -> None:
    parsed = _parse_file(path, engine)
    rows = {
        row["line_start"]: row
        for row in parsed.loop_events.to_pylist()
        if row["kind"] == "slow_callback"
    }
    expected = {
        number: _expected_slow(line)
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1)
        if _EXECUTING.search(line)
    }
    assert set(rows) == set(expected)
    for number, (seconds, name, location) in expected.items():
        row = rows[number]
        assert row["duration_s"] == pytest.approx(seconds), number
        assert row["task_name"] == name, number
        assert row["location"] == location, number


def test_slow_callback_counts_per_file() -> None:
    """Counted by hand from the sample files."""
    counts = {
        "py311_slow_callbacks.txt": 4,
        "uvloop_debug.txt": 7,
        "aiodebug_asyncio.txt": 8,
        "long_ts.txt": 4,
        "long_json.txt": 4,
        "py37_poll_debug.txt": 2,
        "uvicorn_asyncio.txt": 0,
        "uvicorn_py313_uvloop.txt": 1,
    }
    for name, count in counts.items():
        table = _parse_file(RESEARCH / "out" / name).loop_events
        kinds = table["kind"].to_pylist()
        assert kinds.count("slow_callback") == count, name


TS_311 = "/opt/pyenv/versions/3.11.7/lib/python3.11/asyncio/tasks.py:680"

CASES: list[tuple[str, str, dict[str, object]]] = [
    (
        "3.11 task step, no envelope",
        "Executing <Task finished name='Task-2' coro=<blocking_sleep.<locals>.handle_request() "
        "done, defined at /srv/capture/scenarios.py:47> result=1 created at "
        f"{TS_311}> took 0.500 seconds",
        {
            "kind": "slow_callback",
            "duration_s": 0.5,
            "repr_class": "Task",
            "task_name": "Task-2",
            "task_state": "finished",
            "coro": "blocking_sleep.<locals>.handle_request",
            "location": "/srv/capture/scenarios.py:47",
            "created_at": TS_311,
        },
    ),
    (
        "3.7 task without name, basicConfig",
        "WARNING:asyncio:Executing <Task finished coro=<slow_protocol.<locals>.handler() done, "
        "defined at scenarios.py:120> result=None created at "
        "/opt/pyenv/versions/3.7.16/lib/python3.7/asyncio/streams.py:239> took 0.201 seconds",
        {
            "kind": "slow_callback",
            "level": "WARNING",
            "logger": "asyncio",
            "duration_s": 0.201,
            "task_name": None,
            "coro": "slow_protocol.<locals>.handler",
            "location": "scenarios.py:120",
        },
    ),
    (
        "3.8 wake-up wrapper inside wait_for",
        "Executing <Task pending name='Task-3' coro=<blocking_sleep.<locals>.poll_db() running "
        "at scenarios.py:55> wait_for=<Future pending cb=[<TaskWakeupMethWrapper object at "
        "0x7f422de6e9a0>()] created at /opt/pyenv/versions/3.8.18/lib/python3.8/asyncio/"
        "base_events.py:422> cb=[gather.<locals>._done_callback() at /opt/pyenv/versions/"
        "3.8.18/lib/python3.8/asyncio/tasks.py:769] created at scenarios.py:58> took 0.251 "
        "seconds",
        {
            "task_name": "Task-3",
            "task_state": "pending",
            "location": "scenarios.py:55",
            "created_at": "scenarios.py:58",
        },
    ),
    (
        "timer handle with args, asctime envelope",
        "2026-11-26 15:08:49,898 WARNING  [asyncio] Executing <TimerHandle when=918.14431576 "
        "on_tick(2) at /srv/capture/long_log.py:81 created at /srv/capture/long_log.py:94> took "
        "0.120 seconds",
        {
            "kind": "slow_callback",
            "time": "2026-11-26 15:08:49,898",
            "time_s": 1795705729.898,
            "repr_class": "TimerHandle",
            "callback": "on_tick",
            "location": "/srv/capture/long_log.py:81",
            "created_at": "/srv/capture/long_log.py:94",
            "uvloop": None,
        },
    ),
    (
        "3.14 _ThreadSafeHandle",
        "Executing <_ThreadSafeHandle slow_cb('from-thread', 1) at probe314.py:29 created at "
        "probe314.py:45> took 0.150 seconds",
        {"repr_class": "_ThreadSafeHandle", "callback": "slow_cb", "location": "probe314.py:29"},
    ),
    (
        "uvloop partial",
        "Executing <Handle functools.partial(<bound method slow_callbacks.<locals>.Metrics.flush"
        " of <__main__.slow_callbacks.<locals>.Metrics object at 0x7f8db105d050>>, [1, 2, 3], "
        "compress=True) created at /srv/capture/scenarios.py:92> took 0.200 seconds",
        {"repr_class": "Handle", "callback": "functools.partial", "location": None},
    ),
    (
        "uvloop handle, qualname only",
        "Executing <Handle slow_callbacks.<locals>.slow_cb created at /srv/capture/"
        "scenarios.py:91> took 0.150 seconds",
        {"callback": "slow_callbacks.<locals>.slow_cb", "uvloop": True},
    ),
    (
        "cancelled handle",
        "Executing <Handle cancelled _SelectorSocketTransport._read_ready() created at "
        "/x/selector_events.py:263> took 0.181 seconds",
        {"task_state": "cancelled", "callback": "_SelectorSocketTransport._read_ready"},
    ),
    (
        "3.7 poll timing",
        "DEBUG:asyncio:poll 999.717 ms took 1003.139 ms: timeout",
        {"kind": "poll_timing", "duration_s": 1.003139, "level": "DEBUG"},
    ),
    (
        "getaddrinfo",
        "DEBUG:asyncio:Getting address info example.com:80, type=<SocketKind.SOCK_STREAM: 1> "
        "took 12.500ms: [(<AddressFamily.AF_INET: 2>, 1, 6, '', ('93.184.216.34', 80))]",
        {"kind": "getaddrinfo", "duration_s": 0.0125},
    ),
    (
        "never retrieved with traceback",
        "Task exception was never retrieved\n"
        "future: <Task finished name='Task-13' coro=<_background() done, defined at "
        "/srv/capture/uvicorn_app.py:9> exception=RuntimeError('background sync failed')>\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/capture/uvicorn_app.py", line 11, in _background\n'
        '    raise RuntimeError("background sync failed")\n'
        "RuntimeError: background sync failed",
        {
            "kind": "never_retrieved",
            "line_end": 6,
            "repr_class": "Task",
            "task_name": "Task-13",
            "coro": "_background",
            "exc_type": "RuntimeError",
            "exc_message": "background sync failed",
        },
    ),
    (
        "future never retrieved, no debug",
        "Future exception was never retrieved\n"
        "future: <Future finished exception=ConnectionResetError(104, 'reset')>\n"
        "ConnectionResetError: [Errno 104] reset",
        {"kind": "never_retrieved", "line_end": 3, "repr_class": "Future"},
    ),
    (
        "destroyed pending, journald",
        "Nov 26 15:09:26 vm demo[18161]: Task was destroyed but it is pending!\n"
        "Nov 26 15:09:26 vm demo[18161]: task: <Task pending name='Task-1' coro=<consumer() "
        "done, defined at /s.py:153> wait_for=<Future pending cb=[Task.task_wakeup()]>>",
        {
            "kind": "task_destroyed_pending",
            "line_end": 2,
            "pid": 18161,
            "time": "Nov 26 15:09:26",
            "time_s": None,
            "task_name": "Task-1",
            "coro": "consumer",
            "location": "/s.py:153",
        },
    ),
    (
        "uvloop exception in callback",
        "Exception in callback <function on_tick at 0x7fac5ad90900>\n"
        "handle: <TimerHandle on_tick created at /srv/capture/long_log.py:94>\n"
        "Traceback (most recent call last):\n"
        '  File "uvloop/cbhandles.pyx", line 257, in uvloop.loop.TimerHandle._run\n'
        '  File "/srv/capture/long_log.py", line 85, in on_tick\n'
        '    raise ZeroDivisionError("division by zero in metrics tick")\n'
        "ZeroDivisionError: division by zero in metrics tick",
        {
            "kind": "exception",
            "line_end": 7,
            "repr_class": "TimerHandle",
            "callback": "on_tick",
            "uvloop": True,
            "exc_type": "ZeroDivisionError",
        },
    ),
    (
        "never awaited with frames",
        "/srv/capture/scenarios.py:143: RuntimeWarning: coroutine 'never_awaited.<locals>."
        "send_metrics' was never awaited\n"
        "Coroutine created at (most recent call last)\n"
        '  File "/srv/capture/scenarios.py", line 143, in never_awaited\n'
        "    send_metrics(42)\n"
        "  send_metrics(42)\n"
        "RuntimeWarning: Enable tracemalloc to get the object allocation traceback",
        {
            "kind": "never_awaited",
            "line_end": 6,
            "coro": "never_awaited.<locals>.send_metrics",
            "location": "/srv/capture/scenarios.py:143",
            "exc_type": "RuntimeWarning",
        },
    ),
    (
        "resource warning",
        "/x/asyncio/selector_events.py:864: ResourceWarning: unclosed transport "
        "<_SelectorSocketTransport fd=8>\n"
        '  _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)',
        {"kind": "resource_warning", "line_end": 2, "exc_type": "ResourceWarning"},
    ),
    (
        "chained traceback",
        "unhandled exception during asyncio.run() shutdown\n"
        "task: <Task finished name='Task-2' coro=<worker() done, defined at /s.py:279> "
        "exception=RuntimeError('flush on cancel failed')>\n"
        "Traceback (most recent call last):\n"
        '  File "/s.py", line 281, in worker\n'
        "asyncio.exceptions.CancelledError\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/s.py", line 283, in worker\n'
        "RuntimeError: flush on cancel failed\n"
        "an application line",
        {"kind": "exception", "line_end": 11, "exc_type": "RuntimeError"},
    ),
    (
        "gunicorn envelope",
        "[2026-11-26 15:08:59 +0000] [18010] [ERROR] Task was destroyed but it is pending!",
        {"kind": "task_destroyed_pending", "pid": 18010, "level": "ERROR", "time_s": 1795705739.0},
    ),
    (
        "child watcher",
        "Loop <_UnixSelectorEventLoop running=False closed=True debug=True> that handles pid "
        "17813 is closed",
        {"kind": "other"},
    ),
    (
        "JSON line",
        '{"asctime": "2026-11-26 15:08:39,971", "levelname": "WARNING", "name": "asyncio", '
        '"process": 17874, "message": "Executing <Handle f() at /a.py:1> took 0.101 seconds"}',
        {
            "kind": "slow_callback",
            "pid": 17874,
            "logger": "asyncio",
            "callback": "f",
            "location": "/a.py:1",
            "duration_s": 0.101,
        },
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hand_picked_lines(text: str, expected: dict[str, object]) -> None:
    records = _parse_text(text)
    assert len(records) == 1
    record = records[0]._asdict()
    assert record["line_start"] == 1
    expected = {"line_end": 1, **expected}
    for key, value in expected.items():
        if isinstance(value, float):
            assert record[key] == pytest.approx(value), key
        else:
            assert record[key] == value, key


def test_application_lines_are_not_records() -> None:
    text = "\n".join(
        [
            '2026-11-26 15:08:49,529 INFO     [svc.api] req=0 "GET /health" 200 2.4ms',
            "job 3 failed",
            "Traceback (most recent call last):",
            '  File "/srv/x.py", line 66, in job',
            "LookupError: relation does not exist",
            'INFO:     127.0.0.1:57256 - "GET /ok HTTP/1.1" 200 OK',
            "/srv/x.py:3: DeprecationWarning: old",
        ]
    )
    assert _parse_text(text) == []
