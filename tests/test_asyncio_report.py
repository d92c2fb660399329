"""The asyncio report section's timeline of blocking episodes, on the real research logs.

Expected episodes are read from the log text with a regular expression and the standard
library's datetime, independently of the parser.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analyzer.formats import asyncio as asyncio_format
from analyzer.inputs import iter_line_chunks, open_input
from analyzer.sections.asyncio import asyncio_section, blocking_timeline

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "asyncio" / "research" / "out"
TIMED = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<ms>\d{3}) .*Executing <.*> "
    r"took (?P<took>\d+\.\d+) seconds$"
)


def _events(name: str) -> asyncio_format.ParsedLog:
    source = open_input(OUT / name)
    try:
        return asyncio_format.parse(iter_line_chunks(source.stream), name)
    finally:
        source.close()


def _expected(name: str) -> list[tuple[float, float, int]]:
    """(start, duration, line) of every timestamped `Executing` line, in time order."""
    found = []
    for number, line in enumerate((OUT / name).read_text(encoding="utf-8").split("\n"), 1):
        match = TIMED.match(line)
        if match:
            logged = datetime.strptime(match["date"], "%Y-%m-%d %H:%M:%S")
            seconds = logged.replace(tzinfo=timezone.utc).timestamp() + int(match["ms"]) / 1000
            took = float(match["took"])
            found.append((seconds - took, took, number))
    return sorted(found)


@pytest.mark.parametrize("name", ["long_ts.txt", "fmt_asctime.txt", "long_ts_uvloop.txt"])
def test_timeline_is_every_timed_slow_step_in_time_order(name: str) -> None:
    timeline, omitted = blocking_timeline(_events(name).loop_events)
    expected = _expected(name)
    assert expected and omitted == 0
    assert [(e["line"], e["duration_s"]) for e in timeline] == [(n, d) for _, d, n in expected]
    for episode, (start, _, _) in zip(timeline, expected, strict=True):
        assert episode["time_s"] == pytest.approx(start, abs=1e-6)
        assert episode["input"] == name


def test_timeline_names_the_task_and_the_code() -> None:
    """long_ts.txt lines 36 and 99 (read by hand): a TimerHandle callback and a task step."""
    timeline, _ = blocking_timeline(_events("long_ts.txt").loop_events)
    by_line = {episode["line"]: episode for episode in timeline}
    timer, task = by_line[36], by_line[99]
    assert (timer["task"], timer["callback"], timer["location"]) == (
        None,
        "on_tick",
        "/srv/capture/long_log.py:81",
    )
    assert (task["task"], task["coro"], task["location"]) == (
        "Task-1",
        "main",
        "/srv/capture/long_log.py:104",
    )


def test_the_longest_episodes_are_kept_when_there_are_too_many() -> None:
    events = _events("long_ts.txt").loop_events
    expected = _expected("long_ts.txt")
    longest = sorted(expected, key=lambda item: -item[1])[:2]
    timeline, omitted = blocking_timeline(events, limit=2)
    assert omitted == len(expected) - 2
    assert [episode["line"] for episode in timeline] == [n for _, _, n in sorted(longest)]


def test_section_has_the_timeline_or_says_why_not() -> None:
    timed = asyncio_section(_events("long_ts.txt").loop_events)
    assert len(timed["timeline"]) == len(_expected("long_ts.txt")) == 4
    assert timed["timeline_omitted"] == 0
    untimed = asyncio_section(_events("py311_slow_callbacks.txt").loop_events)
    assert untimed["slow_callbacks"]["count"] > 0 and untimed["timeline"] == []
    assert any("no timestamps" in note for note in untimed["notes"])


TOOK = re.compile(r"Executing <.*> took (?P<took>\d+\.\d+) seconds")


@pytest.mark.parametrize(
    "name", sorted(path.name for path in OUT.glob("*.txt") if "took" in path.read_text())
)
def test_every_slow_step_is_in_the_location_table(name: str) -> None:
    """Steps whose repr has no file:line (a bound method's partial) are grouped by callback."""
    text = (OUT / name).read_text(encoding="utf-8")
    took = [match for line in text.split("\n") if (match := TOOK.search(line))]
    section = asyncio_section(_events(name).loop_events)["slow_callbacks"]
    groups = section["by_location"]
    assert sum(group["count"] for group in groups) == len(took) == section["count"]
    assert sum(group["total_s"] for group in groups) == pytest.approx(
        sum(float(match["took"]) for match in took)
    )
    for group in groups:
        assert (group["location"] is None) == (group["callback"] is not None)
    if "Metrics.flush(" in text and "took" in text:
        flushes = [g for g in groups if g["callback"] and g["callback"].endswith("Metrics.flush")]
        assert [g["location"] for g in flushes] == [None]
