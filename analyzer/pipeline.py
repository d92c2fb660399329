"""The analysis pipeline: inputs -> lines -> source tables -> derived tables -> report.

Each stage is a plain function of the previous stage's output, so each can be used and
tested alone; `analyze` runs them in order for a list of inputs. Every source-specific step
is asked of the sources in `analyzer.sources.SOURCES`: this module never names one. Nothing
here prints.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from analyzer import __version__, store, verdict
from analyzer.config import Config
from analyzer.errors import InputError
from analyzer.inputs import (
    CutLine,
    OpenedInput,
    iter_line_chunks,
    open_input,
    unrecognised_reason,
)
from analyzer.lazy import ImportsBeside
from analyzer.model import AnalysisResult, Derived, ParsedInput
from analyzer.schema import UNPARSED, unparsed_table
from analyzer.sources import SOURCES, detect

if TYPE_CHECKING:
    from analyzer.passes import Finding, PassInputs

REPORT_SCHEMA = "iodiag.report/1"
UNPARSED_SAMPLES = 20
AFTER_PARSE = ("pandas", "analyzer.passes")
"""Modules every run needs after its parse (with each source's `report_modules`), imported
beside the parse (`analyze`). pandas is first: pyarrow imports it when it first makes an
array, so the parse waits for it."""


def parse_input(
    opened: OpenedInput,
    config: Config,
    on_progress: Callable[[int], None] | None = None,
    on_source: Callable[[str], None] | None = None,
) -> ParsedInput[Any]:
    """Detect the source of an opened input (unless `config.format` names it) and parse it;
    `on_source` is told the source's name before the parse."""
    name = config.format or detect(opened.head)
    if name is None:
        reason = unrecognised_reason(opened.head)
        if reason is not None:
            raise InputError(f"{opened.name}: {reason}")
        *others, last = [source.label for source in SOURCES.values()]
        expected = f"{', '.join(others)}, or {last}" if others else last
        raise InputError(f"{opened.name}: not a recognised input (expected {expected})")
    if on_source is not None:
        on_source(name)
    cut: list[CutLine] = []
    chunks = iter_line_chunks(opened.stream, on_progress=on_progress, cut=cut)
    parsed = SOURCES[name].parse(chunks, opened.name, engine=config.engine, threads=config.threads)
    if cut:
        parsed = _with_cut_lines(parsed, opened.name, cut)
    lines = parsed.line_count
    if config.format and lines and _nothing_read(name, parsed):
        # Forced to a source none of its lines belongs to: "no problem found" would be a lie.
        looks = detect(opened.head)
        hint = f"; it looks like {SOURCES[looks].label}" if looks and looks != name else ""
        raise InputError(
            f"{opened.name}: read as {SOURCES[name].label} (--input-format {name}), but none "
            f"of its {lines:,} lines has {name} data{hint}"
        )
    return ParsedInput(opened.name, opened.compression, name, parsed, opened.truncated)


def _nothing_read(name: str, parsed: Any) -> bool:
    """Whether a parse found nothing of its source: every line unparsed, or (a log, whose
    other lines are the application's own) not one asyncio record."""
    if parsed.unparsed.num_rows == parsed.line_count:
        return True
    records = SOURCES[name].input_report(parsed).get("asyncio_records")
    return records == 0


def _with_cut_lines(parsed: Any, input_name: str, cut: list[CutLine]) -> Any:
    """A format's parse result whose `unparsed` table gives each overlong line (read as
    `CUT_MARK`, which every format rejects or takes for foreign text) its own reason."""
    table = parsed.unparsed
    cut_numbers = pa.array([line.line_no for line in cut], pa.int64())
    kept = table.filter(pc.invert(pc.is_in(table["line_no"], value_set=cut_numbers)))
    rows = [(line.line_no, line.head + "…", line.reason) for line in cut]
    merged = pa.concat_tables([kept, unparsed_table(input_name, rows)])
    merged = merged.take(pc.sort_indices(merged["line_no"]))
    return replace(parsed, unparsed=merged)


def parse_inputs(
    paths: Sequence[str | Path],
    config: Config,
    on_progress: Callable[[int], None] | None = None,
    unreadable: list[tuple[str, str]] | None = None,
    on_source: Callable[[str], None] | None = None,
) -> list[ParsedInput[Any]]:
    """Open and parse every input, in the order given (`on_source`: `parse_input`).

    With `unreadable` given, an input that cannot be read (missing, not a recognised
    format) is listed there as (path, reason) and the others are still parsed; `InputError`
    is raised only when no input could be read. Without it, the first such input raises.
    """
    parsed = []
    for path in paths:
        try:
            opened = open_input(path)
            try:
                parsed.append(parse_input(opened, config, on_progress, on_source))
            finally:
                opened.close()
        except InputError as error:
            if unreadable is None:
                raise
            reason = str(error).removeprefix(f"{path}: ")
            unreadable.append((str(path), reason))
    if not parsed and unreadable:
        raise InputError("; ".join(f"{path}: {reason}" for path, reason in unreadable))
    return parsed


def by_source(inputs: Sequence[ParsedInput[Any]]) -> dict[str, list[ParsedInput[Any]]]:
    """The inputs of each registered source, in input order (an empty list for a source the
    run has no input of)."""
    return {name: [item for item in inputs if item.format == name] for name in SOURCES}


def derive(inputs: Sequence[ParsedInput[Any]], config: Config) -> dict[str, Derived]:
    """Every source's derivation over its inputs of the run."""
    return {
        name: SOURCES[name].derive(members, config) for name, members in by_source(inputs).items()
    }


def run_tables(
    inputs: Sequence[ParsedInput[Any]], derived: Mapping[str, Derived]
) -> dict[str, pa.Table]:
    """Every table of the run: each source's derived tables, then the unparsed lines of all
    inputs."""
    tables: dict[str, pa.Table] = {}
    for result in derived.values():
        tables.update(result.tables)
    parts = [item.parsed.unparsed for item in inputs]
    tables["unparsed"] = pa.concat_tables(parts) if parts else UNPARSED.schema.empty_table()
    return tables


def pass_inputs(
    tables: Mapping[str, pa.Table],
    derived: Mapping[str, Derived],
    unreadable: Sequence[tuple[str, str]] = (),
) -> PassInputs:
    """What the diagnosis passes read: what each source gives them, the run's tables, and
    the inputs that could not be read."""
    from analyzer.passes import PassInputs

    given: dict[str, Any] = {}
    for name, result in derived.items():
        given.update(SOURCES[name].pass_inputs(result))
    return PassInputs(**given, tables=tables, unreadable=tuple(unreadable))


def _unparsed_samples(unparsed: pa.Table) -> list[dict[str, Any]]:
    rows = unparsed.slice(0, UNPARSED_SAMPLES).to_pylist()
    return [{"line": row["line_no"], "text": row["text"], "reason": row["reason"]} for row in rows]


def input_report(item: ParsedInput[Any]) -> dict[str, Any]:
    """The `inputs[]` entry of one input: the common counts, then its source's own keys."""
    parsed = item.parsed
    return {
        "path": item.name,
        "format": item.format,
        "compression": item.compression,
        "lines": parsed.line_count,
        "unparsed_lines": parsed.unparsed.num_rows,
        "non_utf8_lines": parsed.non_utf8_lines,
        "truncated": item.truncated,
        "unparsed_samples": _unparsed_samples(parsed.unparsed),
        **SOURCES[item.format].input_report(parsed),
    }


def unreadable_report(path: str, reason: str) -> dict[str, Any]:
    """The `inputs[]` entry of an input that could not be read: its path and why."""
    return {
        "path": path,
        "format": None,
        "compression": None,
        "lines": 0,
        "unparsed_lines": 0,
        "non_utf8_lines": 0,
        "truncated": None,
        "unparsed_samples": [],
        "error": reason,
    }


def report_sections(
    inputs: Sequence[ParsedInput[Any]],
    derived: Mapping[str, Derived],
    unreadable: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Every key of the report up to the verdict: what the tables say without the passes'
    findings, so it can be built while the passes run."""
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "iodiag", "version": __version__},
        "inputs": [input_report(item) for item in inputs]
        + [unreadable_report(path, reason) for path, reason in unreadable],
    }
    for name, members in by_source(inputs).items():
        report.update(SOURCES[name].section(members, derived[name]))
    return report


def with_findings(sections: dict[str, Any], findings: Sequence[Finding]) -> dict[str, Any]:
    """The report: `report_sections` followed by the verdict and the findings."""
    return {
        **sections,
        "verdict": verdict.verdict(findings),
        "findings": [finding.to_json() for finding in findings],
    }


def _trim_c_heap() -> None:
    """Give the free memory of Arrow's pool and of the C heap back to the system (numpy and
    pandas allocate in the C heap: 260 MiB at 10M strace lines); `store.give_back_free_memory`."""
    store.give_back_free_memory()


class _ImportsBeside(ImportsBeside):
    """`ImportsBeside`, asked for `AFTER_PARSE` and each source's report modules."""

    def __init__(self, threaded: bool) -> None:
        super().__init__(AFTER_PARSE, threaded)
        self._sources: set[str] = set()

    def ask_for_source(self, name: str) -> None:
        if name not in self._sources:
            self._sources.add(name)
            self.ask(SOURCES[name].report_modules)


def analyze(
    paths: str | Path | Sequence[str | Path],
    config: Config | None = None,
    on_progress: Callable[[int], None] | None = None,
    directory: store.WorkDir | None = None,
) -> AnalysisResult:
    """Run every stage on the given inputs (one path, a list of paths, ``-``) and return the
    result.

    `directory` is the run's work directory when the caller keeps it beyond the run: to
    render the tables under a `store.PageWatch` of it (a long trace's calls are a file
    mapped there). What the run wrote there is removed as in a run of its own (the mapped
    files stay readable); by default the run makes its own."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    config = config or Config()
    # Of several inputs of one run, one that cannot be read is reported, not fatal.
    unreadable: list[tuple[str, str]] | None = [] if len(paths) > 1 else None
    # A long strace trace spills its derived tables to the work directory while it is read.
    opened = (
        store.work_dir(config.work_dir, config.keep_work_dir)
        if directory is None
        else store.current(directory)
    )
    # What the stages after the parse need is imported on a thread of its own while the parse
    # runs (most of it in Arrow code, which releases the GIL), not before it starts.
    beside = _ImportsBeside(config.threads > 1)
    with opened as directory, beside:
        inputs = parse_inputs(paths, config, on_progress, unreadable, beside.ask_for_source)
        skipped = unreadable or []
        derived = derive(inputs, config)
        beside.join()
    directory.close()
    # From here on the derived tables stand for the lines; the report reads a few columns of
    # them, so the others (most of an input's memory) are freed before the passes run.
    inputs = [replace(item, parsed=SOURCES[item.format].slim(item.parsed)) for item in inputs]
    # Give what the lines and the derivation held back to the system, so that the passes and
    # the report, which allocate while both run, do not add their peak on top of it.
    store.give_back_free_memory()
    tables = run_tables(inputs, derived)
    seen = pass_inputs(tables, derived, skipped)
    # A long trace's calls are a mapped file (`store.map_table`): what each pass touched of
    # it is given back after the pass, so the passes' reads do not add up.
    release = directory.release_pages
    # Side by side whatever the trace's length (above 12M calls they ran one after the other
    # until the merge of a spilled trace stopped growing with it, store.ParquetSink.
    # write_sorted): 30M lines peak at 861 MiB (1,080 before, in the merge), 100M lines at
    # 1,758 MiB (1,845 before), set by a section's query retried within engine.RETRY_LIMIT
    # beside the passes.
    from analyzer.passes import run_passes

    if config.threads < 2:
        with store.PageWatch(directory):
            findings = run_passes(seen, config.passes, release)
            sections = report_sections(inputs, derived, skipped)
        return AnalysisResult(with_findings(sections, findings), tables)
    # The report's sections do not depend on the findings, and both sides spend most of their
    # time in Arrow, numpy, pandas and DuckDB code that releases the GIL: build them side by
    # side. The sections' own modules are imported here first, not by two threads at once.
    for name in {item.format for item in inputs}:
        for module in SOURCES[name].report_modules:
            importlib.import_module(module)
    # On two workers: the sections on one, the passes side by side on the other and, once
    # the sections are done, on both (`passes.run_passes`: same findings, same order). The
    # page watch gives back the pages of a long trace's mapped calls that both read.
    with store.PageWatch(directory), ThreadPoolExecutor(max_workers=2) as pool:
        pending_sections = pool.submit(report_sections, inputs, derived, skipped)
        findings = run_passes(seen, config.passes, release, pool=pool)
        report = with_findings(pending_sections.result(), findings)
    release()
    return AnalysisResult(report=report, tables=tables)
