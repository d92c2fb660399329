"""The `iodiag-analyze` command: options in, `analyze()` and a renderer, exit code out.

This module only wires stages together; it never looks inside a table.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Annotated, Any

import typer

from analyzer import store
from analyzer.clean import clean_text
from analyzer.cli import version_line
from analyzer.config import CollapseOptions, PassConfig
from analyzer.errors import IodiagError, UsageError
from analyzer.model import AnalysisResult
from analyzer.outputs import atomic_directory, atomic_text, refuse_inputs, stdout_to_devnull
from analyzer.pipeline import Config, analyze
from analyzer.render import (
    RENDERERS,
    ParquetRenderer,
    Renderer,
    RenderError,
    renderer_for,
    renderer_for_path,
)
from analyzer.sources import SOURCES
from analyzer.verdict import FAIL_ON, failing_findings

PROGRESS_MIN_BYTES = 4 << 20
_FOLD = "Folded stacks (stackcollapse-perf.pl options)"
_COMPRESSION_SUFFIXES = {".gz", ".xz", ".bz2", ".zst", ".zstd"}
_REPORTS = (("html", ".iodiag.html"), ("md", ".iodiag.md"))
"""The default run's reports: format and file suffix, written in this order."""
EXIT_CODES = (
    "Exit codes: 0 done; 1 --fail-on met (the findings that met it are listed on stderr); "
    "2 an input that cannot be read or is no recognised trace, bad usage, or an output that "
    "cannot be written (a one-line reason on stderr)."
)
EXAMPLES = """\b
Examples:
  iodiag-analyze strace.log   # summary; writes strace.iodiag.html and .md
  iodiag-analyze strace.log app.log perf.txt   # one run seen three ways
  iodiag-analyze strace.log.gz -f json -o report.json
  iodiag-analyze strace.log -f perfetto -o trace.json   # for ui.perfetto.dev
  iodiag-analyze perf.txt -f flamegraph -o cpu.svg
  iodiag-analyze traces/*.log -q --fail-on error       # in CI
Capture with: strace -f -tt -T -yy -o strace.log -p PID"""

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,  # plain help: no panels padded with trailing spaces
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


def report_stem(path: str) -> str:
    """`/x/trace.log.gz` -> `trace`; stdin -> `stdin`."""
    if path == "-":
        return "stdin"
    name = Path(path)
    if name.suffix.lower() in _COMPRESSION_SUFFIXES:
        name = Path(name.stem)
    return Path(name.name).stem or name.name


def _progress(paths: list[str]) -> Any:
    """A byte-counting progress bar on stderr, for big inputs on a terminal only."""
    sizes = [Path(p).stat().st_size for p in paths if p != "-" and Path(p).is_file()]
    if not sys.stderr.isatty() or os.environ.get("CI") or sum(sizes) < PROGRESS_MIN_BYTES:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _progress_total(paths: list[str]) -> int | None:
    """The bytes the progress counts (the decompressed text) when they are known: the sum of
    the inputs' sizes, unless one is stdin or compressed."""
    if any(p == "-" or Path(p).suffix.lower() in _COMPRESSION_SUFFIXES for p in paths):
        return None
    files = [Path(p) for p in paths]
    return sum(path.stat().st_size for path in files) if all(p.is_file() for p in files) else None


@app.command(epilog=f"{EXAMPLES}\n\n{EXIT_CODES}")
def analyze_command(
    inputs: Annotated[
        list[str], typer.Argument(help="Trace files, or - for stdin (gz/xz/bz2/zst ok).")
    ],
    output_format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"Write one output: {', '.join(RENDERERS)}."),
    ] = None,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="File for --format (a folder for parquet).")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Where the default HTML and Markdown reports go.")
    ] = Path("."),
    engine: Annotated[
        str, typer.Option(help="Line parser: fast (scanner + grammar) or lark (grammar only).")
    ] = "fast",
    threads: Annotated[int, typer.Option(help="Parser threads.")] = 2,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input-format", help=f"Skip detection: read inputs as {', '.join(SOURCES)}."
        ),
    ] = None,
    pid: Annotated[
        bool, typer.Option("--pid", help="folded: root frame comm-PID.", rich_help_panel=_FOLD)
    ] = False,
    tid: Annotated[
        bool, typer.Option("--tid", help="folded: root frame comm-PID/TID.", rich_help_panel=_FOLD)
    ] = False,
    kernel: Annotated[
        bool,
        typer.Option("--kernel", help="folded: mark kernel frames _[k].", rich_help_panel=_FOLD),
    ] = False,
    jit: Annotated[
        bool, typer.Option("--jit", help="folded: mark JIT frames _[j].", rich_help_panel=_FOLD)
    ] = False,
    all_marks: Annotated[
        bool, typer.Option("--all", help="folded: --kernel and --jit.", rich_help_panel=_FOLD)
    ] = False,
    addrs: Annotated[
        bool,
        typer.Option(
            "--addrs", help="folded: addresses for unknown frames.", rich_help_panel=_FOLD
        ),
    ] = False,
    event_filter: Annotated[
        str | None,
        typer.Option(
            "--event-filter",
            help="folded: only this event (default: the first).",
            rich_help_panel=_FOLD,
        ),
    ] = None,
    slow_ms: Annotated[
        float,
        typer.Option("--slow-ms", help="A call this long (ms) is a slow syscall outlier."),
    ] = PassConfig.slow_syscall_s * 1e3,
    loop_block_ms: Annotated[
        float,
        typer.Option(
            "--loop-block-ms", help="An event loop away from its wait this long (ms) is blocked."
        ),
    ] = PassConfig.blocked_loop_s * 1e3,
    clock_offset: Annotated[
        float | None,
        typer.Option(
            "--clock-offset",
            help="Seconds to add to asyncio log times to reach the strace clock (default: infer).",
        ),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding of this severity or worse exists: error, warning, "
            "info or never.",
        ),
    ] = "never",
    work_dir: Annotated[
        str | None,
        typer.Option(
            "--work-dir",
            help="Where a long strace trace's derived tables are spilled as Parquet "
            "(default: a temporary folder).",
        ),
    ] = None,
    keep_work_dir: Annotated[
        bool, typer.Option("--keep-work-dir", help="Keep the work directory's Parquet files.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No summary and no 'wrote' lines; errors still on stderr."
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Analyze strace logs, perf script dumps and asyncio debug logs.

    By default it prints a summary here and writes two files into the current directory (or
    --out-dir), named after the first input: INPUT.iodiag.html and INPUT.iodiag.md; it says
    where on stderr. With --format it writes that one output instead, to stdout or -o FILE.
    """
    try:
        _check_options(input_format, fail_on, slow_ms, loop_block_ms, clock_offset, threads)
    except UsageError as error:
        typer.echo(f"iodiag-analyze: {error}", err=True)
        raise typer.Exit(2) from None
    folding = CollapseOptions(pid, tid, kernel, jit, all_marks, addrs, event_filter)
    thresholds = PassConfig(
        slow_syscall_s=slow_ms / 1e3,
        blocked_loop_s=loop_block_ms / 1e3,
        clock_offset_s=clock_offset,
    )
    config = Config(
        engine=engine,
        threads=threads,
        format=input_format,
        collapse=folding,
        passes=thresholds,
        work_dir=work_dir,
        keep_work_dir=keep_work_dir,
    )
    try:
        code = _run(inputs, output_format, output, out_dir, config, fail_on, quiet)
    except (IodiagError, RenderError) as error:
        typer.echo(f"iodiag-analyze: {error}", err=True)
        raise typer.Exit(getattr(error, "exit_code", 2)) from None
    raise typer.Exit(code)


def _check_options(
    input_format: str | None,
    fail_on: str,
    slow_ms: float,
    loop_block_ms: float,
    clock_offset: float | None,
    threads: int,
) -> None:
    """Raise `UsageError` for an option value the run cannot use (Click has checked the
    types; NaN, infinities and negative thresholds are floats too)."""
    if input_format is not None and input_format not in SOURCES:
        raise UsageError(f"--input-format must be one of {', '.join(SOURCES)}")
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}")
    for option, value in (("--slow-ms", slow_ms), ("--loop-block-ms", loop_block_ms)):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"{option} must be a number of milliseconds >= 0, not {value}")
    if clock_offset is not None and not math.isfinite(clock_offset):
        raise UsageError(f"--clock-offset must be a finite number of seconds, not {clock_offset}")
    if threads < 1:
        raise UsageError(f"--threads must be 1 or more, not {threads}")


def _run(
    inputs: list[str],
    output_format: str | None,
    output: str | None,
    out_dir: Path,
    config: Config,
    fail_on: str = "never",
    quiet: bool = False,
) -> int:
    if config.engine not in ("fast", "lark"):
        raise UsageError(f"--engine must be fast or lark, not {config.engine!r}")
    renderer = None
    if output_format is not None:
        renderer = renderer_for(output_format)
    elif output is not None:
        renderer = renderer_for_path(output)
        if renderer is None:
            raise UsageError(f"cannot tell the format of {output!r}: add --format")
    if isinstance(renderer, ParquetRenderer) and output is None:
        raise UsageError("--format parquet needs -o FOLDER")
    if fail_on != "never" and renderer is not None and hasattr(renderer, "threshold"):
        renderer.threshold = fail_on  # junit and github fail or annotate at --fail-on
    if "-" in inputs and sys.stdin is None:
        raise UsageError("stdin is closed: there is no input to read from -")
    if output is None and sys.stdout is None and not (quiet and renderer is None):
        raise UsageError("stdout is closed: give -o FILE for the output")
    stem = report_stem(inputs[0])
    if output is not None:
        refuse_inputs([output], inputs)
    elif renderer is None:
        refuse_inputs([out_dir / f"{stem}{suffix}" for _name, suffix in _REPORTS], inputs)

    # The work directory outlives the run: a long trace's calls are a file mapped there, and
    # the renderers that read them (parquet, html, ...) do so under its page watch, so the
    # pages they touch are given back as the passes' are (not the whole table at once).
    with store.work_dir(config.work_dir, config.keep_work_dir) as directory:
        with _progress([] if quiet else inputs) as progress:
            on_progress = None
            if progress is not None:
                task = progress.add_task("reading", total=_progress_total(inputs))
                ended = 0

                def on_progress(count: int) -> None:
                    nonlocal ended
                    progress.advance(task, count)
                    # Every input's reader reports 0 bytes at its end: once all have, the run is
                    # in the stages after reading (strace traces are derived while read).
                    ended += count == 0
                    if ended == len(inputs):
                        progress.update(task, description="diagnosing")

            result = analyze(inputs, config, on_progress, directory)

        with store.PageWatch(directory):
            try:
                _write(result, renderer, output, out_dir, stem, inputs, quiet)
            except BrokenPipeError:
                stdout_to_devnull()  # the reader of stdout stopped early: not an error of ours
            except OSError as error:
                where = f"{error.filename}: " if error.filename else ""
                raise IodiagError(f"cannot write {where}{error.strerror or error}") from error
    if renderer is not None and renderer.name == "github":
        from analyzer.render.ci import runs_of_result
        from analyzer.render.github import append_job_summary, job_summary

        append_job_summary(job_summary(runs_of_result(result)))
    if renderer is not None and renderer.name == "folded" and "perf_folded" in result.tables:
        from analyzer.derive.perf import folded_notes

        for note in folded_notes(result.tables["perf_folded"]):
            typer.echo(f"iodiag-analyze: {note}", err=True)
    left_out = [item for item in result.report["inputs"] if item.get("error")]
    for item in left_out:
        typer.echo(f"iodiag-analyze: {item['path']}: {item['error']} (left out)", err=True)
    failing = failing_findings(result.report, fail_on)
    if failing:
        _tell_failing(failing, fail_on)
    if left_out:
        return 2  # the reports cover the other inputs; an input was not what it should be
    return 1 if failing else 0


def _tell_failing(findings: list[dict[str, Any]], fail_on: str) -> None:
    """List on stderr the findings that met ``--fail-on``: code, severity and title (after
    the name of its run, for a finding of a batch that carries one under ``run``)."""
    count = len(findings)
    typer.echo(
        f"iodiag-analyze: --fail-on {fail_on}: {count} finding{'s' if count != 1 else ''} "
        f"at or above {fail_on}:",
        err=True,
    )
    for finding in findings:
        title = clean_text(str(finding.get("title") or "")).replace("\n", " ")
        run = f"{clean_text(str(finding['run']))}: " if finding.get("run") else ""
        typer.echo(f"  {run}{finding.get('code')} {finding.get('severity')}: {title}", err=True)


def _say(message: str) -> None:
    """Print a status line (``wrote ...``) on stderr, so stdout carries only the report."""
    with suppress(BrokenPipeError, ValueError):  # nobody reads stderr: the files are written
        typer.echo(message, err=True)


def _refuse_inputs_in(folder: Path, names: list[str], inputs: list[str]) -> None:
    """Raise `UsageError` when an input is one of the files or lies in one of the folders
    named `names` in `folder`, which the output replaces."""
    refuse_inputs([folder / name for name in names], inputs)
    places = [os.path.realpath(folder / name) + os.sep for name in names]
    for source in inputs:
        if source != "-" and os.path.realpath(source).startswith(tuple(places)):
            raise UsageError(f"will not overwrite the input {source} with an output")


def _write(
    result: AnalysisResult,
    renderer: Renderer | None,
    output: str | None,
    out_dir: Path,
    stem: str,
    inputs: list[str],
    quiet: bool = False,
) -> None:
    say = (lambda _message: None) if quiet else _say
    if renderer is None:
        try:
            if not quiet:
                renderer_for("text").render(result, sys.stdout)
                sys.stdout.flush()
        except BrokenPipeError:
            stdout_to_devnull()  # `| head` took what it wanted; the reports still matter
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, suffix in _REPORTS:
            path = out_dir / f"{stem}{suffix}"
            with atomic_text(path) as handle:
                renderer_for(name).render(result, handle)
            written.append(path)
        for path in written:  # after both: a reader gone early cannot stop the second
            say(f"wrote {path}")
        return
    if isinstance(renderer, ParquetRenderer):
        if output is None:
            raise UsageError("--format parquet needs -o FOLDER")
        folder = Path(output)
        _refuse_inputs_in(folder, [*result.tables, renderer.manifest], inputs)
        with atomic_directory(folder) as temporary:
            names = [path.name for path in renderer.write(result, temporary)]
        for name in names:
            say(f"wrote {folder / name}")
        return
    if output is None:
        renderer.render(result, sys.stdout)
    else:
        with atomic_text(output) as handle:
            renderer.render(result, handle)
