"""The perf stages after parsing: folded stacks as a table, and the report's `perf` section.

`folded_table` turns one input's samples into the `perf_folded` table (one row per distinct
folded stack, in `stackcollapse-perf.pl`'s order) with the collapse options of the run; the
`folded` renderer prints it and the `perf` section ranks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
