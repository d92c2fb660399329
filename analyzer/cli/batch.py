"""``iodiag-analyze batch DIR_OR_GLOB... --out-dir reports/``: many runs, each with its own
reports, and an index of them (`analyzer.batch`). Wiring only."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from analyzer.batch.driver import BatchOptions, run_batch
from analyzer.clean import clean_text
from analyzer.cli.analyze import _check_options, _tell_failing
from analyzer.errors import IodiagError
from analyzer.outputs import stdout_to_devnull
from analyzer.passes import PassConfig
from analyzer.pipeline import Config
from analyzer.sources import SOURCES

EXIT_CODES = (
    "Exit codes: 2 when a run could not be read (or only in part: an input named on the "
    "command line was unreadable), or its analysis failed, or the options are wrong; else "
    "1 when --fail-on was met (the findings that met it are listed on stderr with their "
    "run); else 0."
)
RUNS_HELP = (
    "Folders, files or patterns (local paths or fsspec URLs). A folder's sub-folders are one "
    "run each; files are grouped into runs by stem, the name before its first dot "
    "(svc.strace.log + svc.app.log = run svc)."
)

app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)


@app.command(epilog=EXIT_CODES)
def batch_command(
    arguments: Annotated[list[str], typer.Argument(help=RUNS_HELP, metavar="DIR_OR_GLOB...")],
    out_dir: Annotated[
        str,
        typer.Option(
            "--out-dir", "-o", help="Where the reports and the index go (a path or a URL)."
        ),
    ] = "reports",
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding of this severity or worse exists in any run: error, "
            "warning, info or never. Also the JUnit and GitHub threshold (warning for never).",
        ),
    ] = "never",
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Worker processes (0: one per core; 1: serial).")
    ] = 0,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Analyze on this Dask cluster (tcp://HOST:8786) instead."),
    ] = None,
    github: Annotated[
        bool,
        typer.Option(
            "--github",
            help="Print GitHub Actions annotations on stdout; append a job summary to "
            "$GITHUB_STEP_SUMMARY when it is set.",
        ),
    ] = False,
    source_root: Annotated[
        str | None,
        typer.Option(
            "--source-root",
            help="Code locations under this folder are given relative to it (SARIF, GitHub).",
        ),
    ] = None,
    report_url: Annotated[
        str | None,
        typer.Option("--report-url", help="Where --out-dir is published, for links."),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input-format", help=f"Skip detection: read inputs as {', '.join(SOURCES)}."
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="Line parser: fast or lark.")] = "fast",
    slow_ms: Annotated[
        float, typer.Option("--slow-ms", help="A call this long (ms) is a slow syscall outlier.")
    ] = PassConfig.slow_syscall_s * 1e3,
    loop_block_ms: Annotated[
        float,
        typer.Option(
            "--loop-block-ms", help="An event loop away from its wait this long (ms) is blocked."
        ),
    ] = PassConfig.blocked_loop_s * 1e3,
    clock_offset: Annotated[
        float | None,
        typer.Option("--clock-offset", help="Seconds to add to asyncio log times (default: infer)"),
    ] = None,
    reports: Annotated[
        str,
        typer.Option(
            "--reports",
            help="Every run's reports, comma-separated: json, html, md (diff reads json).",
        ),
    ] = "json,html,md",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per run.")] = False,
) -> None:
    """Analyze many runs: each folder, or each group of files sharing a stem, is one run."""
    try:
        _check_options(input_format, fail_on, slow_ms, loop_block_ms, clock_offset, 1)
        if jobs < 0:
            raise IodiagError(f"--jobs must be 0 or more, not {jobs}")
        formats = tuple(name.strip() for name in reports.split(",") if name.strip())
        if not formats or set(formats) - {"json", "html", "md"}:
            raise IodiagError(f"--reports takes json, html and md, not {reports!r}")
        if engine not in ("fast", "lark"):
            raise IodiagError(f"--engine must be fast or lark, not {engine!r}")
    except IodiagError as error:
        typer.echo(f"iodiag-analyze: {error}", err=True)
        raise typer.Exit(2) from None
    thresholds = PassConfig(
        slow_syscall_s=slow_ms / 1e3,
        blocked_loop_s=loop_block_ms / 1e3,
        clock_offset_s=clock_offset,
    )
    options = BatchOptions(
        out_dir=out_dir,
        config=Config(engine=engine, format=input_format, passes=thresholds),
        fail_on=fail_on,
        jobs=jobs,
        scheduler=scheduler,
        source_root=source_root,
        report_url=report_url,
        formats=formats,
    )

    def on_done(summary: dict[str, Any]) -> None:
        if summary["status"] != "ok":
            why = clean_text(str(summary["reason"])).replace("\n", " ")
            typer.echo(f"iodiag-analyze: {summary['name']}: {why} ({summary['status']})", err=True)
        elif not quiet:
            verdict = summary.get("verdict")
            said = f"{verdict['code']} {verdict['headline']}" if verdict else "no problem found"
            _say(f"{summary['name']}: {summary.get('worst') or 'ok'}: {clean_text(said)}")

    try:
        result = run_batch(arguments, options, on_done)
    except IodiagError as error:
        typer.echo(f"iodiag-analyze: {error}", err=True)
        raise typer.Exit(2) from None
    if github:
        for line in result.github:
            _say(line)
        from analyzer.render.github import append_job_summary

        append_job_summary(result.summary_markdown)
    totals = result.index["totals"]
    _say(
        f"{totals['runs']} runs ({totals['ok']} read, {totals['runs'] - totals['ok']} not); "
        f"wrote {', '.join(result.written)}"
    )
    failing = result.failing(fail_on)
    if failing:
        _tell_failing(failing, fail_on)
    raise typer.Exit(result.exit_code)


def _say(message: str) -> None:
    try:
        typer.echo(message)
    except BrokenPipeError:
        stdout_to_devnull()


def main(argv: list[str]) -> None:
    """Run the command on `argv` (the arguments after ``batch``)."""
    app(args=argv, prog_name="iodiag-analyze batch")


__all__ = ["app", "main"]
