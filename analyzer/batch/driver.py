"""A batch from start to end: find the runs, analyze them, write the index and CI outputs.

`run_batch` is ``iodiag-analyze batch`` without the command line: it returns a `BatchResult`
(the runs' summaries, the index document, the exit code) and prints nothing. What it writes
in the output folder (a local path or an fsspec URL):

- ``<run>/report.json``, ``report.html``, ``report.md``: every run's own reports;
- ``index.json`` (``iodiag.batch/1``), ``index.md`` (under 65,536 characters), ``index.html``;
- ``junit.xml``: a test suite per run, a test case per rule;
- ``iodiag.sarif``: SARIF 2.1.0, when some finding has a code location;
- ``findings/part-0.parquet``: a row per finding of the batch, with its run.

Exit code: 2 when a run could not be read (or was read only in part, or failed), else 1 when
``--fail-on`` was met by some finding, else 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analyzer.batch import storage
from analyzer.batch.discover import Run, discover
from analyzer.batch.execute import default_jobs, run_tasks
from analyzer.batch.index import (
    findings_parquet,
    findings_table,
    index_document,
    index_html,
    index_json,
    index_markdown,
)
from analyzer.batch.worker import REPORTS, RunTask
from analyzer.config import Config
from analyzer.errors import UsageError
from analyzer.outputs import refuse_inputs
from analyzer.render.ci import RunFindings
from analyzer.render.github import job_summary, workflow_commands
from analyzer.render.junit import junit_xml
from analyzer.render.sarif import dumps as sarif_dumps
from analyzer.render.sarif import located, sarif_document
from analyzer.verdict import failing_findings

__all__ = ["BatchOptions", "BatchResult", "ci_runs", "exit_code_of", "run_batch"]


@dataclass(frozen=True)
class BatchOptions:
    """The options of ``iodiag-analyze batch``."""

    out_dir: str = "reports"
    config: Config = field(default_factory=Config)
    fail_on: str = "never"
    jobs: int = 0
    """Worker processes; 0: one per core; 1: in this process, one run after the other."""
    scheduler: str | None = None
    """A Dask scheduler address: the runs are analyzed on its cluster."""
    source_root: str | None = None
    """Code locations under this folder are given relative to it (SARIF, annotations)."""
    formats: tuple[str, ...] = ("json", "html", "md")
    """Every run's reports (``--reports``); diff reads ``json``."""
    report_url: str | None = None
    """Where the output folder is published (a CI artifact's URL): the truncated Markdown
    links there; the relative ``index.html`` otherwise."""


@dataclass
class BatchResult:
    runs: list[Run]
    summaries: list[dict[str, Any]]
    index: dict[str, Any]
    exit_code: int
    written: list[str]
    github: list[str] = field(default_factory=list)
    """The workflow commands of the batch (``--github`` prints them)."""
    summary_markdown: str = ""
    """The job summary (``--github`` appends it to ``$GITHUB_STEP_SUMMARY``)."""

    def failing(self, fail_on: str) -> list[dict[str, Any]]:
        """The findings that met `fail_on`, each with its run's name under ``run``."""
        return [
            {**finding, "run": summary["name"]}
            for summary in self.summaries
            for finding in failing_findings({"findings": summary["findings"]}, fail_on)
        ]


def exit_code_of(summaries: Sequence[dict[str, Any]], fail_on: str) -> int:
    """2 when a run is not fully read, else 1 when `fail_on` is met, else 0."""
    if any(summary["status"] != "ok" for summary in summaries):
        return 2
    failing = any(failing_findings({"findings": s["findings"]}, fail_on) for s in summaries)
    return 1 if failing else 0


def ci_runs(summaries: Sequence[dict[str, Any]]) -> list[RunFindings]:
    """The runs as the CI renderers read them."""
    return [
        RunFindings(
            name=summary["name"],
            findings=summary["findings"],
            error=summary["reason"] if summary["status"] in ("unreadable", "failed") else None,
            report=(summary.get("reports") or {}).get("html"),
            inputs=[str(item["path"]) for item in summary.get("inputs") or []],
        )
        for summary in summaries
    ]


def _refuse_overwriting_inputs(runs: Sequence[Run], out_dir: str) -> None:
    """`UsageError` when an output would replace an input. Compared by real path (one set
    lookup per output: a batch has thousands of each), then confirmed by
    `analyzer.outputs.refuse_inputs` (same inode)."""
    if storage.is_url(out_dir):
        return
    inputs = {
        os.path.realpath(path): path
        for run in runs
        for path in run.inputs
        if not storage.is_url(path)
    }
    outputs = [
        storage.join(out_dir, *run.name.split("/"), name) for run in runs for _f, name in REPORTS
    ]
    outputs += [
        storage.join(out_dir, name)
        for name in ("index.json", "index.md", "index.html", "junit.xml", "iodiag.sarif")
    ]
    for output in outputs:
        source = inputs.get(os.path.realpath(output))
        if source is not None:
            refuse_inputs([output], [source])


def run_batch(
    arguments: Sequence[str],
    options: BatchOptions,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Analyze the runs the arguments name and write every output (module docstring)."""
    if not arguments:
        raise UsageError("batch needs at least one folder, file or pattern")
    runs = discover(arguments)
    _refuse_overwriting_inputs(runs, options.out_dir)
    tasks = [RunTask(run, options.out_dir, options.config, options.formats) for run in runs]
    jobs = options.jobs or default_jobs()
    summaries = run_tasks(tasks, jobs, options.scheduler, on_done)
    return write_outputs(runs, summaries, options)


def write_outputs(
    runs: list[Run], summaries: list[dict[str, Any]], options: BatchOptions
) -> BatchResult:
    """Write the index, the CI outputs and the findings dataset of analyzed runs."""
    out = options.out_dir
    code = exit_code_of(summaries, options.fail_on)
    ci = ci_runs(summaries)
    has_locations = located(ci, options.source_root) > 0
    outputs = {
        "junit": "junit.xml",
        "sarif": "iodiag.sarif" if has_locations else None,
        "findings": "findings/part-0.parquet",
    }
    document = index_document(summaries, options.fail_on, outputs, code)
    link = storage.join(options.report_url, "index.html") if options.report_url else "index.html"
    texts = {
        "index.json": index_json(document),
        "index.md": index_markdown(document, link),
        "index.html": index_html(document),
        "junit.xml": junit_xml(ci, options.fail_on),
    }
    if has_locations:
        texts["iodiag.sarif"] = sarif_dumps(sarif_document(ci, options.source_root))
    written = []
    for name, text in texts.items():
        target = storage.join(out, name)
        storage.write_text(target, text)
        written.append(target)
    table = findings_table(summaries, options.source_root)
    storage.write_files(storage.join(out, "findings"), {"part-0.parquet": findings_parquet(table)})
    written.append(storage.join(out, "findings", "part-0.parquet"))
    return BatchResult(
        runs=runs,
        summaries=summaries,
        index=document,
        exit_code=code,
        written=written,
        github=workflow_commands(ci, options.fail_on, options.source_root),
        summary_markdown=job_summary(
            [
                RunFindings(r.name, r.findings, r.error, r.report and f"{_base(options)}{r.report}")
                for r in ci
            ],
            link,
        ),
    )


def _base(options: BatchOptions) -> str:
    return options.report_url.rstrip("/") + "/" if options.report_url else ""
