"""A strace-only run imports none of the parsers, derivations, joins or sections of the
thread-snapshot, py-spy and metrics sources (their source modules are small registry
entries; everything else is imported when the run has such an input)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import modules_after_cli

ROOT = Path(__file__).resolve().parent.parent
NEW = ("top", "ps_threads", "pidstat", "pyspy", "iostat", "cloudwatch")


@pytest.mark.slow
def test_a_strace_run_imports_none_of_the_new_parsers() -> None:
    code = (
        "import sys, analyzer\n"
        "analyzer.analyze(sys.argv[1])\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    trace = ROOT / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"
    out = subprocess.run(
        [sys.executable, "-c", code, str(trace)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    loaded = set(out)
    heavy = {
        module
        for module in loaded
        if module.startswith(("analyzer.formats.", "analyzer.derive.", "analyzer.sections."))
        and module.rsplit(".", 1)[1].startswith((*NEW, "snapshot_", "evidence_", "timeline"))
    }
    assert heavy == set()
    # the registry entries themselves are loaded: the pipeline asks every source
    assert {f"analyzer.sources.{name}" for name in NEW} <= loaded


def _cli_modules(tmp_path: Path, *inputs: Path) -> set[str]:
    """The modules loaded by the end of ``iodiag-analyze INPUT... --format json`` in a fresh
    interpreter."""
    out = tmp_path / "report.json"
    loaded = modules_after_cli(*map(str, inputs), "--format", "json", "-o", str(out))
    assert out.stat().st_size > 0
    return loaded


@pytest.mark.slow
def test_a_strace_run_imports_neither_the_perf_nor_the_asyncio_parser(tmp_path: Path) -> None:
    trace = tmp_path / "head.log"
    with (ROOT / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log").open() as source:
        trace.write_text("".join(next(source) for _ in range(100)))
    loaded = _cli_modules(tmp_path, trace)
    assert "analyzer.derive.strace" in loaded  # the run did happen
    parsers = {m for m in loaded if m.startswith(("analyzer.formats.perf", "analyzer.formats.as"))}
    assert parsers == set()


@pytest.mark.slow
@pytest.mark.parametrize(
    "log",
    [
        "fixtures/asyncio/research/out/long_ts.txt",
        "fixtures/perf/flamegraph-test/perf-dd-stacks-01.txt",
    ],
)
def test_a_run_without_strace_input_does_not_start_the_engine(tmp_path: Path, log: str) -> None:
    loaded = _cli_modules(tmp_path, ROOT / log)
    assert "analyzer.sections.strace" in loaded  # its keys are in the report
    assert "duckdb" not in loaded


def test_the_strace_keys_without_strace_input_are_those_of_empty_tables() -> None:
    from analyzer.config import Config
    from analyzer.sections.strace import section, without_strace
    from analyzer.sources import SOURCES

    derived = SOURCES["strace"].derive([], Config())
    assert derived.tables["syscalls"].num_rows == 0
    assert without_strace() == section([], derived)
    assert SOURCES["strace"].section([], derived) == without_strace()


@pytest.mark.slow
@pytest.mark.parametrize(
    "capture",
    [
        "head",  # the first 100 lines of pool8.f_tt_T.log: calls only
        "fixtures/strace/logs/small_sh.f_tt_T.log",  # exited with, SIGCHLD
        "fixtures/strace/research/logs/variants/killed.log",  # killed by, core dumped, SIGSEGV
    ],
)
def test_a_strace_run_the_fast_tiers_read_whole_imports_no_grammar(
    tmp_path: Path, capture: str
) -> None:
    """The grammar parser (and Lark) is imported for the lines the fast tiers leave: the
    scanner (`strace_scan`) reads the calls, the event tier (`strace_events`) the exit, signal
    and `strace:` lines; these captures have no other lines."""
    trace = ROOT / capture
    if capture == "head":
        trace = tmp_path / "head.log"
        with (ROOT / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log").open() as source:
            trace.write_text("".join(next(source) for _ in range(100)))
    else:
        assert {"exit", "signal"} <= _line_kinds(trace)  # the lines the grammar once read
    loaded = _cli_modules(tmp_path, trace)
    assert "analyzer.derive.strace" in loaded  # the run did happen
    assert {"analyzer.formats.strace_lark", "lark"} & loaded == set()


def _line_kinds(trace: Path) -> set[str]:
    from analyzer.formats.strace_events import parse_event_line

    records = (parse_event_line(line) for line in trace.read_text().splitlines())
    return {record.kind for record in records if record is not None}


@pytest.mark.slow
def test_a_strace_run_with_lines_for_the_grammar_imports_it(tmp_path: Path) -> None:
    """The other side of the test above: a line only the grammar reads (a call with a string
    argument cut by a newline inside it is mended through it) still imports it."""
    trace = tmp_path / "odd.log"  # hand-written: one plain call, one the scanner leaves
    trace.write_text(
        '100 10:00:00.000001 read(3, "ab", 2) = 2 <0.000010>\n'
        "100 10:00:00.000020 +++ exited with 0 +++\n"
        "101 10:00:00.000030 futex(0x7f, FUTEX_WAIT_PRIVATE, 2, NULL <unfinished ...>\n"
        "101 10:00:00.000040 <... futex resumed> /* weird */ ) = 0 <0.000010>\n"
    )
    loaded = _cli_modules(tmp_path, trace)
    assert "analyzer.formats.strace_lark" in loaded


@pytest.mark.slow
def test_the_command_imports_neither_the_passes_nor_duckdb_before_the_parse() -> None:
    """What the stages after the parse need is imported beside it (`pipeline.AFTER_PARSE`):
    importing the command and the pipeline must not import it first."""
    code = (
        "import sys, analyzer.cli.analyze, analyzer.pipeline\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    early = {m for m in out if m.startswith(("analyzer.passes", "analyzer.sections.", "lark"))}
    assert early == set()
    assert "duckdb" not in out
