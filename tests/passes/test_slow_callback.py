"""IOD003 slow_callback: grouping of real asyncio debug logs, and matching to strace episodes.

The grouping is checked on real logs (fixtures/asyncio/research/out: the durations are the
ones asyncio printed). The matching is checked on real traces with the program's own
measurements (fixtures/strace/logs/asyncio_block.*) and on hand-built tables for the clock
cases no capture covers (zones, -tt midnight, coarse timestamps).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, STRACE_LOGS, inputs_of

from analyzer.derive.clock_alignment import log_resolution, zone_offsets
from analyzer.derive.strace import StraceTables
from analyzer.passes import PassConfig, PassInputs, blocked_loop, slow_callback
from analyzer.passes.base import Finding
from analyzer.schema import EXITS, LOOP_EVENTS, SIGNALS, SYSCALLS, TASKS

RESEARCH = ROOT / "fixtures" / "asyncio" / "research" / "out"
BLOCK_TT = STRACE_LOGS / "asyncio_block.f_tt_T.log"
BLOCK_TTT = STRACE_LOGS / "asyncio_block.f_ttt_T.log"
BLOCK_TT_STDERR = STRACE_LOGS / "asyncio_block.f_tt_T.program_stderr.txt"
DAY = 86_400.0


def _measured(name: str) -> dict[str, Any]:
    return json.loads((STRACE_LOGS / name).read_text())


def _by_title(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.title: finding for finding in findings}


# --- grouping, from real logs ---------------------------------------------------------------


def test_slow_callbacks_grouped_by_location() -> None:
    findings = slow_callback.run(inputs_of(RESEARCH / "py311_slow_callbacks.txt"), PassConfig())
    summary = [
        (f.evidence["callback"], f.evidence["count"], f.evidence["total_s"]) for f in findings
    ]
    assert summary == [
        ("slow_callbacks.<locals>.slow_cb", 2, pytest.approx(0.300)),
        ("slow_callbacks.<locals>.Metrics.flush", 1, pytest.approx(0.200)),
        ("slow_callbacks.<locals>.timer_cb", 1, pytest.approx(0.120)),
    ]
    slow_cb = findings[0]
    assert slow_cb.evidence["location"] == "/srv/capture/scenarios.py:85"
    assert slow_cb.evidence["max_s"] == pytest.approx(0.150)
    assert slow_cb.evidence["p95_s"] == pytest.approx(0.150)
    assert slow_cb.evidence["created_at"] == [
        "/srv/capture/scenarios.py:91",
        "/srv/capture/scenarios.py:95",
    ]
    assert slow_cb.cost_s == slow_cb.evidence["total_s"]
    assert slow_cb.lines == (2, 4)
    assert slow_cb.severity == "warning"
    assert (
        slow_cb.title == "Event loop blocked by slow_callbacks.<locals>.slow_cb at scenarios.py:85"
    )
    assert "2 times for 0.300 s in total (longest 0.150 s" in slow_cb.message
    # A handle without a location is named by where it was scheduled.
    assert "scheduled at /srv/capture/scenarios.py:92" in findings[1].message
    # No strace given: no correlation keys at all.
    assert "episodes" not in slow_cb.evidence and "clock_alignment" not in slow_cb.evidence
    assert "asyncio.sleep" in slow_cb.fix and "to_thread" in slow_cb.fix


def test_task_steps_say_where_the_blocking_code_is() -> None:
    findings = _by_title(slow_callback.run(inputs_of(RESEARCH / "long_ts.txt"), PassConfig()))
    main = findings["Event loop blocked by main() at long_log.py:104"]
    assert main.evidence["coro"] == "main"
    assert main.evidence["step"] == "stopped_at_await"
    assert main.evidence["task_names"] == ["Task-1"]
    assert "between the previous await and that line" in main.message
    # '2026-11-26 15:08:50,503' read as UTC.
    assert main.start == pytest.approx(1795705730.503)
    assert main.evidence["first_time_s"] == main.evidence["last_time_s"] == main.start
    read_ready = findings["Event loop blocked by _SelectorSocketTransport._read_ready"]
    assert read_ready.evidence["count"] == 2
    assert read_ready.evidence["total_s"] == pytest.approx(0.362)
    assert "data_received" in read_ready.message
    assert "Find what blocks in the protocol's data_received" in read_ready.fix
    # Costliest first.
    costs = [f.cost_s for f in findings.values()]
    assert costs == sorted(costs, reverse=True)


def test_finished_task_and_uvloop_blind_spot() -> None:
    findings = slow_callback.run(inputs_of(RESEARCH / "uvloop_debug.txt"), PassConfig())
    first = findings[0]
    assert first.evidence["coro"] == "blocking_sleep.<locals>.handle_request"
    assert first.evidence["step"] == "finished"
    assert first.evidence["max_s"] == pytest.approx(0.5)
    assert all(f.evidence["uvloop"] for f in findings)
    assert "protocol callbacks" in first.evidence["uvloop_note"]
    assert "uvloop does not time protocol callbacks" in first.message
    thresholds = first.evidence["thresholds"]
    assert thresholds["slow_callback_duration_s"] == 0.1
    assert thresholds["smallest_logged_s"] == pytest.approx(0.120)


def test_no_slow_callbacks_no_findings() -> None:
    inputs = inputs_of(RESEARCH / "py311_never_awaited.txt")
    assert inputs.loop_events is not None and inputs.loop_events.num_rows > 0
    assert slow_callback.run(inputs, PassConfig()) == []
    assert slow_callback.run(PassInputs(), PassConfig()) == []


# --- a real trace and its untimed log -------------------------------------------------------


def _sleep_episode_by_hand(measured: dict[str, Any], clock: str) -> Finding:
    """Hand-built blocked_loop finding with the episode the program measured (time.sleep).

    The -tt capture ran in UTC (fixtures/strace/VERSIONS.txt), so its clock is the epoch
    time modulo a day.
    """
    start = (
        measured["sleep_start_epoch"] % DAY if clock == "clock" else measured["sleep_start_epoch"]
    )
    episode = {
        "start": start,
        "duration_s": measured["sleep_blocked_s"],
        "cpu_s": 0.001,
        "top_calls": [
            {
                "syscall": "clock_nanosleep",
                "target": None,
                "total_s": measured["sleep_blocked_s"],
                "cause": "sleep",
            }
        ],
    }
    return Finding(
        code="IOD002",
        kind="blocked_loop",
        severity="warning",
        title="hand-built",
        message="hand-built",
        evidence={"loop_tid": measured["loop_tid"], "episodes": [episode]},
        input=str(BLOCK_TT if clock == "clock" else BLOCK_TTT),
        pid=measured["pid"],
        tid=measured["loop_tid"],
    )


def _earlier(
    inputs: PassInputs, measured: dict[str, Any], clock: str, source: str = "blocked_loop"
) -> tuple[Finding, ...]:
    if source == "blocked_loop":
        return tuple(blocked_loop.run(inputs, PassConfig()))
    return (_sleep_episode_by_hand(measured, clock),)


@pytest.mark.parametrize("source", ["blocked_loop", "hand-built"])
def test_untimed_log_is_not_matched_but_the_same_length_episode_is_named(source: str) -> None:
    measured = _measured("asyncio_block.f_tt_T.measured.json")
    inputs = inputs_of(BLOCK_TT, BLOCK_TT_STDERR)
    inputs = dataclasses.replace(inputs, earlier=_earlier(inputs, measured, "clock", source))
    [finding] = slow_callback.run(inputs, PassConfig())
    evidence = finding.evidence
    assert evidence["coro"] == "blocker"
    assert evidence["location"].endswith("fixtures/strace/programs/asyncio_block.py:65")
    assert evidence["task_names"] == ["Task-4"]
    assert evidence["max_s"] == pytest.approx(measured["sleep_blocked_s"], abs=0.005)
    assert evidence["matched_count"] == 0 and evidence["episodes"] == []
    assert evidence["unmatched"][0]["reason"] == slow_callback.NO_TIMESTAMP
    [alignment] = evidence["clock_alignment"]
    assert alignment["method"] == "none" and "no timestamps" in alignment["reason"]
    [same] = evidence["same_length_episodes"]
    assert same["loop_tid"] == measured["loop_tid"]
    assert same["duration_s"] == pytest.approx(measured["sleep_blocked_s"], abs=0.005)
    assert same["top_calls"][0]["syscall"] == "clock_nanosleep"
    assert "no timestamps" in finding.message and "cannot be confirmed" in finding.message
    assert finding.start is None and finding.tid is None


def _timed_log(rows: list[dict[str, Any]]) -> pa.Table:
    """Hand-built loop_events rows (not a capture): the columns the pass reads."""
    full = []
    for number, row in enumerate(rows, start=1):
        record = {name: None for name in LOOP_EVENTS.names}
        record.update(
            input="hand-built.log",
            line_start=number,
            line_end=number,
            kind="slow_callback",
            repr_class="Task",
            coro="blocker",
            task_name="Task-4",
            location="/app/blocker.py:65",
            text="Executing <Task pending name='Task-4' coro=<blocker() running at "
            "/app/blocker.py:65>> took 0.302 seconds",
        )
        record.update(row)
        full.append(record)
    return pa.Table.from_pylist(full, schema=LOOP_EVENTS.schema)


@pytest.mark.parametrize("source", ["blocked_loop", "hand-built"])
def test_timed_step_matches_the_real_ttt_episode(source: str) -> None:
    """The real -ttt trace, and the log line asyncio would have printed: its time is the
    measured end of the sleep, truncated to the millisecond as logging's asctime does."""
    measured = _measured("asyncio_block.f_ttt_T.measured.json")
    inputs = inputs_of(BLOCK_TTT)
    step_end = measured["sleep_start_epoch"] + measured["sleep_blocked_s"] + 0.0004
    log = _timed_log([{"time_s": np.floor(step_end * 1000) / 1000, "duration_s": 0.302}])
    inputs = dataclasses.replace(
        inputs, loop_events=log, earlier=_earlier(inputs, measured, "epoch", source)
    )
    [finding] = slow_callback.run(inputs, PassConfig())
    [alignment] = finding.evidence["clock_alignment"]
    assert alignment["method"] == "inferred"
    assert alignment["log_to_strace_s"] == 0.0 and alignment["zone_offset_s"] == 0.0
    assert finding.evidence["matched_count"] == 1
    [episode] = finding.evidence["episodes"]
    assert episode["loop_tid"] == measured["loop_tid"] == finding.tid
    assert episode["strace_start"] == pytest.approx(measured["sleep_start_epoch"], abs=0.005)
    assert episode["duration_s"] == pytest.approx(measured["sleep_blocked_s"], abs=0.005)
    assert episode["top_calls"][0]["syscall"] == "clock_nanosleep"
    assert f"strace shows loop thread {measured['loop_tid']} in clock_nanosleep" in finding.message
    assert finding.fix.startswith("In blocker() (/app/blocker.py:65): Replace time.sleep()")


# --- clock cases, hand-built ------------------------------------------------------------------


def _trace(name: str, clock: str | None, first_s: float, last_s: float) -> StraceTables:
    """A hand-built trace with no rows: only its clock and time span matter here."""
    return StraceTables(
        input=name,
        syscalls=SYSCALLS.schema.empty_table(),
        signals=SIGNALS.schema.empty_table(),
        exits=EXITS.schema.empty_table(),
        tasks=TASKS.schema.empty_table(),
        first_s=first_s,
        last_s=last_s,
        clock=clock,
        has_durations=True,
        follows_forks=True,
    )


CAUSE_OF = {"clock_nanosleep": "sleep", "read": "file_io"}


def _blocked(name: str, episodes: list[tuple[float, float, str]], tid: int = 7) -> Finding:
    """A hand-built blocked_loop finding: (start, duration, blocking syscall) per episode."""
    return Finding(
        code="IOD002",
        kind="blocked_loop",
        severity="warning",
        title="hand-built",
        message="hand-built",
        input=name,
        pid=tid,
        tid=tid,
        evidence={
            "loop_tid": tid,
            "episodes": [
                {
                    "start": start,
                    "duration_s": duration,
                    "cpu_s": 0.002,
                    "top_calls": [
                        {
                            "syscall": syscall,
                            "target": "/data/big.bin" if syscall == "read" else None,
                            "total_s": duration - 0.002,
                            "cause": CAUSE_OF[syscall],
                        }
                    ],
                    "hot_stacks": [{"stack": "main;handler;read", "samples": 12}],
                }
                for start, duration, syscall in episodes
            ],
        },
    )


UNIX_MIDNIGHT = 1795651200.0  # 2026-11-26 00:00:00 UTC


def _scenario(
    log_times: list[float],
    durations: list[float],
    clock: str,
    episodes: list[tuple[float, float, str]],
    first_s: float,
    last_s: float,
) -> PassInputs:
    log = _timed_log(
        [
            {"time_s": t, "duration_s": d, "location": f"/app/blocker.py:{65 + i}"}
            for i, (t, d) in enumerate(zip(log_times, durations, strict=True))
        ]
    )
    return PassInputs(
        traces=(_trace("trace", clock, first_s, last_s),),
        loop_events=log,
        earlier=(_blocked("trace", episodes),),
    )


def _alignment(findings: list[Finding]) -> dict[str, Any]:
    return findings[0].evidence["clock_alignment"][0]


@pytest.mark.parametrize("zone_h", [0.0, 5.5, -7.0, 13.75])
def test_local_time_log_against_an_epoch_trace(zone_h: float) -> None:
    """A log printed in local time (read as UTC) is off by the zone; -ttt is true UTC."""
    starts = [UNIX_MIDNIGHT + 50_000.0, UNIX_MIDNIGHT + 50_003.0]
    episodes = [(starts[0], 0.3025, "clock_nanosleep"), (starts[1], 0.2, "read")]
    ends = [start + duration for start, (_, duration, _) in zip(starts, episodes, strict=True)]
    log_times = [np.floor((end - 0.0008 + zone_h * 3600) * 1000) / 1000 for end in ends]
    inputs = _scenario(log_times, [0.301, 0.198], "epoch", episodes, starts[0] - 5, starts[1] + 5)
    findings = slow_callback.run(inputs, PassConfig())
    alignment = _alignment(findings)
    assert alignment["zone_offset_s"] == -zone_h * 3600
    assert alignment["matched_steps"] == 2 and not alignment["ambiguous"]
    assert all(f.evidence["matched_count"] == 1 for f in findings)
    by_line = {f.evidence["episodes"][0]["log_line"]: f.evidence["episodes"][0] for f in findings}
    assert by_line[1]["strace_start"] == starts[0] and by_line[2]["strace_start"] == starts[1]
    # perf stacks that blocked_loop found inside the episode are carried along.
    assert by_line[1]["hot_stacks"] == [{"stack": "main;handler;read", "samples": 12}]


@pytest.mark.parametrize("zone_h", [0.0, -7.0, 9.0])
def test_utc_log_against_a_tt_trace_in_another_zone(zone_h: float) -> None:
    """-tt counts from the first day's local midnight; the log here is UTC (time.gmtime)."""
    local_start = 3_600.0 * 10 + 12.5  # 10:00:12.5 local
    episodes = [(local_start, 0.25, "read")]
    utc_end = UNIX_MIDNIGHT + local_start - zone_h * 3600 + 0.25
    log_times = [np.floor((utc_end - 0.0005) * 1000) / 1000]
    inputs = _scenario(log_times, [0.249], "clock", episodes, local_start - 60, local_start + 60)
    findings = slow_callback.run(inputs, PassConfig())
    alignment = _alignment(findings)
    assert alignment["zone_offset_s"] == zone_h * 3600
    assert alignment["log_to_strace_s"] % DAY == pytest.approx((zone_h * 3600) % DAY)
    assert findings[0].evidence["matched_count"] == 1


def test_tt_trace_that_crosses_midnight() -> None:
    """After midnight strace -tt keeps counting past 86400 s from the first day's midnight."""
    episodes = [(86_390.0, 0.3, "clock_nanosleep"), (86_405.0, 0.4, "clock_nanosleep")]
    log_times = [UNIX_MIDNIGHT + 86_390.3 - 0.0002, UNIX_MIDNIGHT + 86_405.4 - 0.0002]
    log_times = [np.floor(t * 1000) / 1000 for t in log_times]
    inputs = _scenario(log_times, [0.3, 0.4], "clock", episodes, 86_380.0, 86_420.0)
    findings = slow_callback.run(inputs, PassConfig())
    assert _alignment(findings)["matched_steps"] == 2


def test_two_callbacks_in_one_episode_both_match() -> None:
    """One loop iteration ran two slow callbacks back to back: one strace episode."""
    start = UNIX_MIDNIGHT + 100.0
    episodes = [(start, 0.35, "clock_nanosleep")]
    log_times = [start + 0.150, start + 0.349]
    inputs = _scenario(log_times, [0.150, 0.199], "epoch", episodes, start - 1, start + 1)
    findings = slow_callback.run(inputs, PassConfig())
    assert [f.evidence["matched_count"] for f in findings] == [1, 1]
    starts = {f.evidence["episodes"][0]["strace_start"] for f in findings}
    assert starts == {start}


def test_unmatched_steps_are_listed_with_the_reason() -> None:
    start = UNIX_MIDNIGHT + 100.0
    episodes = [(start, 0.3, "clock_nanosleep")]
    log_times = [start + 0.3, start + 5.0, start + 3600.0 * 30]
    inputs = _scenario(log_times, [0.3, 0.2, 0.2], "epoch", episodes, start - 1, start + 10)
    findings = {f.evidence["location"]: f for f in slow_callback.run(inputs, PassConfig())}
    assert findings["/app/blocker.py:65"].evidence["matched_count"] == 1
    assert findings["/app/blocker.py:66"].evidence["unmatched"][0]["reason"] == (
        slow_callback.NO_EPISODE
    )
    assert findings["/app/blocker.py:67"].evidence["unmatched"][0]["reason"] == (
        slow_callback.OUTSIDE_TRACE
    )
    assert "matched no strace episode (no strace episode at this time)" in (
        findings["/app/blocker.py:66"].message
    )


def test_configured_offset_overrides_inference() -> None:
    start = UNIX_MIDNIGHT + 100.0
    episodes = [(start, 0.3, "clock_nanosleep")]
    inputs = _scenario([start + 0.3 + 42.0], [0.3], "epoch", episodes, start - 1, start + 10)
    inferred = slow_callback.run(inputs, PassConfig())
    assert _alignment(inferred)["method"] == "none"  # 42 s is no zone offset
    configured = slow_callback.run(inputs, PassConfig(clock_offset_s=-42.0))
    assert _alignment(configured)["method"] == "configured"
    assert configured[0].evidence["matched_count"] == 1


def test_relative_trace_clock_cannot_be_aligned() -> None:
    episodes = [(1.0, 0.3, "clock_nanosleep")]
    inputs = _scenario([UNIX_MIDNIGHT + 1.3], [0.3], "relative", episodes, 0.0, 5.0)
    [finding] = slow_callback.run(inputs, PassConfig())
    alignment = _alignment([finding])
    assert alignment["method"] == "none" and "-tt or -ttt" in alignment["reason"]
    assert finding.evidence["unmatched"][0]["reason"] == slow_callback.NOT_ALIGNED


def test_second_resolution_log_picks_the_nearest_episode() -> None:
    """A log printed without milliseconds: the time is floor(seconds)."""
    start = UNIX_MIDNIGHT + 100.2
    episodes = [(start, 0.3, "clock_nanosleep"), (start + 0.4, 0.15, "read")]
    log_times = [np.floor(start + 0.3), np.floor(start + 0.55)]
    inputs = _scenario(log_times, [0.3, 0.15], "epoch", episodes, start - 1, start + 2)
    findings = {f.evidence["location"]: f for f in slow_callback.run(inputs, PassConfig())}
    assert _alignment(list(findings.values()))["log_resolution_s"] == 1.0
    assert findings["/app/blocker.py:65"].evidence["episodes"][0]["strace_start"] == start
    assert findings["/app/blocker.py:66"].evidence["episodes"][0]["strace_start"] == start + 0.4


def test_no_blocked_loop_in_the_trace() -> None:
    log = _timed_log([{"time_s": UNIX_MIDNIGHT + 1.0, "duration_s": 0.3}])
    inputs = PassInputs(traces=(_trace("trace", "epoch", 0.0, 1e10),), loop_events=log)
    [finding] = slow_callback.run(inputs, PassConfig())
    assert finding.evidence["unmatched"][0]["reason"] == slow_callback.NO_STRACE_LOOP


def test_mixed_causes_get_one_fix_each() -> None:
    """Two steps at the same await: one slept, one read a file (hand-built episodes)."""
    start = UNIX_MIDNIGHT + 100.0
    episodes = [(start, 0.3, "clock_nanosleep"), (start + 1, 0.3, "read")]
    log = _timed_log(
        [
            {"time_s": start + 0.3, "duration_s": 0.3},
            {"time_s": start + 1.3, "duration_s": 0.3},
        ]
    )
    inputs = PassInputs(
        traces=(_trace("trace", "epoch", start - 1, start + 2),),
        loop_events=log,
        earlier=(_blocked("trace", episodes),),
    )
    [finding] = slow_callback.run(inputs, PassConfig())
    assert finding.evidence["matched_count"] == 2
    assert "await asyncio.sleep()" in finding.fix and "Move file I/O off the loop" in finding.fix
    assert "in clock_nanosleep for 0.298 s (time.sleep in a coroutine)" in finding.message
    assert "in read on /data/big.bin for 0.298 s (blocking file I/O)" in finding.message


def test_log_resolution_and_zone_order() -> None:
    assert log_resolution(np.array([UNIX_MIDNIGHT + 1, UNIX_MIDNIGHT + 5])) == 1.0
    assert log_resolution(np.array([UNIX_MIDNIGHT + 1.123, UNIX_MIDNIGHT + 5.5])) == 0.001
    assert log_resolution(np.array([UNIX_MIDNIGHT + 1.123456])) == 1e-6
    assert log_resolution(np.array([np.nan])) is None
    zones = zone_offsets()
    assert zones[0] == 0 and len(zones) == 113 and set(np.abs(zones[:3])) == {0, 900}


# --- the asyncio server: strace and its debug log from the same run -------------------------

SERVER_TRACES = {
    "clock": ("asyncio_server.f_tt_T", "asyncio_server.debug.log"),
    "epoch": ("asyncio_server.f_ttt_T", "asyncio_server.f_ttt_T.debug.log"),
}
"""The trace of each clock and the debug log of the same run."""


def _server_case(clock: str) -> tuple[PassInputs, dict[str, Any], Path]:
    stem, log = SERVER_TRACES[clock]
    trace = DIAGNOSIS_LOGS / f"{stem}.log"
    measured = json.loads((DIAGNOSIS_LOGS / f"{stem}.measured.json").read_text())
    inputs = inputs_of(trace, DIAGNOSIS_LOGS / log)
    inputs = dataclasses.replace(inputs, earlier=tuple(blocked_loop.run(inputs, PassConfig())))
    return inputs, measured, trace


@pytest.mark.parametrize("clock", ["clock", "epoch"])
def test_server_steps_match_the_episodes_the_program_measured(clock: str) -> None:
    inputs, measured, trace = _server_case(clock)
    [finding] = slow_callback.run(inputs, PassConfig())
    evidence = finding.evidence
    assert evidence["coro"] == "handle" and evidence["count"] == 3
    assert evidence["matched_count"] == 3 and evidence["unmatched_count"] == 0
    [alignment] = evidence["clock_alignment"]
    assert alignment["method"] == "inferred" and alignment["zone_offset_s"] == 0.0
    # The log is UTC (time.gmtime); the -tt capture ran in UTC too, so only the days differ.
    assert alignment["log_to_strace_s"] % DAY == 0.0
    assert finding.tid == measured["loop_tid"]
    by_task = {e["task"]: (name, e) for name, e in measured["blocking_episodes"].items()}
    offset = alignment["log_to_strace_s"]
    seen = set()
    for episode in evidence["episodes"]:
        log_row = _log_row(inputs, episode["log_line"])
        name, truth = by_task[log_row["task_name"]]
        seen.add(name)
        start, end = truth["start_epoch"] + offset, truth["start_epoch"] + truth["duration_s"]
        # The episode holds the blocking part the program timed, and little else.
        assert episode["strace_start"] <= start + 0.002
        assert episode["strace_start"] + episode["duration_s"] >= end + offset - 0.002
        assert episode["duration_s"] == pytest.approx(truth["duration_s"], abs=0.02)
        assert episode["loop_tid"] == truth["tid"] == measured["loop_tid"]
        calls = {call["syscall"]: call for call in episode["top_calls"]}
        if name == "sleep":
            assert episode["top_calls"][0]["syscall"] == "clock_nanosleep"
            assert calls["clock_nanosleep"]["total_s"] == pytest.approx(
                truth["duration_s"], abs=0.005
            )
        elif name == "read":
            assert calls["read"]["target"] == measured["big_file"]["path"]
        else:
            assert episode["cpu_s"] >= 0.8 * truth["duration_s"]
    assert seen == {"sleep", "read", "cpu"}
    causes = {item["cause"] for item in evidence["strace"]["causes"]}
    assert {"sleep", "cpu"} <= causes
    assert "await asyncio.sleep()" in finding.fix and "ProcessPoolExecutor" in finding.fix
    assert f"strace shows loop thread {measured['loop_tid']} in clock_nanosleep" in finding.message
    assert trace.name in evidence["episodes"][0]["strace_input"]


def _log_row(inputs: PassInputs, line: int) -> dict[str, Any]:
    events = inputs.loop_events
    assert events is not None
    rows = [row for row in events.to_pylist() if row["line_start"] == line]
    return rows[0]


def test_server_log_in_local_time_is_still_aligned() -> None:
    """The real -tt capture, with its log times moved 2 h ahead by hand, as a log printed in
    local time at UTC+2 would read (the strace clock stays UTC)."""
    inputs, _, _ = _server_case("clock")
    events = inputs.loop_events
    assert events is not None
    shifted = pc.add(events["time_s"], 7200.0)
    events = events.set_column(events.schema.get_field_index("time_s"), "time_s", shifted)
    [finding] = slow_callback.run(dataclasses.replace(inputs, loop_events=events), PassConfig())
    [alignment] = finding.evidence["clock_alignment"]
    assert alignment["zone_offset_s"] == -7200.0
    assert finding.evidence["matched_count"] == 3


def test_log_of_another_run_matches_nothing() -> None:
    """The -tt trace with the debug log of the -ttt run (a few seconds later)."""
    inputs, _, _ = _server_case("clock")
    other = inputs_of(DIAGNOSIS_LOGS / "asyncio_server.f_ttt_T.debug.log")
    [finding] = slow_callback.run(
        dataclasses.replace(inputs, loop_events=other.loop_events), PassConfig()
    )
    [alignment] = finding.evidence["clock_alignment"]
    assert alignment["method"] == "none" and "same run" in alignment["reason"]
    assert finding.evidence["matched_count"] == 0
    assert {u["reason"] for u in finding.evidence["unmatched"]} == {slow_callback.NOT_ALIGNED}


def test_step_in_an_episode_blocked_loop_did_not_list() -> None:
    """blocked_loop lists the longest episodes only: say so rather than 'no episode'."""
    start = UNIX_MIDNIGHT + 100.0
    inputs = _scenario(
        [start + 0.3, start + 5.2],
        [0.3, 0.2],
        "epoch",
        [(start, 0.3, "read")],
        start - 1,
        start + 10,
    )
    blocked = inputs.earlier[0]
    counted = dataclasses.replace(blocked, evidence={**blocked.evidence, "episode_count": 60})
    found, missed = slow_callback.run(dataclasses.replace(inputs, earlier=(counted,)), PassConfig())
    assert found.evidence["matched_count"] == 1
    assert missed.evidence["unmatched"][0]["reason"] == slow_callback.NOT_LISTED
