"""IOD010 asyncio_misuse on real asyncio output (fixtures/asyncio/research/out).

The logs are what CPython and uvloop printed for scenarios with a known bug each
(fixtures/asyncio/research/scenarios.py, long_log.py); the expected places are the lines of
those scripts.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from pass_fixtures import ROOT, inputs_of

from analyzer.passes import PassConfig, PassInputs, asyncio_misuse
from analyzer.passes.asyncio_misuse import created_in, excerpt, plain_reprs, raised_at
from analyzer.passes.base import Finding
from analyzer.schema import LOOP_EVENTS
from analyzer.verdict import ranked

RESEARCH = ROOT / "fixtures" / "asyncio" / "research" / "out"


def _run(name: str) -> list[Finding]:
    return asyncio_misuse.run(inputs_of(RESEARCH / name), PassConfig())


def _by_misuse(findings: list[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.evidence["misuse"], []).append(finding)
    return groups


def test_interleaved_service_log() -> None:
    findings = _run("long_ts.txt")
    assert [f.evidence["misuse"] for f in findings] == [
        "never_retrieved",
        "exception",
        "never_awaited",
    ]
    retrieved, exception, awaited = findings
    assert retrieved.severity == exception.severity == "error"
    assert awaited.severity == "warning"
    assert all(f.cost_s == 0.0 and f.code == "IOD010" for f in findings)

    assert retrieved.title == "Exception never retrieved: ConnectionError in cache_refresh()"
    assert retrieved.evidence["exc_message"] == "cache backend unreachable"
    assert retrieved.evidence["raised_at"] == "/srv/capture/long_log.py:78 in cache_refresh"
    assert retrieved.evidence["created_in"] == "/srv/capture/long_log.py:95 in main"
    assert retrieved.evidence["task_names"] == ["Task-3"]
    assert retrieved.start == pytest.approx(1795705729.528)  # 15:08:49,528 read as UTC
    assert retrieved.lines == (4,)
    assert retrieved.fix.startswith("Await the task running cache_refresh()")
    assert "done callback" in retrieved.fix

    assert exception.evidence["callback"] == "on_tick"
    assert exception.evidence["location"] == "/srv/capture/long_log.py:81"
    assert exception.evidence["exc_type"] == "ZeroDivisionError"
    assert exception.evidence["raised_at"] == "/srv/capture/long_log.py:85 in on_tick"
    assert "ZeroDivisionError: division by zero in metrics tick" in exception.message
    assert "set_exception_handler" in exception.fix

    assert awaited.evidence["coro"] == "sleep"
    assert awaited.evidence["location"] == "/srv/capture/long_log.py:103"
    assert awaited.fix.startswith("Await the call of sleep() at /srv/capture/long_log.py:103")


def test_future_without_traceback_points_at_where_it_was_created() -> None:
    future, task = _run("py311_exception_never_retrieved.txt")
    assert future.evidence["exc_type"] == "ConnectionResetError"
    assert future.evidence["raised_at"] is None  # set_exception(): nothing was raised
    assert future.evidence["created_in"] == (
        "/srv/capture/scenarios.py:171 in exception_never_retrieved"
    )
    assert future.title == (
        "Exception never retrieved: ConnectionResetError in exception_never_retrieved "
        "(scenarios.py:171)"
    )
    assert task.evidence["coro"] == "exception_never_retrieved.<locals>.parse"
    assert task.evidence["raised_at"] == "/srv/capture/scenarios.py:168 in parse"


def test_resource_warnings_grouped_by_what_was_left_open() -> None:
    findings = _run("py311_resource_warnings.txt")
    assert all(
        f.severity == "warning" and f.evidence["misuse"] == "resource_warning" for f in findings
    )
    counts = {f.evidence["what"]: f.evidence["count"] for f in findings}
    # Two runs of the scenario: each leaked one stream, two transports and the loop.
    assert counts == {
        "unclosed transport _SelectorSocketTransport": 4,
        "unclosed StreamWriter": 2,
        "unclosed event loop _UnixSelectorEventLoop": 2,
        "loop is closed": 2,
    }
    fixes = {f.evidence["what"]: f.fix for f in findings}
    assert "wait_closed" in fixes["unclosed StreamWriter"]
    assert "asyncio.run" in fixes["unclosed event loop _UnixSelectorEventLoop"]


def test_exception_without_a_named_callback_is_placed_by_its_traceback() -> None:
    [finding] = _run("py311_protocol_error.txt")
    assert finding.evidence["exc_type"] == "UnicodeDecodeError"
    assert finding.evidence["raised_at"] == "/srv/capture/scenarios.py:267 in data_received"
    assert finding.title == (
        "Unhandled exception in the event loop: UnicodeDecodeError in data_received "
        "(scenarios.py:267)"
    )
    assert "Fatal error: protocol.data_received() call failed." in finding.message


def test_uvloop_records_group_by_callback() -> None:
    groups = _by_misuse(_run("uvloop_debug.txt"))
    [exception] = groups["exception"]
    assert exception.evidence["count"] == 2
    assert exception.evidence["exception_types"] == {"KeyError": 2}
    assert exception.evidence["raised_at"] == "/srv/capture/scenarios.py:210 in on_message"
    [pending] = groups["task_destroyed_pending"]
    assert pending.evidence["coro"] == "task_destroyed_pending.<locals>.consumer"
    assert "strong reference" in pending.fix
    assert len(groups["never_retrieved"]) == 2


def test_never_awaited_counts_each_warning() -> None:
    [finding] = _run("py311_never_awaited.txt")
    assert finding.evidence["count"] == 2
    assert finding.evidence["coro"] == "never_awaited.<locals>.send_metrics"
    assert finding.lines == (2, 26)


def test_misuse_costs_no_time_so_it_ranks_after_slow_findings() -> None:
    findings = _run("long_ts.txt")
    slow = Finding(
        code="IOD003",
        kind="slow_callback",
        severity="warning",
        title="hand-built",
        message="hand-built",
        evidence={},
        cost_s=0.3,
    )
    order = [index for index, _, _ in ranked([*findings, slow])]
    assert order[0] == len(findings)


def test_no_misuse_no_findings() -> None:
    assert _run("py311_slow_callbacks.txt") == []
    assert asyncio_misuse.run(PassInputs(), PassConfig()) == []


def test_long_sample_keeps_its_head_and_its_exception() -> None:
    # Hand-built text (not a capture): a 300-frame traceback.
    frames = [f'  File "/app/deep.py", line {n}, in f{n}\n    f{n + 1}()' for n in range(300)]
    text = "\n".join(["Task exception was never retrieved", *frames, "RecursionError: deep"])
    short = excerpt(text, 2000)
    assert len(short) <= 2000 + 40
    assert short.startswith("Task exception was never retrieved\n")
    assert short.endswith("RecursionError: deep")
    assert "lines ...]" in short
    assert excerpt("short text") == "short text"


def test_text_helpers() -> None:
    # Hand-built lines in CPython's formats.
    assert plain_reprs("unclosed <StreamWriter transport=<_X fd=7 w=<idle, b=0>> r=<R>>") == (
        "unclosed StreamWriter"
    )
    text = (
        "source_traceback: Object created at (most recent call last):\n"
        '  File "/app/main.py", line 9, in main\n'
        '  File "/usr/lib/python3.11/asyncio/tasks.py", line 680, in create_task\n'
        "Traceback (most recent call last):\n"
        '  File "/app/job.py", line 3, in job\n'
        "ValueError: x"
    )
    assert created_in(text) == "/app/main.py:9 in main"
    assert raised_at(text) == "/app/job.py:3 in job"
    assert raised_at("no traceback here") is None


def test_hand_built_rows_with_nothing_but_a_kind() -> None:
    # Hand-built loop_events rows (not a capture): every optional column null.
    rows = [
        {name: None for name in LOOP_EVENTS.names}
        | {"input": "x.log", "line_start": n, "line_end": n, "kind": "task_destroyed_pending"}
        for n in (3, 9)
    ]
    table = pa.Table.from_pylist(rows, schema=LOOP_EVENTS.schema)
    [finding] = asyncio_misuse.run(PassInputs(loop_events=table), PassConfig())
    assert finding.evidence["count"] == 2
    assert finding.title == "Task destroyed while pending"
    assert finding.lines == (3, 9)
    assert finding.start is None
