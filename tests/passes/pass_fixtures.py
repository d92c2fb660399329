"""Build pass inputs from fixture files with the real pipeline stages (parse, derive), or
from hand-built syscalls rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from analyzer import pipeline
from analyzer.config import Config
from analyzer.derive.strace import StraceTables
from analyzer.passes import PassInputs
from analyzer.schema import EXITS, SIGNALS, SYSCALLS, TASKS

ROOT = Path(__file__).resolve().parents[2]
STRACE_LOGS = ROOT / "fixtures" / "strace" / "logs"
DIAGNOSIS_LOGS = ROOT / "fixtures" / "diagnosis" / "logs"


def inputs_of(*paths: Path, config: Config | None = None) -> PassInputs:
    """PassInputs for these files (strace traces, asyncio logs, perf dumps), made by the
    pipeline's own stages, as `analyze` makes them."""
    config = config or Config()
    inputs = pipeline.parse_inputs(paths, config)
    derived = pipeline.derive(inputs, config)
    return pipeline.pass_inputs(pipeline.run_tables(inputs, derived), derived)


def hand_built(rows: list[dict[str, Any]], last_s: float = 10.0) -> PassInputs:
    """PassInputs of one trace made of hand-built syscalls rows (not a capture): only the
    columns the pass under test reads need to be set; the trace spans 0 to `last_s`."""
    full = [{name: row.get(name) for name in SYSCALLS.names} for row in rows]
    trace = StraceTables(
        input="hand-built",
        syscalls=pa.Table.from_pylist(full, schema=SYSCALLS.schema),
        signals=SIGNALS.schema.empty_table(),
        exits=EXITS.schema.empty_table(),
        tasks=TASKS.schema.empty_table(),
        first_s=0.0,
        last_s=last_s,
        clock="epoch",
        has_durations=True,
        follows_forks=True,
    )
    return PassInputs(traces=(trace,))
