"""The options of a run: how inputs are read, how perf stacks are folded, the passes' thresholds.

Plain frozen dataclasses with no dependencies, so that every stage (and the light fold path of
the CLI) can import them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CollapseOptions:
    """The ``stackcollapse-perf.pl`` options, under the same names."""

    pid: bool = False
    """``--pid``: root frame ``comm-PID``."""
    tid: bool = False
    """``--tid``: root frame ``comm-PID/TID`` (wins over ``pid``)."""
    kernel: bool = False
    """``--kernel``: ``_[k]`` after kernel frames."""
    jit: bool = False
    """``--jit``: ``_[j]`` after JIT frames."""
    all: bool = False
    """``--all``: both ``kernel`` and ``jit``."""
    addrs: bool = False
    """``--addrs``: ``[dso <addr>]`` for frames without a symbol."""
    event_filter: str | None = None
    """``--event-filter=EVENT``: fold only this event (default: the first event seen)."""


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
class Config:
    """Options of one analysis run."""

    engine: str = "fast"
    """``fast`` (scanner, grammar for the rest) or ``lark`` (grammar for every line)."""
    threads: int = 2
    """Parser threads; with 2 or more the report's sections are also built while the passes
    run."""
    format: str | None = None
    """Force an input format (a source name) instead of detecting it."""
    collapse: CollapseOptions = field(default_factory=CollapseOptions)
    """How perf stacks are folded (stackcollapse-perf.pl's options)."""
    passes: PassConfig = field(default_factory=PassConfig)
    """Thresholds of the diagnosis passes."""
    work_dir: str | None = None
    """Where a long trace's derived tables are spilled (Parquet); None: a temporary folder."""
    keep_work_dir: bool = False
    """Keep the work directory's Parquet datasets after the run."""
