"""`analyzer.derive.timeline`: putting an input's clock on the reference clock. The clocks
here are hand-written (times and kinds as the parsers give them), not captures; the
captures are checked in tests/passes/test_evidence_passes.py."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.derive.timeline import InputClock, Reference, align

DAY = 86_400.0
MIDNIGHT = 1_796_428_800.0  # 2026-12-05 00:00 UTC


def clock(kind: str, first: float, last: float, zone: float | None = None) -> InputClock:
    times = np.linspace(first, last, 10)
    return InputClock("input.txt", "top", kind, times, np.arange(10) + 1.0, zone)


def test_time_of_day_on_a_time_of_day_trace_is_the_same_clock() -> None:
    reference = Reference("trace.log", "strace", "time_of_day", 36_000.0, 36_020.0, "clock")
    result = align(clock("time_of_day", 35_990.0, 36_030.0), reference)
    assert result.aligned and result.offset_s == 0.0 and result.method == "same local clock"


def test_time_of_day_crossing_days_takes_the_nearest_day() -> None:
    # a trace that started before midnight (its clock passes 86400) and top after it
    reference = Reference("trace.log", "strace", "time_of_day", 86_390.0, 86_430.0, "clock")
    result = align(clock("time_of_day", 5.0, 25.0), reference)
    assert result.offset_s == DAY


def test_epoch_input_on_a_time_of_day_trace_infers_the_zone() -> None:
    # the machine is at UTC+02:00: the trace's 10:00 local is 08:00 UTC
    reference = Reference("trace.log", "strace", "time_of_day", 36_000.0, 36_020.0, "clock")
    epoch = MIDNIGHT + 8 * 3600
    result = align(clock("epoch", epoch + 2, epoch + 12), reference)
    assert result.aligned and result.zone_offset_s == 7200.0
    assert result.offset_s == pytest.approx(7200.0 - MIDNIGHT)
    assert result.method == "zone inferred" and not result.ambiguous


def test_a_zone_hint_makes_it_exact() -> None:
    reference = Reference("trace.log", "strace", "epoch", MIDNIGHT + 100, MIDNIGHT + 200, "epoch")
    local = MIDNIGHT + 100 + 19_800  # UTC+05:30, read as UTC
    result = align(clock("local", local, local + 50), reference, (19_800.0, "pyspy.txt", 2))
    assert result.offset_s == -19_800.0 and result.method == "zone from pyspy.txt:2"


def test_long_spans_are_ambiguous_and_assume_the_smallest_offset() -> None:
    reference = Reference("trace.log", "strace", "epoch", MIDNIGHT, MIDNIGHT + DAY, "epoch")
    result = align(clock("local", MIDNIGHT + 3600, MIDNIGHT + 7200), reference)
    assert result.aligned and result.ambiguous and result.zone_offset_s == 0.0
    assert result.method == "zone assumed"


def test_an_input_of_another_run_is_not_aligned() -> None:
    reference = Reference("trace.log", "strace", "epoch", MIDNIGHT, MIDNIGHT + 20, "epoch")
    result = align(clock("epoch", MIDNIGHT + 5 * DAY, MIDNIGHT + 5 * DAY + 20), reference)
    assert not result.aligned and "another run" in (result.reason or "")
    assert np.isnan(result.on_reference(np.array([1.0]))).all()


def test_an_input_without_times_says_why() -> None:
    reference = Reference("trace.log", "strace", "epoch", MIDNIGHT, MIDNIGHT + 20, "epoch")
    empty = InputClock("dump.txt", "pyspy", None, np.empty(0), np.empty(0), note="no date lines")
    result = align(empty, reference)
    assert not result.aligned and result.reason == "no date lines"
