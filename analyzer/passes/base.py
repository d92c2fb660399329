"""What every diagnosis pass shares: its inputs, its options and the finding it returns.

A pass is a function from `PassInputs` and `PassConfig` to a list of `Finding`s. It never
prints and never reads files; `analyzer.passes.PASSES` runs them in order. A `Finding` turns
into the JSON object of `iodiag.report/1` `findings[]` with `Finding.to_json`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from analyzer.model import StraceTables

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


@dataclass(frozen=True)
class PassConfig:
    """Thresholds of the diagnosis passes (seconds unless named otherwise)."""

    slow_syscall_s: float = 0.1
    """A call at least this long is an outlier of `slow_syscall` (strace's -T value)."""
    slow_syscall_share: float = 0.05
    """A (syscall, target) pair whose blocked time is at least this share of the trace's
    wall time is reported even when no single call passes `slow_syscall_s`."""
    blocked_loop_s: float = 0.1
    """An event loop away from its wait this long is blocked (asyncio's
    ``slow_callback_duration``)."""
    loop_min_waits: int = 5
    """A thread is an event loop when it waits in epoll/poll/select at least this often."""
    pileup_min_threads: int = 3
    """Threads blocked together on one resource before it counts as a pile-up."""
    pileup_min_s: float = 0.05
    """A pile-up must hold at least `pileup_min_threads` for this long."""
    lock_min_waiters: int = 2
    """Waiters on one futex at once before it counts as contention."""
    lock_min_wait_s: float = 0.05
    """Total futex wait on one address before it counts as contention."""
    block_io_slow_s: float = 0.01
    """A block request slower than this is slow (p95 above it makes a finding)."""
    d_state_min_s: float = 0.05
    """Off-CPU time in D state on one thread before it is reported."""
    sleep_retry_min_s: float = 0.5
    """Total sleep on one resource from which a sleep-and-retry loop is reported."""
    clock_offset_s: float | None = None
    """Seconds to add to asyncio log times to put them on the strace clock; None = infer."""
    max_samples: int = 10
    """How many example rows (episodes, lines, threads) evidence lists at most."""


@dataclass(frozen=True)
class PassInputs:
    """The tables every pass may read: derived strace traces, asyncio records, perf tables."""

    traces: Sequence[StraceTables] = ()
    loop_events: pa.Table | None = None
    perf: Mapping[str, pa.Table] = field(default_factory=dict)
    earlier: Sequence[Finding] = ()
    """Findings of the passes that ran before (a later pass may build on them)."""


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what, where, how bad, the evidence and the fix.

    `cost_s` is the time the problem cost (blocked or waiting time) and ranks the verdict;
    `evidence` holds plain JSON values with the keys documented per kind in
    docs/report-json.md.
    """

    code: str
    kind: str
    severity: Severity
    title: str
    message: str
    evidence: Mapping[str, Any]
    fix: str = ""
    input: str | None = None
    pid: int | None = None
    tid: int | None = None
    start: float | None = None
    duration_s: float | None = None
    cost_s: float = 0.0
    lines: tuple[int, ...] = ()
    """Source lines (1-based, in `input`) that show the problem, first few only."""

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "input": self.input,
            "pid": self.pid,
            "tid": self.tid,
            "start": _json_number(self.start),
            "duration_s": _json_number(self.duration_s),
            "cost_s": _json_number(self.cost_s),
            "fix": self.fix,
            "lines": list(self.lines),
            "evidence": json_clean(self.evidence),
        }


PassFunction = Callable[[PassInputs, PassConfig], list[Finding]]


@dataclass(frozen=True)
class Pass:
    """A registered pass: its rule code, the finding kind it emits and the function."""

    code: str
    kind: str
    run: PassFunction
    doc: str = ""


def _json_number(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), 6)


def json_clean(value: Any) -> Any:
    """Evidence with numpy scalars made plain, floats rounded to the microsecond, NaN -> None."""
    if isinstance(value, Mapping):
        return {str(key): json_clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return _json_number(value)
    return value
