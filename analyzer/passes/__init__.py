"""Diagnosis passes: ordered, each turns tables into findings and never prints.

Each pass module defines ``PASS``, a `Pass` with a stable rule code (``IODnnn``), the kind
of finding it emits and its function; `PASSES` is the ordered registry, as sqlglot orders
its optimizer rules. A later pass sees the findings of the earlier ones (`PassInputs.earlier`),
so the correlation of slow callbacks with strace episodes runs after both exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from analyzer.passes import (
    asyncio_misuse,
    block_io,
    blocked_loop,
    cpu_hotspot,
    d_state,
    data_limits,
    gil_contention,
    hot_thread,
    lock_contention,
    lock_holder,
    pipe_backpressure,
    sleep_retry,
    slow_callback,
    slow_device,
    slow_dns,
    slow_storage,
    slow_syscall,
    syn_drops,
    thread_exhaustion,
    thread_growth,
    thread_pileup,
    timeline,
)
from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs

PASSES: tuple[Pass, ...] = (
    slow_syscall.PASS,
    blocked_loop.PASS,
    slow_callback.PASS,
    thread_pileup.PASS,
    slow_dns.PASS,
    syn_drops.PASS,
    lock_contention.PASS,
    sleep_retry.PASS,
    lock_holder.PASS,
    gil_contention.PASS,
    slow_storage.PASS,
    pipe_backpressure.PASS,
    thread_exhaustion.PASS,
    block_io.PASS,
    d_state.PASS,
    cpu_hotspot.PASS,
    asyncio_misuse.PASS,
    timeline.PASS,
    thread_growth.PASS,
    hot_thread.PASS,
    slow_device.PASS,
    data_limits.PASS,
)


def run_passes(
    inputs: PassInputs,
    config: PassConfig | None = None,
    after_each: Callable[[], None] | None = None,
) -> list[Finding]:
    """Findings of every registered pass, in registry order; `after_each` is called after
    each pass (the pipeline gives back the pages of mapped tables there)."""
    config = config or PassConfig()
    findings: list[Finding] = []
    for analysis_pass in PASSES:
        seen = dataclasses.replace(inputs, earlier=tuple(findings))
        findings.extend(analysis_pass.run(seen, config))
        if after_each is not None:
            after_each()
    for trace in inputs.traces:
        trace.memo.clear()  # what the passes shared is not kept for the report
    return findings


__all__ = ["PASSES", "Finding", "Pass", "PassConfig", "PassInputs", "run_passes"]
