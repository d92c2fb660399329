"""``iodiag-analyze diff BASE CANDIDATE``: the regression gate between two runs' JSON
reports or two batch output folders (`analyzer.batch.diff`). Wiring only."""

from __future__ import annotations

import math
import sys
from typing import Annotated

import typer

from analyzer.batch import storage
from analyzer.batch.diff import NoiseRule, diff_paths, exit_code, render
from analyzer.errors import IodiagError
from analyzer.outputs import stdout_to_devnull

EXIT_CODES = (
    "Exit codes: 0 no regression met --fail-on-regression (or it was not given); 1 one did "
    "(listed on stderr); 2 an input is no iodiag report or batch, a run could not be "
    "compared, or the options are wrong."
)
FORMATS = ("text", "md", "json")

app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)


@app.command(epilog=EXIT_CODES)
def diff_command(
    base: Annotated[str, typer.Argument(help="The base: a report .json or a batch folder.")],
    candidate: Annotated[str, typer.Argument(help="The candidate, of the same kind.")],
    fail_on_regression: Annotated[
        float | None,
        typer.Option(
            "--fail-on-regression",
            metavar="PCT",
            help="Exit 1 when a latency grew by PCT % or more beyond noise, or a finding "
            "is new (warning/error) or worse.",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="text, md or json.")
    ] = "text",
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write it to this file.")] = (
        None
    ),
    min_pct: Annotated[
        float, typer.Option("--min-pct", help="Noise rule: smallest relative change, %.")
    ] = NoiseRule.min_pct,
    min_ms: Annotated[
        float, typer.Option("--min-ms", help="Noise rule: smallest p50/p95 change, ms (x10 total).")
    ] = NoiseRule.min_ms,
    min_calls: Annotated[
        int, typer.Option("--min-calls", help="Noise rule: calls needed on both sides for p95.")
    ] = NoiseRule.min_calls,
    report_url: Annotated[
        str | None, typer.Option("--report-url", help="Link for truncated Markdown.")
    ] = None,
) -> None:
    """Compare two runs (JSON reports) or two batches: latency per (syscall, resource) and
    findings new, gone and worse."""
    try:
        if output_format not in FORMATS:
            raise IodiagError(f"--format must be one of {', '.join(FORMATS)}")
        for name, value in (("--min-pct", min_pct), ("--min-ms", min_ms)):
            if not (math.isfinite(value) and value >= 0):
                raise IodiagError(f"{name} must be a number >= 0, not {value}")
        if fail_on_regression is not None and not (
            math.isfinite(fail_on_regression) and fail_on_regression >= 0
        ):
            raise IodiagError("--fail-on-regression must be a percentage >= 0")
        if min_calls < 1:
            raise IodiagError(f"--min-calls must be 1 or more, not {min_calls}")
        rule = NoiseRule(min_pct=min_pct, min_ms=min_ms, min_calls=min_calls)
        document = diff_paths(base, candidate, rule, fail_on_regression)
        text = render(document, output_format, report_url)
        if output is None:
            try:
                sys.stdout.write(text)
                sys.stdout.flush()
            except BrokenPipeError:
                stdout_to_devnull()
        else:
            storage.write_text(output, text)
    except IodiagError as error:
        typer.echo(f"iodiag-analyze: {error}", err=True)
        raise typer.Exit(2) from None
    code = exit_code(document)
    for name in document["unreadable_runs"]:
        typer.echo(f"iodiag-analyze: {name}: could not be compared", err=True)
    if document["regressions"]:
        typer.echo(
            f"iodiag-analyze: --fail-on-regression {fail_on_regression:g}: "
            f"{len(document['regressions'])} regressions:",
            err=True,
        )
        for line in document["regressions"]:
            typer.echo(f"  {line}", err=True)
    raise typer.Exit(code)


def main(argv: list[str]) -> None:
    """Run the command on `argv` (the arguments after ``diff``)."""
    app(args=argv, prog_name="iodiag-analyze diff")
