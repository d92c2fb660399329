"""The analysis pipeline: inputs -> lines -> format tables -> derived tables -> report.

Each stage is a plain function of the previous stage's output, so each can be used and
tested alone; `analyze` runs them in order for a list of inputs. Nothing here prints. The perf
and asyncio report sections are imported only for runs that have such inputs.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import __version__, verdict
from analyzer.derive import strace_calls, strace_fds, strace_ff, strace_tasks
from analyzer.derive.perf_fold import CollapseOptions
from analyzer.errors import InputError
from analyzer.formats import FORMATS, detect_format
from analyzer.formats.strace import ParsedLines
from analyzer.inputs import Source, iter_line_chunks, open_source
from analyzer.model import AnalysisResult, StraceTables
from analyzer.passes import Finding, PassConfig, PassInputs, run_passes
from analyzer.schema import (
    EXITS,
    LOOP_EVENTS,
    SIGNALS,
    SYSCALLS,
    TASKS,
    TASKS_SNAPSHOT,
    UNPARSED,
    TableSpec,
)
from analyzer.sections import strace as summary

REPORT_SCHEMA = "iodiag.report/1"
UNPARSED_SAMPLES = 20


@dataclass(frozen=True)
class Config:
    """Options of one analysis run."""

    engine: str = "fast"
    """``fast`` (scanner, grammar for the rest) or ``lark`` (grammar for every line)."""
    threads: int = 2
    """Parser threads; with 2 or more the report's sections are also built while the passes
    run."""
    format: str | None = None
    """Force an input format instead of detecting it."""
    collapse: CollapseOptions = field(default_factory=CollapseOptions)
    """How perf stacks are folded (stackcollapse-perf.pl's options)."""
    passes: PassConfig = field(default_factory=PassConfig)
    """Thresholds of the diagnosis passes."""


_FF_SUFFIX = re.compile(r"\.(\d+)$")


def default_tid(input_name: str, lines: pa.Table, syscalls_created: set[int]) -> int:
    """The task that printed lines without a pid prefix.

    `-ff` files are named `PREFIX.PID`; otherwise it is the first pid seen in a prefix that was
    not created inside the trace (stderr captures print no pid until a second task exists).
    """
    if match := _FF_SUFFIX.search(input_name):
        return int(match.group(1))
    pids = pc.unique(pc.drop_null(lines["pid"])).to_pylist()
    for pid in pids:
        if pid not in syscalls_created:
            return int(pid)
    return 0


def _created_children(lines: pa.Table) -> set[int]:
    creators = pc.is_in(lines["syscall"], value_set=pa.array(sorted(strace_calls.TASK_CREATORS)))
    returned = lines["retval"].filter(
        pc.and_(creators, pc.greater(pc.fill_null(lines["retval"], 0), 0))
    )
    return set(returned.to_pylist())


def derive_strace(input_name: str, parsed: ParsedLines) -> StraceTables:
    """Pair halves, resolve fds, and build the syscalls/signals/exits/tasks tables."""
    lines = parsed.lines
    tid0 = default_tid(input_name, lines, _created_children(lines))
    view = strace_calls.LineView.build(lines, tid0, parsed.clock_ns)
    tids = strace_calls.effective_tids(view)
    calls_index = strace_calls.pair_halves(view, tids)
    exit_rows = np.flatnonzero(view.kind == strace_calls.EXIT)
    # The fd tables are replayed from the few calls that change them (a Python loop) while
    # the columns of all calls are gathered (Arrow and numpy, which release the GIL).
    changers = calls_index.select(
        np.isin(
            view.syscall_code[calls_index.first_rows()],
            np.flatnonzero(strace_fds.changes_fds(view.syscall_names)),
        )
    )
    # The first-argument fds are decoded (Arrow and numpy again) as soon as the argument texts
    # exist, beside the other columns.
    with ThreadPoolExecutor(max_workers=2) as pool:
        events = pool.submit(
            lambda: strace_fds.replay_calls(strace_calls.build_calls(view, changers, exit_rows))
        )
        texts = strace_calls.call_texts(view, calls_index)
        decorated = pool.submit(strace_fds.decorated_fds, texts["syscall"], texts["args"])
        calls = strace_calls.build_calls(view, calls_index, exit_rows, texts)
        columns = strace_fds.resolve(calls, events.result(), decorated.result())
    count = len(calls_index.entry)
    columns["input"] = pa.repeat(pa.scalar(input_name, pa.string()), count)
    columns["pid"] = pa.nulls(count, pa.int64())
    syscalls = pa.table({name: columns[name] for name in SYSCALLS.names}, schema=SYSCALLS.schema)

    exits = strace_tasks.exits_table(view, input_name)
    signals = strace_tasks.signals_table(view, tids, input_name)
    tasks = strace_tasks.tasks_table(view, tids, syscalls, exits, input_name)
    pid_column = pc.take(tasks["pid"], pc.index_in(syscalls["tid"], value_set=tasks["tid"]))
    syscalls = syscalls.set_column(
        SYSCALLS.names.index("pid"), SYSCALLS.schema.field("pid"), pid_column
    )

    clock_values = view.clock_ns[~np.isnan(view.clock_ns)]
    clock_kinds = [kind for kind in pc.unique(lines["ts_kind"]).to_pylist() if kind is not None]
    return StraceTables(
        input=input_name,
        syscalls=syscalls,
        signals=signals,
        exits=exits,
        tasks=tasks,
        first_s=float(clock_values.min()) / 1e9 if len(clock_values) else None,
        last_s=float(clock_values.max()) / 1e9 if len(clock_values) else None,
        clock=clock_kinds[0] if len(clock_kinds) == 1 else ("mixed" if clock_kinds else None),
        has_durations=bool(pc.any(pc.is_valid(lines["duration_ns"])).as_py() or False),
        follows_forks=bool(pc.any(pc.is_valid(lines["pid"])).as_py() or False)
        or tasks.num_rows > 1,
    )


def parse_source(
    source: Source, config: Config, on_progress: Callable[[int], None] | None = None
) -> tuple[str, Any]:
    """Detect the format of an opened input and parse its lines."""
    fmt = config.format or detect_format(source.head)
    if fmt is None:
        raise InputError(
            f"{source.name}: not a recognised input (expected strace output, perf script "
            "output, or an application log with asyncio debug messages)"
        )
    module = FORMATS[fmt]
    chunks = iter_line_chunks(source.stream, on_progress=on_progress)
    return fmt, module.parse(chunks, source.name, engine=config.engine, threads=config.threads)


def derive_group(members: Sequence[tuple[str, ParsedLines]]) -> StraceTables:
    """Derive one trace: a single input, or the files of an -ff set merged in time order."""
    if len(members) == 1:
        name, parsed = members[0]
        return derive_strace(name, parsed)
    merged = strace_ff.merge(members)
    derived = derive_strace(strace_ff.set_name([name for name, _ in members]), merged.parsed)
    restored = strace_ff.restore_sources(
        {
            "syscalls": derived.syscalls,
            "signals": derived.signals,
            "exits": derived.exits,
            "tasks": derived.tasks,
        },
        merged,
    )
    return dataclasses.replace(
        derived,
        syscalls=restored["syscalls"],
        signals=restored["signals"],
        exits=restored["exits"],
        tasks=restored["tasks"],
    )


@dataclass(frozen=True)
class ParsedInput:
    """One input after parsing: its name, compression, format and what its parser returned
    (`ParsedLines` for strace, `ParsedLog` for asyncio logs)."""

    name: str
    compression: str | None
    format: str
    parsed: Any
    truncated: str | None = None
    """Why the (compressed) input ended early, when it did: it was read up to that point."""


def _unparsed_samples(unparsed: pa.Table) -> list[dict[str, Any]]:
    rows = unparsed.slice(0, UNPARSED_SAMPLES).to_pylist()
    return [{"line": row["line_no"], "text": row["text"], "reason": row["reason"]} for row in rows]


def input_report(source: ParsedInput) -> dict[str, Any]:
    """The `inputs[]` entry of one input: the common counts, then its format's own keys."""
    parsed = source.parsed
    return {
        "path": source.name,
        "format": source.format,
        "compression": source.compression,
        "lines": parsed.line_count,
        "unparsed_lines": parsed.unparsed.num_rows,
        "non_utf8_lines": parsed.non_utf8_lines,
        "truncated": source.truncated,
        "unparsed_samples": _unparsed_samples(parsed.unparsed),
        **FORMATS[source.format].input_report(parsed),
    }


def perf_tables(
    profiles: Sequence[ParsedInput], options: CollapseOptions
) -> tuple[dict[str, pa.Table], dict[str, dict[str, int]]]:
    """The perf tables of all perf inputs and the counts of their tracepoint pairing.

    Stack and frame ids are offset so they stay unique across inputs; every input's stacks
    are folded with the run's options; block I/O, off-CPU and syscall-latency tables are
    derived from the (offset) samples.
    """
    from analyzer.derive import perf_tracepoints
    from analyzer.sections.perf import folded_table

    samples, stacks, frames, folded = [], [], [], []
    block, switches, syscalls = [], [], []
    counts: dict[str, dict[str, int]] = {"block_io": {}, "off_cpu": {}, "syscall_latency": {}}
    stack_base = frame_base = 0
    for source in profiles:
        parsed = source.parsed
        folded.append(folded_table(source.name, parsed, options))
        shifted_samples = _shift(parsed.samples, "stack_id", stack_base)
        samples.append(shifted_samples)
        for name, derive, parts in (
            ("block_io", perf_tracepoints.block_io, block),
            ("off_cpu", perf_tracepoints.off_cpu, switches),
            ("syscall_latency", perf_tracepoints.syscall_latency, syscalls),
        ):
            table, table_counts = derive(shifted_samples)
            parts.append(table)
            for key, value in table_counts.items():
                counts[name][key] = counts[name].get(key, 0) + value
        frame_ids = parsed.stacks["frame_ids"].combine_chunks()
        shifted = pa.ListArray.from_arrays(
            frame_ids.offsets, pc.add(frame_ids.flatten(), frame_base)
        ).cast(frame_ids.type)
        stack_table = _shift(parsed.stacks, "stack_id", stack_base)
        stack_table = stack_table.set_column(
            stack_table.schema.get_field_index("frame_ids"),
            stack_table.schema.field("frame_ids"),
            shifted,
        )
        stacks.append(stack_table)
        frames.append(_shift(parsed.frames, "frame_id", frame_base))
        stack_base += parsed.stacks.num_rows
        frame_base += parsed.frames.num_rows
    return {
        "perf_samples": pa.concat_tables(samples),
        "perf_stacks": pa.concat_tables(stacks),
        "perf_frames": pa.concat_tables(frames),
        "perf_folded": pa.concat_tables(folded),
        "perf_block_io": pa.concat_tables(block),
        "perf_off_cpu": pa.concat_tables(switches),
        "perf_syscall_latency": pa.concat_tables(syscalls),
    }, counts


def _shift(table: pa.Table, column: str, offset: int) -> pa.Table:
    if offset == 0:
        return table
    index = table.schema.get_field_index(column)
    shifted = pc.add(table[column], offset).cast(table.schema.field(column).type)
    return table.set_column(index, table.schema.field(column), shifted)


@dataclass(frozen=True)
class Tables:
    """The Arrow tables of one run, and the pairing counts of the perf perf_tracepoints."""

    tables: dict[str, pa.Table]
    tracepoint_counts: dict[str, dict[str, int]] = field(default_factory=dict)


def build_tables(
    inputs: Sequence[ParsedInput],
    results: Sequence[StraceTables],
    collapse_options: CollapseOptions | None = None,
) -> Tables:
    """Every table of the run: strace tables of all traces, loop events, perf tables."""

    def concat(spec: TableSpec, parts: list[pa.Table]) -> pa.Table:
        return pa.concat_tables(parts) if parts else spec.schema.empty_table()

    tables = {
        "syscalls": concat(SYSCALLS, [r.syscalls for r in results]),
        "signals": concat(SIGNALS, [r.signals for r in results]),
        "exits": concat(EXITS, [r.exits for r in results]),
        "tasks": concat(TASKS, [r.tasks for r in results]),
        "unparsed": concat(UNPARSED, [source.parsed.unparsed for source in inputs]),
    }
    logs = [source.parsed for source in inputs if source.format == "asyncio"]
    if logs:
        tables["loop_events"] = concat(LOOP_EVENTS, [log.loop_events for log in logs])
        tables["tasks_snapshot"] = concat(TASKS_SNAPSHOT, [log.tasks_snapshot for log in logs])
    profiles = [source for source in inputs if source.format == "perf"]
    tracepoint_counts: dict[str, dict[str, int]] = {}
    if profiles:
        perf, tracepoint_counts = perf_tables(profiles, collapse_options or CollapseOptions())
        tables.update(perf)
    return Tables(tables, tracepoint_counts)


def pass_inputs(results: Sequence[StraceTables], tables: Tables) -> PassInputs:
    """What the diagnosis passes read: the traces, the loop events and the perf tables."""
    return PassInputs(
        traces=tuple(results),
        loop_events=tables.tables.get("loop_events"),
        perf={name: t for name, t in tables.tables.items() if name.startswith("perf_")},
    )


def build_report(
    inputs: Sequence[ParsedInput],
    results: Sequence[StraceTables],
    built: Tables,
    findings: Sequence[Finding],
) -> dict[str, Any]:
    """The `iodiag.report/1` document for one or more inputs."""
    return with_findings(report_sections(inputs, results, built), results, findings)


def report_sections(
    inputs: Sequence[ParsedInput], results: Sequence[StraceTables], built: Tables
) -> dict[str, Any]:
    """Every key of the report up to the verdict: what the tables say without the passes'
    findings, so it can be built while the passes run."""
    tables = built.tables
    tracepoint_counts = built.tracepoint_counts
    logs = "loop_events" in tables
    profiles = [source for source in inputs if source.format == "perf"]
    if logs:
        from analyzer.sections.asyncio import asyncio_section
    if profiles:
        from analyzer.sections.perf import perf_section, tracepoint_sections
    calls = tables["syscalls"]
    returned = summary.returned_calls(calls)
    ours = summary.syscall_summary(returned)
    trace_end = max((r.last_s for r in results if r.last_s is not None), default=None)
    strace_rows: list[dict[str, Any]] = []
    for source in inputs:
        if source.format != "strace":
            continue
        lines = source.parsed.lines
        summary_lines = lines["text"].filter(pc.equal(lines["kind"], "summary")).to_pylist()
        strace_rows += summary.parse_strace_table(summary_lines)
    tasks = tables["tasks"]
    peak = max((strace_tasks.peak_live_tasks(r.tasks, r.first_s) for r in results), default=0)
    killed = tables["exits"].filter(pc.equal(tables["exits"]["how"], "killed"))
    report = {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "iodiag", "version": __version__},
        "inputs": [input_report(source) for source in inputs],
        "syscalls": ours,
        "syscalls_by_thread": summary.per_thread_summary(returned, tasks),
        "errors": summary.error_summary(returned),
        "targets": summary.target_summary(calls),
        "in_flight": summary.in_flight(calls, trace_end),
        "no_return": summary.no_return_summary(calls),
        "tasks": {
            "processes": len(set(tasks["pid"].to_pylist())),
            "threads": tasks.num_rows,
            "peak_threads": peak,
            "exited": tables["exits"].num_rows,
            "killed": [
                {"tid": t, "signal": s}
                for t, s in zip(
                    killed["tid"].to_pylist(), killed["signal"].to_pylist(), strict=True
                )
            ],
        },
        "strace_summary": summary.compare_with_strace(strace_rows, ours) if strace_rows else None,
        "asyncio": asyncio_section(tables["loop_events"]) if logs else None,
        "perf": (
            {
                **perf_section(
                    tables["perf_samples"],
                    tables["perf_folded"],
                    stacks=tables["perf_stacks"],
                    frames=tables["perf_frames"],
                ),
                **tracepoint_sections(
                    tables["perf_block_io"],
                    tables["perf_off_cpu"],
                    tables["perf_syscall_latency"],
                    tracepoint_counts,
                ),
            }
            if profiles
            else None
        ),
    }
    return report


def with_findings(
    sections: dict[str, Any], results: Sequence[StraceTables], findings: Sequence[Finding]
) -> dict[str, Any]:
    """The report: `report_sections` followed by the verdict and the findings."""
    return {
        **sections,
        "verdict": verdict.verdict(findings, results),
        "findings": [finding.to_json() for finding in findings],
    }


def _parse_inputs(
    paths: Sequence[str | Path], config: Config, on_progress: Callable[[int], None] | None
) -> list[ParsedInput]:
    inputs = []
    for path in paths:
        source = open_source(path)
        try:
            fmt, parsed = parse_source(source, config, on_progress)
        finally:
            source.close()
        inputs.append(ParsedInput(source.name, source.compression, fmt, parsed, source.truncated))
    return inputs


def _derive_traces(inputs: Sequence[ParsedInput]) -> list[StraceTables]:
    traces = [source for source in inputs if source.format == "strace"]
    groups = strace_ff.ff_groups([source.name for source in traces])
    return [derive_group([(traces[i].name, traces[i].parsed) for i in group]) for group in groups]


def analyze(
    paths: str | Path | Sequence[str | Path],
    config: Config | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> AnalysisResult:
    """Run every stage on the given inputs (one path, a list of paths, ``-``) and return the
    result."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    config = config or Config()
    inputs = _parse_inputs(paths, config, on_progress)
    results = _derive_traces(inputs)
    # From here on the derived tables stand for the lines; the report reads a few columns of
    # them, so the others (most of an input's memory) are freed before the passes run.
    inputs = [
        dataclasses.replace(source, parsed=source.parsed.for_report())
        if source.format == "strace"
        else source
        for source in inputs
    ]
    # Give what the lines and the derivation held back to the system, so that the passes and
    # the report, which allocate while both run, do not add their peak on top of it.
    pa.default_memory_pool().release_unused()
    built = build_tables(inputs, results, config.collapse)
    if config.threads < 2:
        findings = run_passes(pass_inputs(results, built), config.passes)
        return AnalysisResult(build_report(inputs, results, built, findings), built.tables)
    # The report's sections do not depend on the findings, and both sides spend most of their
    # time in Arrow, numpy and pandas code that releases the GIL: build them side by side.
    # The sections' own modules are imported here first, not by two threads at once.
    formats = {source.format for source in inputs}
    for fmt, module in (
        ("asyncio", "analyzer.sections.asyncio"),
        ("perf", "analyzer.sections.perf"),
    ):
        if fmt in formats:
            importlib.import_module(module)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sections = pool.submit(report_sections, inputs, results, built)
        findings = run_passes(pass_inputs(results, built), config.passes)
        report = with_findings(sections.result(), results, findings)
    return AnalysisResult(report=report, tables=built.tables)
