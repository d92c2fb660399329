"""The perf stages after parsing: folded stacks as a table, and the report's `perf` section.

`folded_table` turns one input's samples into the `perf_folded` table (one row per distinct
folded stack, in `stackcollapse-perf.pl`'s order) with the collapse options of the run; the
`folded` renderer prints it and the `perf` section ranks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.formats.perf_script import ParsedPerf
from analyzer.perf.collapse import CollapseOptions, collapse
from analyzer.schema import PERF_FOLDED

TOP_STACKS = 20


def folded_table(input_name: str, parsed: ParsedPerf, options: CollapseOptions) -> pa.Table:
    """The folded stacks of one input, as `collapse` orders them."""
    stacks, counts = [], []
    for line in collapse(parsed, options).splitlines():
        stack, _, count = line.rpartition(" ")
        stacks.append(stack)
        counts.append(int(count))
    return pa.table(
        {"input": [input_name] * len(stacks), "stack": stacks, "count": counts},
        schema=PERF_FOLDED.schema,
    )


def _latency_stats(nanoseconds: pa.Array | pa.ChunkedArray) -> dict[str, Any]:
    values = pc.drop_null(nanoseconds).to_numpy(zero_copy_only=False) / 1e9
    if len(values) == 0:
        return {"count": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": len(values),
        "total_s": float(values.sum()),
        "p50_s": float(p50),
        "p95_s": float(p95),
        "p99_s": float(p99),
        "max_s": float(values.max()),
    }


def _grouped(table: pa.Table, key: str, value: str) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for name in pc.unique(pc.drop_null(table[key])).to_pylist():
        groups[str(name)] = _latency_stats(table.filter(pc.equal(table[key], name))[value])
    return dict(sorted(groups.items()))


def tracepoint_sections(
    block_io: pa.Table, off_cpu: pa.Table, syscalls: pa.Table, counts: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """Block I/O latency per device, off-CPU time per state, syscall latency per call."""
    sections: dict[str, Any] = {}
    if counts["block_io"].get("issues") or block_io.num_rows:
        sections["block_io"] = {
            "counts": counts["block_io"],
            "latency_by_device": _grouped(block_io, "dev", "latency_ns"),
        }
    if off_cpu.num_rows or counts["off_cpu"].get("switches"):
        sections["off_cpu"] = {
            "counts": counts["off_cpu"],
            "by_state": _grouped(off_cpu, "state", "duration_ns"),
        }
    if syscalls.num_rows or counts["syscall_latency"].get("enters"):
        sections["syscall_latency"] = {
            "counts": counts["syscall_latency"],
            "by_syscall": _grouped(syscalls, "syscall", "duration_ns"),
        }
    return sections


def perf_section(samples: Sequence[pa.Table], folded: pa.Table) -> dict[str, Any]:
    """Sample counts per event and the heaviest folded stacks."""
    events: dict[str, int] = {}
    for table in samples:
        for item in table["event"].value_counts().to_pylist():
            if item["values"] is not None:
                events[item["values"]] = events.get(item["values"], 0) + item["counts"]
    total = int(pc.sum(folded["count"]).as_py() or 0)
    top = folded.take(pc.sort_indices(folded, [("count", "descending"), ("stack", "ascending")]))
    return {
        "samples": sum(table.num_rows for table in samples),
        "events": dict(sorted(events.items())),
        "folded_total": total,
        "top_stacks": [
            {"stack": row["stack"], "count": row["count"], "share": row["count"] / total}
            for row in top.slice(0, TOP_STACKS).to_pylist()
        ],
    }
