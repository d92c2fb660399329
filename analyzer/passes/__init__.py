"""Diagnosis passes: ordered, each turns tables into findings and never prints.

Each pass module defines ``PASS``, a `Pass` with a stable rule code (``IODnnn``), the kind
of finding it emits and its function; `PASSES` is the ordered registry, as sqlglot orders
its optimizer rules. A later pass sees the findings of the earlier ones (`PassInputs.earlier`),
so the correlation of slow callbacks with strace episodes runs after both exist. A pass
names the passes it reads (`Pass.after`): given a pool, `run_passes` runs the others side by
side with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Executor, Future

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
    pool: Executor | None = None,
) -> list[Finding]:
    """Findings of every registered pass, in registry order; `after_each` is called after
    each pass (the pipeline gives back the pages of mapped tables there).

    With a `pool`, the passes run as its tasks, side by side (`_side_by_side`); the
    findings are the same, in the same order."""
    config = config or PassConfig()
    if pool is None:
        findings: list[Finding] = []
        for analysis_pass in PASSES:
            seen = dataclasses.replace(inputs, earlier=tuple(findings))
            findings.extend(analysis_pass.run(seen, config))
            if after_each is not None:
                after_each()
    else:
        findings = _side_by_side(inputs, config, pool, after_each)
    for trace in inputs.traces:
        trace.memo.clear()  # what the passes shared is not kept for the report
    return findings


def _side_by_side(
    inputs: PassInputs,
    config: PassConfig,
    pool: Executor,
    after_each: Callable[[], None] | None,
) -> list[Finding]:
    """Each pass a task of `pool`, submitted in registry order. A pass waits for the passes
    it reads (`Pass.after`) and sees their findings alone, in registry order: those are
    earlier in the registry, so submitted, and started by a first-in first-out pool, before
    it; none waits for a task that cannot start."""
    submitted: dict[str, Future[list[Finding]]] = {}
    for analysis_pass in PASSES:
        needs = [submitted[kind] for kind in submitted if kind in analysis_pass.after]
        submitted[analysis_pass.kind] = pool.submit(
            _after, analysis_pass, needs, inputs, config, after_each
        )
    return [finding for done in submitted.values() for finding in done.result()]


def _after(
    analysis_pass: Pass,
    needs: list[Future[list[Finding]]],
    inputs: PassInputs,
    config: PassConfig,
    after_each: Callable[[], None] | None,
) -> list[Finding]:
    earlier = tuple(finding for need in needs for finding in need.result())
    found = analysis_pass.run(dataclasses.replace(inputs, earlier=earlier), config)
    if after_each is not None:
        after_each()
    return found


__all__ = ["PASSES", "Finding", "Pass", "PassConfig", "PassInputs", "run_passes"]
