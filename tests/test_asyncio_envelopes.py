"""Logs in any logging envelope (issue 13 class 8, issue 14): the generic-envelope procedure of
`grammars/asyncio.lark` on

- the incidents' real application logs, checked against what their programs measured
  (`fixtures/incidents/*/truth.json`): the slow episodes' count, tasks, durations and times;
- the public excerpts of `fixtures/public/asyncio` (tests named ``public``);
- reprs that asyncio cut, captured for these tests with CPython 3.8.18, 3.11.7, 3.12.1 and
  3.13.0 (`CUT_CAPTURES`);
- JSON lines with other key names (hand-written, marked);
- the text it must still refuse: seq, cat -n, xxd -p, ps/top/pidstat lines, and every
  strace and perf fixture of the repository.

Expected values come from the truth files, from the log text read with plain regular
expressions written here, or are written out by hand.
"""

from __future__ import annotations

import binascii
import gzip
import importlib.util
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import FIXTURES

import analyzer
from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_lark, asyncio_record, asyncio_scan
from analyzer.inputs import iter_line_chunks, open_input
from analyzer.sources import detect

STDLIB_ASYNCIO = Path(str(importlib.util.find_spec("asyncio").origin)).parent  # type: ignore[union-attr]
INCIDENTS = FIXTURES / "incidents"
PUBLIC = FIXTURES / "public" / "asyncio"

APP_LOGS = {
    "dns_ndots_in_coroutine": "app.asctime.log",
    "executor_slow_storage": "app.asctime.log",
    "gil_regex_indexer": "app.asctime_thread.log",
    "healthy_asyncio_api": "app.asctime_utc.log",
    "http_in_coroutine": "app.json.log",
    "loop_logging_pipe": "app.asctime_ms.log.gz",
    "regex_on_loop": "app.basicconfig.log",
    "subprocess_in_coroutine": "app.uvicorn.log",
}
"""The incidents whose application log carries asyncio's messages; the first four were refused
before the generic envelope ("not a recognised input"), the JSON one had no times."""


def _parse(path: Path, engine: str = "fast") -> asyncio_format.ParsedLog:
    source = open_input(path)
    try:
        return asyncio_format.parse(iter_line_chunks(source.stream), path.name, engine=engine)
    finally:
        source.close()


def _parse_text(text: str, engine: str = "fast") -> asyncio_format.ParsedLog:
    chunks = iter_line_chunks(io.BytesIO(text.encode()))
    return asyncio_format.parse(chunks, "-", engine=engine)


def _lines(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = data.decode("utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _measured(incident: str) -> dict[str, Any]:
    truth = json.loads((INCIDENTS / incident / "truth.json").read_text(encoding="utf-8"))
    return truth["measured"]  # type: ignore[no-any-return]


def _slow(parsed: asyncio_format.ParsedLog) -> list[dict[str, Any]]:
    rows = [row for row in parsed.loop_events.to_pylist() if row["kind"] == "slow_callback"]
    return sorted(rows, key=lambda row: row["line_start"])


def _same(fast: asyncio_format.ParsedLog, lark: asyncio_format.ParsedLog) -> None:
    assert asyncio_format.table_to_records(fast.loop_events) == asyncio_format.table_to_records(
        lark.loop_events
    )
    assert fast.unparsed.to_pylist() == lark.unparsed.to_pylist()
    assert (fast.record_lines, fast.application_lines) == (
        lark.record_lines,
        lark.application_lines,
    )


# -- the incidents ---------------------------------------------------------------------------


@pytest.mark.parametrize("incident", sorted(APP_LOGS))
def test_incident_app_log_is_an_asyncio_input_read_alike_by_both_engines(incident: str) -> None:
    path = INCIDENTS / incident / APP_LOGS[incident]
    head = _lines(path)
    assert detect("\n".join(head[:200]).encode() + b"\n") == "asyncio"
    fast, lark = _parse(path, "fast"), _parse(path, "lark")
    _same(fast, lark)
    assert fast.unparsed.num_rows == 0
    assert fast.record_lines + fast.application_lines == fast.line_count == len(head)


EPISODES = {
    "dns_ndots_in_coroutine": ("lookups_over_slow_callback_duration", "per_lookup", True),
    "http_in_coroutine": ("upstream_calls_over_slow_callback_duration", "calls", True),
    "loop_logging_pipe": ("emits_over_100ms", "blocked_emits", True),
    "regex_on_loop": ("slow_validations", "slow", False),
    "subprocess_in_coroutine": ("runs_over_slow_callback_duration", "runs", False),
}
"""incident -> (the measured count of episodes over slow_callback_duration, the measured
episodes, whether the log's envelope has times)."""


def _episode(item: Any) -> tuple[str | None, float, float]:
    """(task, start epoch, seconds) of a measured episode: a dict, or loop_logging_pipe's
    [pid, start, seconds, logger]."""
    if isinstance(item, dict):
        return item.get("task"), item["start_epoch"], item["duration_s"]
    return None, item[1], item[2]


@pytest.mark.parametrize("incident", sorted(EPISODES))
def test_slow_callbacks_are_the_episodes_the_program_measured(incident: str) -> None:
    """One `Executing ... took N seconds` record per blocking call the program timed itself:
    the same count, the same task, a duration a little over the call's (the step is the
    call and a little more; asyncio prints milliseconds), logged as the call ended."""
    count_key, episodes_key, timed = EPISODES[incident]
    measured = _measured(incident)
    rows = _slow(_parse(INCIDENTS / incident / APP_LOGS[incident]))
    episodes = sorted((_episode(item) for item in measured[episodes_key]), key=lambda e: e[1])
    assert len(rows) == measured[count_key] == len(episodes)
    for row, (task, start, seconds) in zip(rows, episodes, strict=True):
        assert -0.0006 <= row["duration_s"] - seconds <= 0.01, (row["line_start"], seconds)
        if task is not None:
            assert row["task_name"] == task
        assert row["logger"] in ("asyncio", None)
        if timed:
            assert row["time_s"] == pytest.approx(start + seconds, abs=0.02), row["line_start"]
        else:
            assert row["time_s"] is None


def test_gil_incident_slow_callback_is_the_longest_gil_hold() -> None:
    """The indexer thread held the GIL 1.82 s; the loop's read callback waited for it: the one
    slow callback of the log is that hold, logged by the loop thread when it ended."""
    measured = _measured("gil_regex_indexer")
    [row] = _slow(_parse(INCIDENTS / "gil_regex_indexer" / APP_LOGS["gil_regex_indexer"]))
    hold = max(measured["gil_holds"], key=lambda item: item["duration_s"])
    assert row["duration_s"] == pytest.approx(measured["longest_hold_s"], abs=0.001)
    assert row["time_s"] == pytest.approx(hold["end_epoch"], abs=0.01)
    assert row["thread"] == measured["loop_thread"]
    assert row["callback"] == "_SelectorSocketTransport._read_ready"


@pytest.mark.parametrize("incident", ["healthy_asyncio_api", "executor_slow_storage"])
def test_no_slow_callbacks_where_the_loop_kept_up(incident: str) -> None:
    """The healthy API's loop never lagged 0.1 s; the upload service's loop answered every
    /healthz probe within 0.1 s (its executor threads did the slow fsyncs): no slow callback,
    but the asyncio logger's other lines are records."""
    measured = _measured(incident)
    if incident == "healthy_asyncio_api":
        assert measured["loop_lag_max_s"] < measured["slow_callback_duration_s"]
    else:
        assert measured["client_healthz_latency_max_s"] < 0.1
    parsed = _parse(INCIDENTS / incident / APP_LOGS[incident])
    assert _slow(parsed) == []
    assert parsed.record_count > 100


LINE_FORMATS = {
    # %(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s
    "dns_ndots_in_coroutine": r"(?P<time>\S+ \S+) (?P<pid>\d+) (?P<thread>\S+) "
    r"(?P<logger>\S+) (?P<level>[A-Z]+) ",
    # %(asctime)s [%(threadName)s] %(levelname)s %(name)s: %(message)s
    "executor_slow_storage": r"(?P<time>\S+ \S+) \[(?P<thread>[^\]]+)\] (?P<level>[A-Z]+) "
    r"(?P<logger>[\w.]+): ",
    # %(asctime)s %(threadName)s %(levelname)s %(name)s %(message)s
    "gil_regex_indexer": r"(?P<time>\S+ \S+) (?P<thread>\S+) (?P<level>[A-Z]+) "
    r"(?P<logger>[\w.]+) ",
    # %(asctime)s (UTC, ISO with Z) %(levelname)-8s %(name)s [%(threadName)s] %(message)s
    "healthy_asyncio_api": r"(?P<time>\S+) (?P<level>[A-Z]+) +(?P<logger>[\w.]+) "
    r"\[(?P<thread>[^\]]+)\] ",
}


@pytest.mark.parametrize("incident", sorted(LINE_FORMATS))
def test_envelope_fields_are_the_ones_each_line_prints(incident: str) -> None:
    """Every line whose logger is asyncio's is a record with that line's time, level, logger,
    thread (and pid); no other line is (the executor's asyncio_N threads log as blobstore)."""
    path = INCIDENTS / incident / APP_LOGS[incident]
    pattern = re.compile(LINE_FORMATS[incident])
    expected = {}
    for number, line in enumerate(_lines(path), 1):
        match = pattern.match(line)
        assert match is not None, line
        if match["logger"] == "asyncio":
            expected[number] = match.groupdict()
    rows = {row["line_start"]: row for row in _parse(path).loop_events.to_pylist()}
    assert set(rows) == set(expected)
    for number, fields in expected.items():
        row = rows[number]
        assert row["time"] == fields["time"]
        assert row["time_s"] is not None
        assert (row["level"], row["logger"], row["thread"]) == (
            fields["level"],
            "asyncio",
            fields["thread"],
        )
        assert row["pid"] == (int(fields["pid"]) if "pid" in fields else None)
        assert row["line_end"] == number
    if incident == "dns_ndots_in_coroutine":
        assert {row["pid"] for row in rows.values()} == {_measured(incident)["service_pid"]}


def test_json_log_keys_give_times_pid_and_thread() -> None:
    """http_in_coroutine logs JSON with keys ts, level, logger, thread, pid, msg."""
    path = INCIDENTS / "http_in_coroutine" / "app.json.log"
    rows = {row["line_start"]: row for row in _parse(path).loop_events.to_pylist()}
    for number, line in enumerate(_lines(path), 1):
        obj = json.loads(line)
        if obj["logger"] != "asyncio":
            assert number not in rows
            continue
        row = rows[number]
        assert (row["time"], row["level"], row["pid"], row["thread"]) == (
            obj["ts"],
            obj["level"],
            obj["pid"],
            obj["thread"],
        )
        assert row["message"] == obj["msg"].split("\n")[0]
        assert row["time_s"] is not None
    assert {row["pid"] for row in rows.values()} == {_measured("http_in_coroutine")["gateway_pid"]}


def test_a_run_with_the_strace_log_and_the_app_log_reads_both() -> None:
    """Before, the app log's envelope aborted the whole run; now its slow callbacks reach the
    passes beside the strace trace of the same run."""
    folder = INCIDENTS / "dns_ndots_in_coroutine"
    result = analyzer.analyze([folder / "strace.f_ttt_T.log.gz", folder / "app.asctime.log"])
    assert [item["format"] for item in result.report["inputs"]] == ["strace", "asyncio"]
    events = result.tables["loop_events"].to_pylist()
    slow = [row for row in events if row["kind"] == "slow_callback"]
    assert len(slow) == _measured("dns_ndots_in_coroutine")["lookups"]
    assert {row["thread"] for row in events} == {"MainThread"}
    assert any(finding["code"] == "IOD003" for finding in result.report["findings"])


# -- the public excerpts ---------------------------------------------------------------------

PUBLIC_EXPECTED: dict[str, list[tuple[int, int, str, dict[str, Any]]]] = {
    # pytest's caplog format "LEVEL    logger:file.py:line message"
    "black_blackd_pytest_captured_log_py312.txt": [
        (31, 31, "slow_callback", {"level": "WARNING", "logger": "asyncio", "duration_s": 0.168,
                                   "task_name": "Task-120", "coro": "RequestHandler.start"}),
    ],
    # Home Assistant's exception handler: "Error doing job: " before asyncio's message
    "ha_core13494_error_doing_job_destroyed.txt": [
        (n, n, "task_destroyed_pending", {"time": "2018-05-16 16:56:21" if n < 7 else
                                          "2018-05-16 16:57:14", "level": "ERROR",
                                          "logger": "homeassistant.core",
                                          "thread": "MainThread" if n < 7 else "SyncWorker_9"})
        for n in range(1, 12)
    ],
    # "%(asctime)sINFO:%(name)s:%(message)s": time glued to the level
    "jp_processpool_py37_poll_took_ms.txt": [
        (8, 8, "poll_timing", {"time": "2019-03-20 20:55:04,967", "level": "INFO",
                               "logger": "asyncio", "duration_s": 1.001933}),
    ],
    "jp_threadpool_py37_asctime_glued_level.txt": [
        (9, 9, "slow_callback", {"time": "2019-03-20 20:55:03,846", "level": "WARNING",
                                 "logger": "asyncio", "duration_s": 4.009, "coro": "run",
                                 "location": "00use_thread_pool_executor.py:18"}),
    ],
    # "asctime - name - LEVEL - msg", every line pasted with one leading blank: the
    # continuation lines (" future: ...", " Traceback ...") are not asyncio's shapes any more
    "mirrorleech629_dash_format_never_retrieved_tb.txt": [
        (1, 1, "never_retrieved", {"time": "2022-06-01 19:37:14,799", "level": "ERROR",
                                   "logger": "asyncio", "repr_class": "Task"}),
    ],
    # "HH:MM:SS.mmm [LEVEL][logger] msg" after unittest's progress dots: a time of day only
    "moirai_unittest_dots_bracket_format.txt": [
        (4, 4, "slow_callback", {"time": "22:02:09.188", "time_s": None, "level": "WARNING",
                                 "logger": "asyncio", "duration_s": 0.497,
                                 "task_name": "Task-41"}),
        (5, 5, "slow_callback", {"time": "22:02:09.821", "time_s": None, "level": "WARNING",
                                 "logger": "asyncio", "duration_s": 0.473,
                                 "task_name": "Task-53"}),
    ],
    # "LEVEL: logger:func(line) - msg"; aiodebug's logger; servicelib's own "Executing took
    # 4.694 seconds" (no repr, not asyncio's logger) is no record
    "osparc3096_aiodebug_gunicorn_pyinstrument.txt": [
        (2, 2, "slow_callback", {"level": "WARNING", "logger": "aiodebug.log_slow_callbacks",
                                 "duration_s": 4.674, "task_name": "Task-4306",
                                 "coro": "RequestHandler._handle_request"}),
    ],
    # asyncio 3.4-dev: "Future/Task exception was never retrieved:" then the creation frames
    "tulip137_2014_future_task_never_retrieved_debug.txt": [
        (1, 14, "never_retrieved", {"repr_class": None}),
    ],
    # "LEVEL msg"; the second task: line was broken by the terminal and cut by the excerpt
    "wpull161_py34_trollius_nested_wait_for.txt": [
        (1, 2, "task_destroyed_pending", {"level": "ERROR", "coro": "wait",
                                          "location": "/home/at/.local/lib/python3.4/site-"
                                          "packages/trollius/locks.py:226"}),
        (3, 3, "task_destroyed_pending", {"level": "ERROR"}),
    ],
}  # fmt: skip


def _check_rows(rows: list[dict[str, Any]], expected: list[tuple[int, int, str, dict]]) -> None:
    assert [(row["line_start"], row["line_end"], row["kind"]) for row in rows] == [
        (start, end, kind) for start, end, kind, _ in expected
    ]
    for row, (_, _, _, fields) in zip(rows, expected, strict=True):
        for key, value in fields.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value), key
            else:
                assert row[key] == value, key


@pytest.mark.parametrize("name", sorted(PUBLIC_EXPECTED))
def test_public_excerpt_in_another_envelope_is_read(name: str) -> None:
    path = PUBLIC / name
    fast, lark = _parse(path, "fast"), _parse(path, "lark")
    _same(fast, lark)
    assert fast.unparsed.num_rows == 0
    assert detect(path.read_bytes()) == "asyncio"
    _check_rows(fast.loop_events.to_pylist(), PUBLIC_EXPECTED[name])


def test_public_geberit_comment_lines_are_asyncio() -> None:
    """A custom format "%(asctime)s %(name)s %(lineno)d %(levelname)s: %(message)s" kept as
    indented "# " comments. perf's sniffer, which needs a real sample header, leaves it; read
    as asyncio it is one slow callback, and 1987 (base_events.py's line) is not taken for a
    process id."""
    path = PUBLIC / "geberit_ble_trace_commented_custom_format.txt"
    assert detect(path.read_bytes()) == "asyncio"
    assert asyncio_format.sniff(path.read_bytes()) >= 0.5
    _check_rows(
        _parse(path).loop_events.to_pylist(),
        [(6, 6, "slow_callback", {"time": "2024-12-16 11:50:37,095", "logger": "asyncio",
                                  "level": "WARNING", "pid": None, "duration_s": 0.102})],
    )  # fmt: skip


PUBLIC_UNREAD = {
    "intro_asyncio_py38_handle_slow_hash_commented.txt": [
        (n, "asyncio message at column 3 after text that is no log envelope (no timestamp or "
            "level)") for n in (4, 6, 8, 10)
    ],
    "intro_asyncio_py38_destroyed_source_traceback_commented.txt": [
        (n, "asyncio message at column 3 after text that is no log envelope (no timestamp or "
            "level)") for n in (6, 11, 16)
    ],
}  # fmt: skip
"""Excerpts whose asyncio messages stay unread, with the reason of each unparsed row: output
pasted as "# " comments (no timestamp, no level before the message)."""


@pytest.mark.parametrize("name", sorted(PUBLIC_UNREAD))
def test_public_commented_out_messages_are_unparsed_with_their_reason(name: str) -> None:
    fast, lark = _parse(PUBLIC / name, "fast"), _parse(PUBLIC / name, "lark")
    _same(fast, lark)
    assert fast.record_count == 0
    assert [(row["line_no"], row["reason"]) for row in fast.unparsed.to_pylist()] == (
        PUBLIC_UNREAD[name]
    )


def test_public_quamash_tuples_are_unparsed_where_the_message_ends() -> None:
    """Debug prints of the logging call's arguments, "('Task was destroyed but it is
    pending!\\ntask: ...',), {...}": the message runs on into an escaped newline, where the
    reason points; the real records around them are read (logger quamash.QEventLoop)."""
    path = PUBLIC / "quamash37_qeventloop_debug_tuples.txt"
    lines = _lines(path)
    parsed = _parse(path)
    unparsed = parsed.unparsed.to_pylist()
    assert [row["line_no"] for row in unparsed] == [1, 4, 7]
    for row in unparsed:
        column = int(re.search(r"at column (\d+) \(in", row["reason"]).group(1))  # type: ignore[union-attr]
        assert lines[row["line_no"] - 1][column - 1 :].startswith("\\ntask: ")
    assert [row["logger"] for row in parsed.loop_events.to_pylist()] == ["quamash.QEventLoop"] * 3


@pytest.mark.parametrize(
    ("name", "line_no", "kind"),
    [
        ("cpython_docs_never_awaited_debug_rst.txt", 1, "never_awaited"),
        ("sanic754_uvloop_unclosed_resource_indented.txt", 1, "resource_warning"),
    ],
)
def test_public_indented_pastes_stay_unread_but_read_without_the_indentation(
    name: str, line_no: int, kind: str
) -> None:
    """A reST/markdown block indents every line: an indented line is a continuation line (a
    traceback's code line), and blanks before a message are no envelope. Without the
    indentation (hand-made from the real excerpt) the messages read, uvloop's "unclosed
    resource" wording included."""
    path = PUBLIC / name
    assert _parse(path).record_count == 0
    assert asyncio_format.sniff(path.read_bytes()) == 0.0
    lines = _lines(path)
    width = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    dedented = "\n".join(line[width:] for line in lines) + "\n"
    rows = _parse_text(dedented).loop_events.to_pylist()
    assert [(row["line_start"], row["kind"]) for row in rows] == [(line_no, kind)]


def test_public_lone_continuation_and_relogged_bytes_stay_unread() -> None:
    """mozilla: only the "task: <...>" line of a record was copied (from Sentry): a
    continuation with no message. trinity: a child's records re-logged by its parent as
    Python bytes literals, b'...ERROR ... asyncio  Task was destroyed but it is pending!\\n'
    (ANSI codes as text, an escaped newline and a quote after the message) inside lines the
    parent's format indents: no message runs to the end of a line."""
    mozilla = _lines(PUBLIC / "mozilla_codereview338_sentry_task_line.txt")
    assert _parse_text("\n".join(mozilla) + "\n").record_count == 0
    read = asyncio_lark.parse_line(mozilla[0])
    assert isinstance(read, asyncio_record.Line) and read.data["type"] == "key"
    trinity = PUBLIC / "trinity1919_nested_subprocess_ansi_destroyed.txt"
    assert _parse(trinity).record_count == 0
    for line in _lines(trinity)[::2]:
        reason = asyncio_lark.parse_line(line.lstrip())
        assert isinstance(reason, str)
        column = int(re.search(r"at column (\d+) \(in", reason).group(1))  # type: ignore[union-attr]
        assert line.lstrip()[column - 1 :] == "\\n'"


# -- reprs asyncio cut -----------------------------------------------------------------------

CUT_CAPTURES = {
    # CPython 3.8.18 and 3.13.0, debug mode: loop.call_soon(slow_cb, Widget(), "x" * 100) and
    # loop.call_soon(functools.partial(slow_cb, Widget()), "y"), where slow_cb sleeps 0.12 s
    # and repr(Widget()) is "<Widget inner=<Gadget cfg={'a': [1, 2, 3]}> owner=(<Owner
    # id=12345678>,)>" (slow_cb at /tmp/trunc/trunc.py:10, the calls at lines 23 and 24).
    "Executing <Handle slow_cb(<Widget inner...d=12345678>,)>, 'xxxxxxxxxxxx...xxxxxxxxxxxxx') "
    "at /tmp/trunc/trunc.py:10 created at /tmp/trunc/trunc.py:23> took 0.120 seconds": {
        "callback": "slow_cb", "location": "/tmp/trunc/trunc.py:10",
        "created_at": "/tmp/trunc/trunc.py:23", "duration_s": 0.12, "repr_class": "Handle"},
    "Executing <Handle slow_cb(<Widget inner...d=12345678>,)>)('y') at /tmp/trunc/trunc.py:10 "
    "created at /tmp/trunc/trunc.py:24> took 0.120 seconds": {
        "callback": "slow_cb", "location": "/tmp/trunc/trunc.py:10",
        "created_at": "/tmp/trunc/trunc.py:24", "duration_s": 0.12},
    # CPython 3.8.18 / 3.11.7: a task awaited by asyncio.wait_for carries wait_for's
    # functools.partial(_release_waiter, waiter) callback; reprlib cut the waiter's repr
    # ("<Future pending cb=[...]>" without `created at`: made before debug mode was set).
    "2026-12-05 09:15:06,633 WARNING asyncio: Executing <Task pending name='Task-2' "
    "coro=<inner() running at trunc5.py:9> wait_for=<Future pending cb=[<TaskWakeupMethWrapper "
    "object at 0x7ff031a7b9a0>()] created at /root/.pyenv/versions/3.8.18/lib/python3.8/"
    "asyncio/base_events.py:422> cb=[_release_waiter(<Future pendi...031a7b760>()]>)() at "
    "/root/.pyenv/versions/3.8.18/lib/python3.8/asyncio/tasks.py:429]> took 0.169 seconds": {
        "task_name": "Task-2", "coro": "inner", "location": "trunc5.py:9", "created_at": None,
        "task_state": "pending", "duration_s": 0.169, "time": "2026-12-05 09:15:06,633",
        "level": "WARNING", "logger": "asyncio"},
    "2026-12-05 09:15:06,981 WARNING asyncio: Executing <Task pending name='Task-2' "
    "coro=<inner() running at /tmp/trunc/trunc5.py:9> wait_for=<Future pending "
    "cb=[Task.task_wakeup()] created at /root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/"
    "base_events.py:427> cb=[_release_waiter(<Future pendi...ask_wakeup()]>)() at "
    "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/tasks.py:431]> took 0.153 seconds": {
        "task_name": "Task-2", "coro": "inner", "location": "/tmp/trunc/trunc5.py:9",
        "duration_s": 0.153},
    # CPython 3.12.1: a task returning Widget() after blocking 0.15 s: result= cut
    "2026-12-05 09:14:54,839 WARNING asyncio: Executing <Task finished name='Task-2' "
    "coro=<inner() done, defined at /tmp/trunc/trunc3.py:8> result=<Widget inner...d=12345678>"
    ",)> created at /root/.pyenv/versions/3.12.1/lib/python3.12/asyncio/tasks.py:695> took "
    "0.150 seconds": {
        "task_name": "Task-2", "task_state": "finished", "coro": "inner",
        "location": "/tmp/trunc/trunc3.py:8",
        "created_at": "/root/.pyenv/versions/3.12.1/lib/python3.12/asyncio/tasks.py:695"},
}  # fmt: skip


@pytest.mark.parametrize("line", sorted(CUT_CAPTURES))
def test_slow_callback_with_a_cut_repr_is_a_record(line: str) -> None:
    for engine in ("fast", "lark"):
        [row] = _parse_text(line + "\n", engine).loop_events.to_pylist()
        assert row["kind"] == "slow_callback"
        for key, value in CUT_CAPTURES[line].items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value), key
            else:
                assert row[key] == value, key


CUT_RECORD = """\
ERROR:asyncio:Exception in callback bad_cb(<Widget inner...d=12345678>,)>)('y') at /tmp/trunc/trunc2.py:8
handle: <TimerHandle when=4269.456751353 bad_cb(<Widget inner...d=12345678>,)>)('y') at /tmp/trunc/trunc2.py:8 created at /tmp/trunc/trunc2.py:17>
source_traceback: Object created at (most recent call last):
  File "/tmp/trunc/trunc2.py", line 28, in <module>
    asyncio.run(main(), debug=True)
Traceback (most recent call last):
  File "/root/.pyenv/versions/3.12.1/lib/python3.12/asyncio/events.py", line 84, in _run
    self._context.run(self._callback, *self._args)
  File "/tmp/trunc/trunc2.py", line 9, in bad_cb
    raise ValueError("boom")
ValueError: boom
"""  # noqa: E501
"""CPython 3.12.1, debug mode: loop.call_later(0.01, functools.partial(bad_cb, Widget()), "y")
where bad_cb raises (the source_traceback frames shortened to the first)."""


def test_exception_in_callback_with_cut_arguments_is_one_record() -> None:
    for engine in ("fast", "lark"):
        [row] = _parse_text(CUT_RECORD, engine).loop_events.to_pylist()
        assert (row["kind"], row["line_start"], row["line_end"]) == ("exception", 1, 11)
        assert (row["callback"], row["location"]) == ("bad_cb", "/tmp/trunc/trunc2.py:8")
        assert (row["repr_class"], row["created_at"]) == ("TimerHandle", "/tmp/trunc/trunc2.py:17")
        assert (row["exc_type"], row["exc_message"]) == ("ValueError", "boom")


# -- docker compose prefixes and colour codes -------------------------------------------------

COMPOSE_LOG = """\
\x1b[36mweb-1  | \x1b[0m2026-12-05 08:13:03,082 [MainThread] ERROR asyncio: Task exception was never retrieved
\x1b[36mweb-1  | \x1b[0mfuture: <Task finished name='Task-7' coro=<fetch() done, defined at /srv/app.py:12> exception=ValueError('bad')>
\x1b[36mweb-1  | \x1b[0mTraceback (most recent call last):
\x1b[36mweb-1  | \x1b[0m  File "/srv/app.py", line 14, in fetch
\x1b[36mweb-1  | \x1b[0m    raise ValueError("bad")
\x1b[36mweb-1  | \x1b[0mValueError: bad
\x1b[33mworker-1  | \x1b[0m\x1b[33mWARNING:asyncio:Executing <Handle poll() at /srv/worker.py:8> took 0.250 seconds\x1b[0m
\x1b[36mweb-1  | \x1b[0mfuture: <Task finished name='Task-8' coro=<fetch() done, defined at /srv/app.py:12> result=None>
"""  # noqa: E501
"""Hand-written, in the shape of `docker compose logs` on a terminal (each line after its
service's prefix, in colour) around a logging format with the thread in brackets, and
colorlog's default "%(log_color)s%(levelname)s:%(name)s:%(message)s" with its reset at
the end."""


def test_docker_compose_prefixes_and_colour_codes() -> None:
    """The prefix is read like journald's, on every line: a record's lines are the lines of
    its service, and another service's line ends it (the last line is web-1's, but after the
    worker's). Colour codes around the envelope and at the end of the line are no part of
    the message."""
    for engine in ("fast", "lark"):
        rows = _parse_text(COMPOSE_LOG, engine).loop_events.to_pylist()
        assert [(row["line_start"], row["line_end"], row["kind"]) for row in rows] == [
            (1, 6, "never_retrieved"),
            (7, 7, "slow_callback"),
        ]
        first, second = rows
        assert (first["thread"], first["level"], first["task_name"], first["coro"]) == (
            "MainThread",
            "ERROR",
            "Task-7",
            "fetch",
        )
        assert (first["time"], first["exc_type"], first["exc_message"]) == (
            "2026-12-05 08:13:03,082",
            "ValueError",
            "bad",
        )
        assert (second["level"], second["logger"], second["callback"]) == (
            "WARNING",
            "asyncio",
            "poll",
        )
        assert (
            second["message"] == "Executing <Handle poll() at /srv/worker.py:8> took 0.250 seconds"
        )


# -- JSON keys -------------------------------------------------------------------------------

JSON_LINES = {
    # hand-written: structlog's JSONRenderer (event, lower-case level, ISO timestamp)
    '{"event": "Executing <Handle f() at /a.py:1> took 0.250 seconds", "level": "warning", '
    '"logger": "asyncio", "timestamp": "2026-12-05T08:10:59.177Z"}': {
        "level": "WARNING", "logger": "asyncio", "time": "2026-12-05T08:10:59.177Z",
        "time_s": 1796458259.177, "duration_s": 0.25},
    # hand-written: an ECS-style document (@timestamp, severity, logger_name, threadName)
    '{"@timestamp": "2026-12-05T08:10:59+00:00", "severity": "ERROR", "logger_name": '
    '"asyncio", "message": "Task was destroyed but it is pending!", "threadName": '
    '"MainThread", "process": 12705}': {
        "kind": "task_destroyed_pending", "level": "ERROR", "thread": "MainThread",
        "pid": 12705, "time_s": 1796458259.0},
    # hand-written: epoch seconds under "time", journald's _PID as text, msg, lvl
    '{"time": 1796458259.5, "lvl": "WARNING", "name": "asyncio", "_PID": "4242", "thread_name":'
    ' "loop", "msg": "Executing <Handle g() at /b.py:2> took 0.300 seconds"}': {
        "time": None, "time_s": 1796458259.5, "pid": 4242, "thread": "loop"},
}  # fmt: skip


@pytest.mark.parametrize("line", sorted(JSON_LINES))
def test_json_line_key_variants(line: str) -> None:
    for engine in ("fast", "lark"):
        [row] = _parse_text(line + "\n", engine).loop_events.to_pylist()
        for key, value in JSON_LINES[line].items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value), key
            else:
                assert row[key] == value, key


# -- what it must still refuse ---------------------------------------------------------------


def _head(text: str) -> bytes:
    return text.encode()[:65536]


def _refused(text: str) -> None:
    head = _head(text)
    assert asyncio_format.sniff(head) == 0.0
    assert _parse_text(text).record_count == 0


def test_sniff_refuses_seq_cat_n_and_xxd_output() -> None:
    _refused("".join(f"{n}\n" for n in range(1, 3001)))
    # cat -n of asyncio's own sources: they hold every message text, quoted
    for module in ("base_events.py", "tasks.py", "futures.py"):
        source = (STDLIB_ASYNCIO / module).read_text(encoding="utf-8")
        _refused("".join(f"{n:6}\t{line}\n" for n, line in enumerate(source.splitlines(), 1)))
    strace = (FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log").read_text(encoding="utf-8")
    _refused("".join(f"{n:6}\t{line}\n" for n, line in enumerate(strace.splitlines(), 1)))
    # xxd -p (30 bytes a line) of an asyncio log
    data = (FIXTURES / "asyncio" / "research" / "out" / "long_ts.txt").read_bytes()
    _refused(
        "".join(binascii.hexlify(data[i : i + 30]).decode() + "\n" for i in range(0, len(data), 30))
    )


PROCESS_TABLES = """\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root       18917  4.2  0.3 412345 61234 ?        Sl   08:13   0:01 python3 -m asyncio serve.py
root       18917     1  0 08:13 pts/0    00:00:01 python3 -m asyncio --debug serve.py
  PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
18917 root      20   0  412345  61234  12345 S   4.2   0.3   0:01.23 python3 -m asyncio
08:13:03 AM     0     18917    4.00    1.00    0.00    0.00    5.00     1  python3 -m asyncio
08:13:03      UID       PID    %usr %system  %guest   %wait    %CPU   CPU  Command
08:13:04        0     18917   12.00    2.00    0.00    0.00   14.00     0  asyncio-worker
"""
"""Hand-written: ps aux, ps -ef, top and pidstat lines of a process started with -m asyncio."""


def test_sniff_refuses_process_tables_that_name_asyncio() -> None:
    _refused(PROCESS_TABLES * 20)


def _other_format_fixtures(public: bool) -> list[Path]:
    roots = (
        [FIXTURES / "public" / "strace", FIXTURES / "public" / "perf"]
        if public
        else [FIXTURES / "strace", FIXTURES / "perf", FIXTURES / "diagnosis" / "logs"]
    )
    found = [path for root in roots for path in sorted(root.rglob("*")) if path.is_file()]
    if not public:
        found += sorted(INCIDENTS.glob("*/strace.*")) + sorted(INCIDENTS.glob("*/perf.*"))
    keep = re.compile(r"\.(?:log|txt|out|gz|xz|bz2|zst|collapsed|perf|\d+)$")
    skip = re.compile(r"program_stderr|\.debug\.log|\.md$")
    return [path for path in found if keep.search(path.name) and not skip.search(path.name)]


def _sniff_file(path: Path) -> float:
    source = open_input(path)
    try:
        head = source.stream.read(65536)
    finally:
        source.close()
    return asyncio_format.sniff(head)


def test_sniff_claims_no_strace_or_perf_fixture() -> None:
    paths = _other_format_fixtures(public=False)
    assert len(paths) > 100
    claimed = [str(path) for path in paths if _sniff_file(path) > 0.0]
    assert claimed == []


def test_sniff_claims_no_public_strace_or_perf_excerpt() -> None:
    paths = _other_format_fixtures(public=True)
    assert len(paths) > 60
    claimed = [str(path) for path in paths if _sniff_file(path) > 0.0]
    assert claimed == []


def test_fast_line_parser_reads_generic_envelopes_without_the_grammar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The incidents' lines in the new envelopes are read by the fast paths alone: the
    grammar is not asked (a 1M-line log in such an envelope must not cost the grammar per
    line)."""
    calls: list[str] = []

    def spy(name: str) -> Any:
        method = getattr(asyncio_lark.GrammarReaders, name)

        def wrapped(self: Any, text: str, *rest: Any) -> Any:
            calls.append(text)
            return method(self, text, *rest)

        return wrapped

    for name in ("line", "fields", "envelope_other", "cut"):
        monkeypatch.setattr(asyncio_lark.GrammarReaders, name, spy(name))
    for incident in ("dns_ndots_in_coroutine", "executor_slow_storage", "gil_regex_indexer",
                     "healthy_asyncio_api"):  # fmt: skip
        for line in _lines(INCIDENTS / incident / APP_LOGS[incident]):
            read = asyncio_scan.parse_line_lazy(line)
            if isinstance(read, asyncio_record.Line) and read.role in ("start", "other"):
                assert calls == [], line
            calls.clear()
